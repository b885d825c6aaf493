"""What ``oms rebuild`` tests look at: every topic's end (nothing published), the live
group's state, the databases a rebuild makes and keeps."""

from __future__ import annotations

import asyncpg

from oms_events.connection import KafkaConnection
from oms_ops.kafka import Broker
from tests.support.world import Env

_AUDIT = "oms.operator-audit"


async def end_offsets(env: Env) -> dict[tuple[str, int], int]:
    """Every partition's end offset of this test's topics, the operator audit left out."""
    async with Broker.connect(_kafka(env)) as broker:
        topics = sorted(
            t for t in await broker.topics() if t.startswith(env.prefix) and _AUDIT not in t
        )
        return {
            (topic, partition): end
            for topic in topics
            for partition, _, end in await broker.partition_ranges(topic)
        }


async def group_idle(env: Env, service: str, group: str | None = None) -> bool:
    """The service's group (or ``group``) has no members and has committed offsets."""
    group = group or f"oms-{service}-{env.run}"
    async with Broker.connect(_kafka(env)) as broker:
        state = await broker.group_state(group)
        committed = await broker.committed(group)
    return state.members == 0 and bool(committed)


def _kafka(env: Env) -> KafkaConnection:
    return KafkaConnection.from_environ({"KAFKA_BOOTSTRAP_SERVERS": env.bootstrap})


async def admin(env: Env, query: str, *args: object) -> object:
    conn = await asyncpg.connect(env.stack.admin_dsn)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def exists(env: Env, database: str) -> bool:
    return bool(await admin(env, "SELECT 1 FROM pg_database WHERE datname = $1", database))


def url(env: Env, database: str) -> str:
    return env.stack.admin_dsn.rsplit("/", 1)[0] + f"/{database}"


async def fetch(env: Env, database: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url(env, database))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()
