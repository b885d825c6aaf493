"""The analytics service's settings: the runtime's, read from the environment, and its own."""

from __future__ import annotations

from pydantic import Field

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
