"""Service configuration, read from environment variables only."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from oms_events.connection import KafkaConnection

__all__ = ["RuntimeSettings"]


class RuntimeSettings(BaseSettings, KafkaConnection):
    """Everything a service needs to run; each field maps to one environment variable.

    Names are ``OMS_<FIELD>`` except the Kafka bootstrap list, which keeps the name
    every Kafka tool understands. The brokers, TLS and SASL are ``KafkaConnection``'s fields
    (oms_events.connection), which the ``oms`` command reads too.
    """

    # hide_input_in_errors: a validation error never quotes a value (URLs and passwords).
    model_config = SettingsConfigDict(
        env_prefix="OMS_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    # A dead worker's partitions move to the others after this long without heartbeats.
    kafka_session_timeout_s: float = Field(default=10.0, ge=6.0, le=300.0)
    # A fetch returns once this many bytes are there, or after the wait: larger batches cost
    # fewer transactions per event, at up to the wait's latency per hop.
    kafka_fetch_min_bytes: int = Field(default=1, ge=1, le=50_000_000)
    kafka_fetch_max_wait_ms: int = Field(default=500, ge=1, le=10_000)
    # The wait while batches are slow (fetch_wait.py): the longest a busy partition's next
    # records can sit in the broker behind a fetch of idle ones. At most the wait above.
    kafka_fetch_busy_wait_ms: int = Field(default=50, ge=1, le=10_000)

    # Required: each service has its own database; a shared default would mix their inboxes.
    database_url: SecretStr
    db_pool_max: int = Field(default=8, ge=2, le=100)

    topic_prefix: str = ""
    group_suffix: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=6066, ge=1, le=65535)

    batch_max: int = Field(default=500, ge=1, le=10_000)
    # A rebuild's batches: no one waits on them, and each costs the same few round trips
    # whatever its size, so larger ones rebuild faster (make bench-replay).
    rebuild_batch_max: int = Field(default=5000, ge=1, le=50_000)
    # Under load, consumed offsets are committed at most this often (0: after every poll);
    # a crash redelivers what came after the last commit, and the inbox drops it.
    offset_commit_interval_ms: int = Field(default=500, ge=0, le=60_000)
    handler_attempts: int = Field(default=3, ge=1, le=20)
    relay_batch_max: int = Field(default=1000, ge=1, le=50_000)
    shutdown_grace_s: float = Field(default=15.0, gt=0)
    # Allocations between two collections of the garbage collector's youngest generation
    # (CPython's default: 700), for batches of many objects (_gc.py).
    gc_threshold: int = Field(default=50_000, ge=100, le=10_000_000)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    def topic(self, logical_name: str) -> str:
        """The physical topic name: the logical name behind the deployment's prefix."""
        return f"{self.topic_prefix}{logical_name}"
