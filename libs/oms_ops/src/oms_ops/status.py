"""One look at every service: health, outbox backlog, dead letters, consumer lag."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import asyncpg

from oms_ops.config import ServiceEndpoints
from oms_ops.dead_letters import connect, count_pending
from oms_ops.kafka import Broker

__all__ = ["service_status"]

_HTTP_TIMEOUT = aiohttp.ClientTimeout(total=3)


async def _health(url: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        async with aiohttp.ClientSession(timeout=_HTTP_TIMEOUT) as session:
            async with session.get(f"{url}/health") as response:
                body = await response.json(content_type=None)
                return (dict(body) if isinstance(body, dict) else None), None
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _database(url: str | None) -> dict[str, Any]:
    if url is None:
        return {"outbox_backlog": None, "dead_letters": None, "database_error": "not configured"}
    try:
        async with connect(url) as conn:
            backlog = await conn.fetchval("SELECT count(*) FROM oms_outbox")
            return {
                "outbox_backlog": int(backlog),
                "dead_letters": await count_pending(conn),
                "database_error": None,
            }
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return {
            "outbox_backlog": None,
            "dead_letters": None,
            "database_error": type(exc).__name__,
        }


async def _runtime_tables(service: ServiceEndpoints) -> dict[str, Any]:
    if not service.runtime:
        return {"outbox_backlog": None, "dead_letters": None, "database_error": None}
    return await _database(service.database_url)


async def service_status(broker: Broker, service: ServiceEndpoints) -> dict[str, Any]:
    (health, health_error), database, group, offsets = await asyncio.gather(
        _health(service.url),
        _runtime_tables(service),
        broker.group_state(service.group),
        broker.offsets(service.group),
    )
    partitions = [
        {
            "topic": p.topic,
            "partition": p.partition,
            "committed": p.committed,
            "end": p.end,
            "lag": p.lag,
        }
        for p in offsets
    ]
    status = "unreachable" if health is None else str(health.get("status", "unknown"))
    return {
        "service": service.name,
        "status": status,
        "url": service.url,
        "health": health,
        "health_error": health_error,
        **database,
        "group": service.group,
        "group_state": group.state,
        "members": group.members,
        "lag": sum(p.lag for p in offsets),
        "partitions": partitions,
    }
