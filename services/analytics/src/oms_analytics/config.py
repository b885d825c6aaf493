"""The analytics service's settings: the runtime's, read from the environment, and its own."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field, field_validator

from oms_analytics.domain.stuck import DEFAULT_STUCK_AFTER, FlowStatus, StuckPolicy
from oms_runtime import RuntimeSettings

__all__ = ["AnalyticsSettings"]


class AnalyticsSettings(RuntimeSettings):
    http_port: int = 8006
    # How long a window keeps taking late events after the latest event time read passed its
    # end (docs/analytics.md). OMS_ANALYTICS_GRACE_S.
    analytics_grace_s: int = Field(default=3600, ge=0, le=7 * 24 * 3600)
    # faust's table store: memory:// recovers from the changelog topics at start;
    # rocksdict:// keeps a local copy as well. Not rocksdb:// (RUNTIME.md).
    analytics_store: str = "memory://"
    # Replicas of faust's changelog topics: 1 on the single local broker, 3 on a cluster.
    analytics_replication_factor: int = Field(default=1, ge=1, le=7)
    # How often the worker writes the funds figures changed since its last write to
    # PostgreSQL (docs/analytics.md). OMS_ANALYTICS_HISTORY_INTERVAL_S.
    analytics_history_interval_s: float = Field(default=5.0, ge=0.1, le=3600)
    # JSON: status -> seconds an order may sit in it (event time) before StuckOrderDetected;
    # replaces the defaults (a status not listed is never stuck; {} watches none).
    # OMS_ANALYTICS_STUCK_AFTER_S.
    analytics_stuck_after_s: dict[FlowStatus, Annotated[int, Field(strict=True, ge=1)]] = Field(
        default_factory=lambda: dict(DEFAULT_STUCK_AFTER)
    )

    @field_validator("analytics_stuck_after_s")
    @classmethod
    def _stuck_statuses(cls, value: dict[FlowStatus, int]) -> dict[FlowStatus, int]:
        StuckPolicy({s: timedelta(seconds=t) for s, t in value.items()})
        return value

    def stuck_policy(self) -> StuckPolicy:
        return StuckPolicy.of_seconds(self.analytics_stuck_after_s)
