"""How every client of the topics reaches the brokers: the bootstrap list, TLS and SASL.

The workers (oms_runtime's settings), the analytics stream app and the ``oms`` command read the
same variables: ``KAFKA_BOOTSTRAP_SERVERS``, ``OMS_KAFKA_SECURITY_PROTOCOL``,
``OMS_KAFKA_SASL_MECHANISM``, ``_USERNAME``, ``_PASSWORD`` and ``OMS_KAFKA_SSL_CAFILE``,
``_CERTFILE``, ``_KEYFILE``. It lives beside the topic registry, the other thing every client
of the topics shares, and imports no Kafka client.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

__all__ = ["KafkaConnection", "SaslMechanism", "SecurityProtocol", "variable"]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaConnection(BaseModel):
    """The brokers and how to talk to them; field ``kafka_x`` is variable ``OMS_KAFKA_X``,
    except the bootstrap list, which keeps the name every Kafka tool understands."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

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

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> KafkaConnection:
        """From environment variables; an empty one counts as not set. A ValueError names
        each variable that is wrong and why, never its value (a password may be one)."""
        values: dict[str, str] = {}
        for name, field in KafkaConnection.model_fields.items():
            value = environ.get(variable(name))
            if value:
                # The bootstrap list validates by its alias, the others by field name.
                values[str(field.validation_alias or name)] = value
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = [
                f"{variable(str(error['loc'][0]))}: {error['msg']}"
                if error["loc"]
                else error["msg"].removeprefix("Value error, ")
                for error in exc.errors(include_url=False, include_input=False)
            ]
            raise ValueError("invalid Kafka settings: " + "; ".join(problems)) from None

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaConnection:
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


def variable(field: str) -> str:
    """The environment variable of a setting, by its field name (or the bootstrap list's
    alias, as a validation error names it)."""
    if field in ("kafka_bootstrap_servers", "KAFKA_BOOTSTRAP_SERVERS"):
        return "KAFKA_BOOTSTRAP_SERVERS"
    return f"OMS_{field.upper()}"
