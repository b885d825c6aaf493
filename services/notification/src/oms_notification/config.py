"""The notification service's settings: the runtime's, read from the environment, plus how
it reaches the SMTP server and the SMS provider, its message policy, and the webhook and
alert policy."""

from __future__ import annotations

from typing import Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from oms_notification.domain.messages import LOCALES, UnknownOutcomePolicy
from oms_runtime import RuntimeSettings, parse_caller_keys

__all__ = ["NotificationSettings"]

_TRACKING_PAGES = {
    "dhl": "https://www.dhl.de/de/privatkunden/dhl-sendungsverfolgung.html?piececode={tracking_number}",
    "dpd": "https://tracking.dpd.de/status/de_DE/parcel/{tracking_number}",
    "ups": "https://www.ups.com/track?tracknum={tracking_number}",
    "gls": "https://gls-group.com/track/{tracking_number}",
}


class _PickupStore(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    hours: str | None = Field(default=None, max_length=200)


_STORES: TypeAdapter[dict[str, _PickupStore]] = TypeAdapter(dict[str, _PickupStore])


class NotificationSettings(RuntimeSettings):
    http_port: int = 8005

    # The SMTP server every e-mail goes through.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=2525, ge=1, le=65535)
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = Field(default=30.0, gt=0, le=300)
    email_sender: str = "OMS Shop <orders@shop.example.com>"
    # Message-IDs are <notification id>@this: the same for a resent copy.
    message_id_domain: str = "oms.example.com"

    # An SMS provider's HTTP endpoint; without one, no text messages are queued.
    sms_provider_url: str | None = None
    sms_provider_token: SecretStr | None = None

    default_locale: str = "en"
    # Pickup stores as customers know them (JSON): {"store-berlin": {"name": "Berlin Mitte",
    # "hours": "Mon-Sat 10:00-20:00"}}; a store not listed is named by its id.
    pickup_stores: str = "{}"
    # Carrier -> tracking page, {tracking_number} replaced (JSON object).
    tracking_pages: str = orjson.dumps(_TRACKING_PAGES).decode()

    # Dispatch: the longest the dispatcher sleeps (a commit that queues messages wakes it, a
    # retry falling due too; this picks up what nothing announced, such as a lapsed claim),
    # how many at once, how failed sends are tried again.
    dispatch_interval_s: float = Field(default=30.0, gt=0, le=3600)
    dispatch_batch_max: int = Field(default=50, ge=1, le=1000)
    send_attempts: int = Field(default=5, ge=1, le=50)
    retry_first_s: float = Field(default=5.0, gt=0, le=3600)
    retry_max_s: float = Field(default=600.0, gt=0, le=86_400)
    # A message still 'sending' this long after its claim has an unknown outcome, settled by
    # unknown_outcome: give_up (record it, publish NotificationFailed) or resend (same
    # Message-ID). Must outlast a send: longer than smtp_timeout_s.
    sending_lease_s: float = Field(default=120.0, gt=0, le=86_400)
    unknown_outcome: UnknownOutcomePolicy = UnknownOutcomePolicy.GIVE_UP
    # How long a message waits for its order's acceptance before it fails.
    order_wait_s: float = Field(default=600.0, gt=0)

    # Recipients (e-mail, phone, names, addresses) are forgotten once an order has been
    # quiet this long; the purge runs every recipient_purge_interval_s.
    recipient_retention_days: float = Field(default=90.0, gt=0, le=3650)
    recipient_purge_interval_s: float = Field(default=3600.0, gt=0, le=86_400)

    # JSON: {"<sha256 hex of a key>": {"channel": "web-de"}
    #        | {"role": "operator", "actor_id": "ops-1"}}; digests only, never keys. A channel
    # sets its customers' preferences; only operators manage webhooks.
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
    # The longest the webhook dispatcher sleeps when nothing woke it (queued deliveries, a
    # send finished, a retry due): it then picks up what nothing announced (lapsed leases).
    webhook_poll_s: float = Field(default=30.0, gt=0, le=3600)

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

    @field_validator("default_locale")
    @classmethod
    def _locale_known(cls, value: str) -> str:
        if value not in LOCALES:
            raise ValueError(f"{value!r} is not one of the message locales {', '.join(LOCALES)}")
        return value

    @field_validator("pickup_stores")
    @classmethod
    def _stores_parse(cls, value: str) -> str:
        try:
            _STORES.validate_json(value)
        except ValidationError as exc:
            raise ValueError(
                'must be a JSON object of store id -> {"name": ..., "hours": ...}: '
                + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            ) from None
        return value

    @property
    def pickup_store_directory(self) -> dict[str, dict[str, str]]:
        return {
            k: v.model_dump(exclude_none=True)
            for k, v in _STORES.validate_json(self.pickup_stores).items()
        }

    @field_validator("tracking_pages")
    @classmethod
    def _pages_parse(cls, value: str) -> str:
        try:
            pages = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise ValueError("must be a JSON object of carrier -> URL") from None
        if not isinstance(pages, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.startswith("https://")
            for k, v in pages.items()
        ):
            raise ValueError("must map each carrier to an https:// URL")
        return value

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> NotificationSettings:
        if self.sending_lease_s <= self.smtp_timeout_s:
            raise ValueError(
                "OMS_SENDING_LEASE_S must be longer than OMS_SMTP_TIMEOUT_S: a send still under"
                " way would be taken for one whose outcome is unknown"
            )
        return self

    @property
    def tracking_urls(self) -> dict[str, str]:
        pages: dict[str, str] = orjson.loads(self.tracking_pages)
        return pages
