"""Service configuration, read from environment variables only."""

from __future__ import annotations

import ssl
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["RuntimeSettings"]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class RuntimeSettings(BaseSettings):
    """Everything a service needs to run; each field maps to one environment variable.

    Names are ``OMS_<FIELD>`` except the Kafka bootstrap list, which keeps the name
    every Kafka tool understands.
    """

    model_config = SettingsConfigDict(env_prefix="OMS_", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:19092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None

    # A dead worker's partitions move to the others after this long without heartbeats.
    kafka_session_timeout_s: float = Field(default=10.0, ge=6.0, le=300.0)
    # A fetch returns once this many bytes are there, or after the wait: larger batches cost
    # fewer transactions per event, at up to the wait's latency per hop.
    kafka_fetch_min_bytes: int = Field(default=1, ge=1, le=50_000_000)
    kafka_fetch_max_wait_ms: int = Field(default=500, ge=1, le=10_000)
    # The wait while batches are slow (fetch_wait.py): the longest a busy partition's next
    # records can sit in the broker behind a fetch of idle ones. At most the wait above.
    kafka_fetch_busy_wait_ms: int = Field(default=20, ge=1, le=10_000)

    # Required: each service has its own database; a shared default would mix their inboxes.
    database_url: SecretStr
    db_pool_max: int = Field(default=8, ge=2, le=100)

    topic_prefix: str = ""
    group_suffix: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=6066, ge=1, le=65535)

    batch_max: int = Field(default=500, ge=1, le=10_000)
    # Under load, consumed offsets are committed at most this often (0: after every poll);
    # a crash redelivers what came after the last commit, and the inbox drops it.
    offset_commit_interval_ms: int = Field(default=500, ge=0, le=60_000)
    handler_attempts: int = Field(default=3, ge=1, le=20)
    relay_batch_max: int = Field(default=1000, ge=1, le=50_000)
    shutdown_grace_s: float = Field(default=15.0, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _sasl_complete(self) -> RuntimeSettings:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_mechanism and self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                "OMS_KAFKA_SECURITY_PROTOCOL=SASL_* needs OMS_KAFKA_SASL_MECHANISM, "
                "OMS_KAFKA_SASL_USERNAME and OMS_KAFKA_SASL_PASSWORD"
            )
        if self.kafka_sasl_mechanism and not self.kafka_security_protocol.startswith("SASL_"):
            raise ValueError(
                "OMS_KAFKA_SASL_MECHANISM is set: OMS_KAFKA_SECURITY_PROTOCOL must be "
                "SASL_PLAINTEXT or SASL_SSL"
            )
        return self

    def topic(self, logical_name: str) -> str:
        """The physical topic name: the logical name behind the deployment's prefix."""
        return f"{self.topic_prefix}{logical_name}"

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.kafka_security_protocol not in ("SSL", "SASL_SSL"):
            return None
        context = ssl.create_default_context(cafile=self.kafka_ssl_cafile)
        if self.kafka_ssl_certfile:
            context.load_cert_chain(self.kafka_ssl_certfile, self.kafka_ssl_keyfile)
        return context

    def aiokafka_security(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka clients carrying the TLS and SASL settings."""
        options: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        context = self.ssl_context()
        if context is not None:
            options["ssl_context"] = context
        if self.kafka_sasl_mechanism:
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            assert self.kafka_sasl_password is not None
            options["sasl_plain_password"] = self.kafka_sasl_password.get_secret_value()
        return options
