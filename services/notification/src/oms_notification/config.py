"""The notification service's settings: the runtime's, read from the environment, plus the
webhook and alert policy."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from oms_runtime import RuntimeSettings, parse_caller_keys

__all__ = ["NotificationSettings"]


class NotificationSettings(RuntimeSettings):
    http_port: int = 8005
    # JSON: {"<sha256 hex of a key>": {"role": "operator", "actor_id": "ops-1"}}; digests
    # only, never keys. Only operators manage webhooks.
    notification_api_keys: str = "{}"

    # Webhooks: attempts before a delivery is dead-lettered; the wait after attempt n is
    # min(max, first * 2**(n-1)) with jitter; each attempt's timeout.
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_backoff_first_s: float = Field(default=5.0, gt=0, le=3600)
    webhook_backoff_max_s: float = Field(default=3600.0, gt=0, le=7 * 24 * 3600)
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=120)
    # Deliveries in flight at once per subscription, and in all for one worker.
    webhook_per_subscription: int = Field(default=4, ge=1, le=100)
    webhook_concurrency: int = Field(default=64, ge=1, le=1000)
    # How often due deliveries are looked for when nothing finished meanwhile.
    webhook_poll_s: float = Field(default=0.5, gt=0, le=60)

    # Operations alerts: at most this many per kind (LowStock, OutOfStock) per window.
    alert_limit: int = Field(default=10, ge=0, le=10_000)
    alert_window_s: float = Field(default=300.0, gt=0, le=24 * 3600)

    @field_validator("notification_api_keys")
    @classmethod
    def _api_keys_parse(cls, value: str) -> str:
        parse_caller_keys(value)
        return value

    @model_validator(mode="after")
    def _backoff_ordered(self) -> NotificationSettings:
        if self.webhook_backoff_first_s > self.webhook_backoff_max_s:
            raise ValueError(
                "OMS_WEBHOOK_BACKOFF_FIRST_S must not exceed OMS_WEBHOOK_BACKOFF_MAX_S"
            )
        return self
