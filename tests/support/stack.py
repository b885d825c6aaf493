"""Where the real Kafka broker and PostgreSQL server come from for a test run.

In order: KAFKA_BOOTSTRAP_SERVERS and OMS_PG_ADMIN_DSN from the environment; testcontainers when
a Docker engine answers; otherwise the local stack (deploy/local/stack up), started if needed.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import time
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


SCRIPT = REPO / "deploy" / "local" / "stack"
# Set by a developer or exported from another stack's stack.env: they would point a second
# stack at the first one's ports or server.
INHERITED = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "OMS_PG_ADMIN_DSN",
    "OMS_KAFKA_PORT",
    "OMS_KAFKA_CONTROLLER_PORT",
    "OMS_PG_PORT",
)


def read_kv(path: Path) -> dict[str, str]:
    """``NAME=value`` lines (``export`` optional, values shell-quoted) of a stack file."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.removeprefix("export ").partition("=")
        if sep and not name.startswith("#"):
            values[name.strip()] = shlex.split(value)[0] if value else ""
    return values


@dataclass(frozen=True)
class PrivateStack:
    """A local stack of a test's own, in ``directory`` (what a second clone's ``.stack`` is to
    deploy/local/stack): its own ports, Kafka and PostgreSQL, which a test may kill."""

    directory: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in INHERITED}
        env["OMS_STACK_DIR"] = str(self.directory)
        return subprocess.run(
            [str(SCRIPT), *args],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=240,
            check=check,
        )

    def up(self) -> Stack:
        """Started (again), ready: its broker and database."""
        self.run("up")
        env = read_kv(self.directory / "stack.env")
        return Stack(env["KAFKA_BOOTSTRAP_SERVERS"], env["OMS_PG_ADMIN_DSN"], "private stack")

    def state(self) -> dict[str, str]:
        return read_kv(self.directory / "stack.state")

    def kill_broker(self) -> None:
        """SIGKILL the Kafka server: no clean shutdown, its logs recovered at the next start.
        Returns once its port is closed."""
        pid = int((self.directory / "kafka" / "kafka.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        port = int(self.state()["KAFKA_PORT"])
        deadline = time.monotonic() + 30
        while listening(port):
            assert time.monotonic() < deadline, "the killed broker still listens after 30 s"
            time.sleep(0.05)

    def crash_database(self) -> None:
        """Stop PostgreSQL in immediate mode: every backend killed, no checkpoint, crash
        recovery at the next start (as a power cut would leave it)."""
        data = Path(self.state()["PG_HOME"]) / "data"
        version = (data / "PG_VERSION").read_text().strip()
        command = [f"/usr/lib/postgresql/{version}/bin/pg_ctl", "stop", "-D", str(data)]
        command += ["-m", "immediate", "-w"]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, cwd="/", capture_output=True, timeout=60)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0
