"""Where the operator command finds the broker, each service's database and HTTP endpoint.

Everything comes from the environment, with the names the services and the local stack use
(``source .stack/stack.env`` sets them for a local stack):

- ``KAFKA_BOOTSTRAP_SERVERS``, ``OMS_TOPIC_PREFIX``, ``OMS_GROUP_SUFFIX``: as the workers read
  them, so the command sees the topics and consumer groups (``oms-<service>`` plus the
  suffix) the workers use.
- ``OMS_<SERVICE>_DATABASE_URL``: the service's own database (its inbox, outbox and dead
  letters).
- ``OMS_<SERVICE>_URL``: the service's HTTP base URL (default ``http://127.0.0.1:<port>``
  with the service's default port).
- ``OMS_SERVICES``: a comma-separated list replacing the known services.
- ``OMS_KAFKA_SECURITY_PROTOCOL``, ``OMS_KAFKA_SASL_*``, ``OMS_KAFKA_SSL_*``: TLS and SASL, as
  the workers read them (``oms_events.connection``).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass

from oms_events.connection import KafkaConnection

__all__ = ["DEFAULT_PORTS", "STREAM_APPS", "OpsConfig", "ServiceEndpoints", "UsageError"]

# The services and their default HTTP ports (each service's config.py and docker-compose.yml).
DEFAULT_PORTS: dict[str, int] = {
    "order": 8001,
    "inventory": 8002,
    "orchestration": 8003,
    "shipping": 8004,
    "notification": 8005,
    "analytics": 8006,
}
# Stream-processing apps (faust-streaming): they keep none of the runtime's tables (inbox,
# outbox, dead letters), and faust names the consumer group after the app id, which carries
# the topic prefix as well as the group suffix.
STREAM_APPS = frozenset({"analytics"})
_FALLBACK_PORT = 6066  # the runtime's default


class UsageError(Exception):
    """A command cannot run as asked (an unknown service, a missing database URL)."""


@dataclass(frozen=True)
class ServiceEndpoints:
    name: str
    group: str
    url: str
    database_url: str | None
    runtime: bool
    """Whether the service runs on oms_runtime: its database has the inbox, outbox and dead
    letters."""


@dataclass(frozen=True)
class OpsConfig:
    bootstrap: str
    topic_prefix: str
    group_suffix: str
    services: tuple[str, ...]
    environ: Mapping[str, str]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OpsConfig:
        env = dict(os.environ if environ is None else environ)
        listed = [s.strip() for s in env.get("OMS_SERVICES", "").split(",") if s.strip()]
        return cls(
            bootstrap=env.get("KAFKA_BOOTSTRAP_SERVERS")
            or KafkaConnection.model_fields["kafka_bootstrap_servers"].default,
            topic_prefix=env.get("OMS_TOPIC_PREFIX", ""),
            group_suffix=env.get("OMS_GROUP_SUFFIX", ""),
            services=tuple(listed or DEFAULT_PORTS),
            environ=env,
        )

    @property
    def kafka(self) -> KafkaConnection:
        """The brokers, TLS and SASL, from the variables the workers read; a UsageError
        naming each one that is wrong (never its value)."""
        try:
            return KafkaConnection.from_environ(self.environ)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def service(self, name: str) -> ServiceEndpoints:
        if name not in self.services:
            raise UsageError(f"unknown service {name!r}; known: {', '.join(self.services)}")
        var = name.upper().replace("-", "_")
        port = DEFAULT_PORTS.get(name, _FALLBACK_PORT)
        return ServiceEndpoints(
            name=name,
            group=self.group(name),
            url=self.environ.get(f"OMS_{var}_URL", f"http://127.0.0.1:{port}").rstrip("/"),
            database_url=self.environ.get(f"OMS_{var}_DATABASE_URL") or None,
            runtime=name not in STREAM_APPS,
        )

    def selected(self, names: list[str] | None) -> list[ServiceEndpoints]:
        return [self.service(n) for n in (names or self.services)]

    def database_url(self, name: str) -> str:
        url = self.service(name).database_url
        if url is None:
            var = name.upper().replace("-", "_")
            raise UsageError(f"OMS_{var}_DATABASE_URL is not set: where is {name}'s database?")
        return url

    def group(self, service: str) -> str:
        """The service's consumer group, as its workers name it."""
        prefix = self.topic_prefix if service in STREAM_APPS else ""
        return f"{prefix}oms-{service}{self.group_suffix}"

    def topic(self, name: str) -> str:
        """A topic's full name from its logical or full name."""
        return name if name.startswith(self.topic_prefix) else self.topic_prefix + name

    def logical(self, full_name: str) -> str:
        return full_name.removeprefix(self.topic_prefix)


def operator_name(given: str | None) -> str:
    """Who acts: ``--operator``, else ``OMS_OPERATOR``, else the OS user."""
    if given:
        return given
    from_env = os.environ.get("OMS_OPERATOR")
    if from_env:
        return from_env
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
