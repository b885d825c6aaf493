"""Two clones run their local stacks at once and never see each other's data.

The second "clone" is a second stack directory (OMS_STACK_DIR), which is what a clone is to
deploy/local/stack: its ports, its Kafka and its PostgreSQL cluster belong to that directory.
The test starts a real Kafka and PostgreSQL for it beside the stack the other tests use.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.support.stack import PrivateStack, Stack, listening, read_kv
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def hostport(dsn: str) -> tuple[str, int]:
    parts = urlsplit(dsn)
    return parts.hostname or "", parts.port or 5432


@pytest.fixture
def second_stack(tmp_path: Path) -> Iterator[Path]:
    stack_dir = tmp_path / "other-clone" / ".stack"
    try:
        yield stack_dir
    finally:
        PrivateStack(stack_dir).run("reset", check=False)


def run_stack(stack_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return PrivateStack(stack_dir).run(*args, check=check)


async def _databases(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
    finally:
        await conn.close()


async def _execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _topics(bootstrap: str, create: str | None = None) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if create:
            await admin.create_topics([NewTopic(create, 1, 1)])
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def _listed(bootstrap: str, topic: str) -> set[str] | None:
    """The broker's topics once ``topic`` is among them."""
    names = await _topics(bootstrap)
    return names if topic in names else None


async def _delete_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([name])
    finally:
        await admin.close()


def databases(dsn: str) -> set[str]:
    return asyncio.run(_databases(dsn))


def execute(dsn: str, sql: str) -> None:
    asyncio.run(_execute(dsn, sql))


def topics(bootstrap: str, create: str | None = None) -> set[str]:
    return asyncio.run(_topics(bootstrap, create))


def delete_topic(bootstrap: str, name: str) -> None:
    asyncio.run(_delete_topic(bootstrap, name))


def listed(bootstrap: str, topic: str, what: str) -> set[str]:
    """The broker's topics, once ``topic`` shows among them (shortly after it is created)."""
    return asyncio.run(wait_for(lambda: _listed(bootstrap, topic), what=what))


def test_two_clones_run_their_stacks_at_once_without_sharing_data(
    stack: Stack, second_stack: Path
) -> None:
    run_stack(second_stack, "up")
    state = read_kv(second_stack / "stack.state")
    env = read_kv(second_stack / "stack.env")
    ports = {int(state[k]) for k in ("KAFKA_PORT", "KAFKA_CONTROLLER_PORT", "PG_PORT")}
    assert len(ports) == 3, state

    # Its own ports: not the first stack's, which runs on.
    first_kafka = stack.bootstrap.split(",")[0].rpartition(":")
    first_pg = hostport(stack.admin_dsn)
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == f"127.0.0.1:{state['KAFKA_PORT']}"
    assert hostport(env["OMS_PG_ADMIN_DSN"]) == ("127.0.0.1", int(state["PG_PORT"]))
    if first_kafka[0] in ("127.0.0.1", "localhost"):
        assert int(first_kafka[2]) not in ports
    if first_pg[0] in ("127.0.0.1", "localhost"):
        assert first_pg[1] not in ports
    assert env["OMS_PG_ADMIN_DSN"] != stack.admin_dsn

    # Its own PostgreSQL cluster, where the stack directory says, in a place of its own.
    real = second_stack.resolve()
    assert state["STACK_DIR"] == str(real)
    pg_home = Path(state["PG_HOME"])
    if os.geteuid() == 0:
        digest = hashlib.sha256(str(real).encode()).hexdigest()[:12]
        assert pg_home == Path("/var/tmp/oms-stack") / digest / "pg"
    else:
        assert pg_home == real / "pg"
    assert (pg_home / "data" / "PG_VERSION").is_file()

    # A database or topic made in one stack does not exist in the other.
    run = uuid.uuid4().hex[:10]
    mine, theirs = f"t{run}_first", f"t{run}_second"
    execute(stack.admin_dsn, f'CREATE DATABASE "{mine}"')
    try:
        execute(env["OMS_PG_ADMIN_DSN"], f'CREATE DATABASE "{theirs}"')
        first_dbs, second_dbs = (
            databases(stack.admin_dsn),
            databases(env["OMS_PG_ADMIN_DSN"]),
        )
        assert mine in first_dbs and mine not in second_dbs
        assert theirs in second_dbs and theirs not in first_dbs

        first_topic, second_topic = f"t{run}.first", f"t{run}.second"
        topics(stack.bootstrap, create=first_topic)
        try:
            topics(env["KAFKA_BOOTSTRAP_SERVERS"], create=second_topic)
            first_topics = listed(stack.bootstrap, first_topic, "the first stack's topic")
            second_topics = listed(
                env["KAFKA_BOOTSTRAP_SERVERS"], second_topic, "the second stack's topic"
            )
            assert second_topic not in first_topics
            assert first_topic not in second_topics
            # Both got every registry topic from their own `up`.
            assert "oms.orders" in first_topics and "oms.orders" in second_topics
        finally:
            delete_topic(stack.bootstrap, first_topic)
    finally:
        execute(stack.admin_dsn, f'DROP DATABASE IF EXISTS "{mine}" WITH (FORCE)')

    # `down` stops the second stack only; it keeps its ports for the next `up`.
    run_stack(second_stack, "down")
    assert not any(listening(port) for port in ports)
    # The first stack still answers.
    assert "postgres" in databases(stack.admin_dsn)
    assert "oms.orders" in topics(stack.bootstrap)
    status = run_stack(second_stack, "status", check=False)
    assert status.returncode == 3, status.stdout
    assert f"would listen on 127.0.0.1:{state['KAFKA_PORT']}" in status.stdout
    assert f"would listen on 127.0.0.1:{state['PG_PORT']}" in status.stdout

    # `reset` deletes its data wherever it lives, and its recorded ports.
    run_stack(second_stack, "reset")
    assert not pg_home.exists()
    assert not (second_stack / "stack.state").exists()
    assert not (second_stack / "kafka").exists()
