"""Where the real Kafka broker and PostgreSQL server come from for a test run.

In order: KAFKA_BOOTSTRAP_SERVERS and OMS_PG_ADMIN_DSN from the environment; testcontainers when
a Docker engine answers; otherwise the local stack (deploy/local/stack up), started if needed.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Stack:
    bootstrap: str
    admin_dsn: str
    origin: str


def _from_env() -> Stack | None:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    dsn = os.environ.get("OMS_PG_ADMIN_DSN")
    if bootstrap and dsn:
        return Stack(bootstrap, dsn, "environment")
    return None


def _docker_answers() -> bool:
    if not (os.environ.get("DOCKER_HOST") or Path("/var/run/docker.sock").exists()):
        return False
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _from_testcontainers() -> tuple[Stack, list[object]]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    kafka = KafkaContainer("apache/kafka:4.3.1").start()
    postgres = PostgresContainer("postgres:15", driver=None).start()
    return Stack(kafka.get_bootstrap_server(), postgres.get_connection_url(), "testcontainers"), [
        kafka,
        postgres,
    ]


def _from_local_stack() -> Stack:
    script = REPO / "deploy" / "local" / "stack"
    subprocess.run([str(script), "up"], check=True, cwd=REPO)
    env_lines = subprocess.run(
        [str(script), "env"], check=True, cwd=REPO, capture_output=True, text=True
    ).stdout
    values: dict[str, str] = {}
    for line in env_lines.splitlines():
        line = line.removeprefix("export ").strip()
        if "=" in line:
            name, _, value = line.partition("=")
            values[name] = shlex.split(value)[0] if value else ""
    return Stack(values["KAFKA_BOOTSTRAP_SERVERS"], values["OMS_PG_ADMIN_DSN"], "local stack")


def start_local_stack_if_needed() -> None:
    """Start the local stack now when the tests will use it (no broker and database given,
    no Docker): once, before parallel test workers would race for its lock."""
    if _from_env() is None and not _docker_answers():
        _from_local_stack()


def provide_stack() -> tuple[Stack, list[object]]:
    stack = _from_env()
    if stack is not None:
        return stack, []
    if _docker_answers():
        return _from_testcontainers()
    return _from_local_stack(), []
