"""The analytics service's settings: the runtime's, read from the environment, and its own."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from oms_analytics.domain.expiry import Retention
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
    # Where faust keeps a worker's local files (a rocksdict:// store's copy), one directory
    # per app id under it; faust's own default is the working directory. OMS_ANALYTICS_DATA_DIR.
    analytics_data_dir: Path = Field(
        default_factory=lambda: Path(tempfile.gettempdir()) / "oms-analytics"
    )
    # Replicas of faust's changelog topics: 1 on the single local broker, 3 on a cluster.
    analytics_replication_factor: int = Field(default=1, ge=1, le=7)
    # How often the worker writes the funds figures changed since its last write to
    # PostgreSQL (docs/analytics.md). OMS_ANALYTICS_HISTORY_INTERVAL_S.
    analytics_history_interval_s: float = Field(default=5.0, ge=0.1, le=3600)
    # Events counted as one batch: its table writes go to the changelog together, each key
    # once, after the batch's journal records (docs/analytics.md, Guarantees). At most this
    # many, or what arrived within this many seconds. OMS_ANALYTICS_BATCH_MAX,
    # OMS_ANALYTICS_BATCH_S.
    analytics_batch_max: int = Field(default=500, ge=1, le=10_000)
    analytics_batch_s: float = Field(default=0.05, gt=0, le=5, allow_inf_nan=False)
    # JSON: status -> seconds an order may sit in it (event time) before StuckOrderDetected;
    # replaces the defaults (a status not listed is never stuck; {} watches none).
    # OMS_ANALYTICS_STUCK_AFTER_S.
    analytics_stuck_after_s: dict[FlowStatus, Annotated[int, Field(strict=True, ge=1)]] = Field(
        default_factory=lambda: dict(DEFAULT_STUCK_AFTER)
    )

    # How long the tables keep what they count past its end, in event time
    # (docs/analytics.md, Expiry): the hourly windows' and money's days, closed orders' facts
    # and ledgers, stock, final stays. OMS_ANALYTICS_RETENTION_DAYS.
    analytics_retention_days: float = Field(default=35.0, gt=0, le=3660, allow_inf_nan=False)
    # The same for the minute windows (the most numerous keys), in hours: no longer than the
    # days'. OMS_ANALYTICS_MINUTE_RETENTION_H.
    analytics_minute_retention_h: float = Field(default=48.0, gt=0, allow_inf_nan=False)
    # How often the worker deletes the expired keys. OMS_ANALYTICS_EXPIRY_INTERVAL_S.
    analytics_expiry_interval_s: float = Field(default=60.0, ge=0.1, le=86400)
    # A worker that counted nothing for this long while records wait to be read has stalled
    # and exits (status 75) to be started again (docs/analytics.md); longer than the offset
    # commits' interval (2.8 s), as a partition the agent finished nothing of since the start
    # waits while its end is past the committed offset. OMS_ANALYTICS_STALL_S.
    analytics_stall_s: float = Field(default=300.0, ge=5, le=86400, allow_inf_nan=False)

    @model_validator(mode="after")
    def _retention_ordered(self) -> AnalyticsSettings:
        # A window must outlive its grace period: an expired one could be written again by
        # a late event it still takes.
        grace_h = self.analytics_grace_s / 3600
        if self.analytics_minute_retention_h > self.analytics_retention_days * 24:
            raise ValueError(
                "OMS_ANALYTICS_MINUTE_RETENTION_H must not exceed OMS_ANALYTICS_RETENTION_DAYS"
                " (in hours): the minute windows are not kept longer than the hourly ones"
            )
        if self.analytics_minute_retention_h < grace_h:
            raise ValueError(
                "OMS_ANALYTICS_MINUTE_RETENTION_H must not be shorter than OMS_ANALYTICS_GRACE_S:"
                " a window is kept at least while it takes late events"
            )
        return self

    @field_validator("analytics_stuck_after_s")
    @classmethod
    def _stuck_statuses(cls, value: dict[FlowStatus, int]) -> dict[FlowStatus, int]:
        StuckPolicy({s: timedelta(seconds=t) for s, t in value.items()})
        return value

    def retention(self) -> Retention:
        return Retention(
            days=timedelta(days=self.analytics_retention_days),
            minutes=timedelta(hours=self.analytics_minute_retention_h),
        )

    def stuck_policy(self) -> StuckPolicy:
        return StuckPolicy.of_seconds(self.analytics_stuck_after_s)
