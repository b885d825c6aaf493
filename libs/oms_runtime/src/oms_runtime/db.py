"""PostgreSQL pool and schema migrations."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import asyncpg
import structlog

__all__ = ["RUNTIME_MIGRATIONS", "apply_migrations", "create_pool"]

RUNTIME_MIGRATIONS = Path(__file__).parent / "migrations"
_log = structlog.get_logger(__name__)


async def create_pool(dsn: str, max_size: int) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=max_size, command_timeout=60)
    assert pool is not None
    return pool


async def apply_migrations(pool: asyncpg.Pool, directories: Mapping[str, Path]) -> list[str]:
    """Apply every ``*.sql`` file not yet applied, in name order per labelled directory.

    An advisory lock serialises instances of one service starting together.
    """
    applied: list[str] = []
    async with pool.acquire() as conn:
        lock = int.from_bytes(hashlib.sha256(b"oms-migrations").digest()[:8], "big", signed=True)
        await conn.execute("SELECT pg_advisory_lock($1)", lock)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS oms_schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["name"] for r in await conn.fetch("SELECT name FROM oms_schema_migrations")}
            for label, directory in directories.items():
                for script in sorted(directory.glob("*.sql")):
                    name = f"{label}/{script.name}"
                    if name in done:
                        continue
                    async with conn.transaction():
                        await conn.execute(script.read_text())
                        await conn.execute(
                            "INSERT INTO oms_schema_migrations (name) VALUES ($1)", name
                        )
                    applied.append(name)
                    _log.info("migration_applied", migration=name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock)
    return applied
