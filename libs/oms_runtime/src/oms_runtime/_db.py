"""PostgreSQL pool and schema migrations."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import asyncpg
import structlog

from oms_runtime._locks import advisory_key

__all__ = ["RUNTIME_MIGRATIONS", "MigrationRefused", "apply_migrations", "create_pool"]

RUNTIME_MIGRATIONS = Path(__file__).parent / "migrations"
_log = structlog.get_logger(__name__)


async def create_pool(dsn: str, max_size: int) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=max_size, command_timeout=60)
    assert pool is not None
    return pool


class MigrationRefused(RuntimeError):
    """The migrations on disk do not continue the history the database has applied."""


async def apply_migrations(pool: asyncpg.Pool, directories: Mapping[str, Path]) -> list[str]:
    """Apply every ``*.sql`` file not yet applied, in name order per labelled directory.

    Forward-only and checked: each applied file's SHA-256 is kept, and the runner refuses to
    start (:class:`MigrationRefused`, nothing applied) when an applied file was edited or
    removed, or when a new file sorts before one already applied (it would run in another
    order here than on a fresh database). An advisory lock serialises instances of one
    service starting together.
    """
    applied: list[str] = []
    async with pool.acquire() as conn:
        lock = advisory_key(b"oms-migrations")
        await conn.execute("SELECT pg_advisory_lock($1)", lock)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS oms_schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());"
                " ALTER TABLE oms_schema_migrations ADD COLUMN IF NOT EXISTS sha256 text"
            )
            history = {
                r["name"]: r["sha256"]
                for r in await conn.fetch("SELECT name, sha256 FROM oms_schema_migrations")
            }
            pending = _pending(directories, history)
            # Rows from before digests were kept: the file as it is now is taken as applied.
            await conn.executemany(
                "UPDATE oms_schema_migrations SET sha256 = $2 WHERE name = $1 AND sha256 IS NULL",
                [(name, digest) for name, (_, digest) in _files(directories).items()],
            )
            for name, (script, digest) in pending.items():
                async with conn.transaction():
                    await conn.execute(script.read_text())
                    await conn.execute(
                        "INSERT INTO oms_schema_migrations (name, sha256) VALUES ($1, $2)",
                        name,
                        digest,
                    )
                applied.append(name)
                _log.info("migration_applied", migration=name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock)
    return applied


def _files(directories: Mapping[str, Path]) -> dict[str, tuple[Path, str]]:
    return {
        f"{label}/{script.name}": (script, hashlib.sha256(script.read_bytes()).hexdigest())
        for label, directory in directories.items()
        for script in sorted(directory.glob("*.sql"))
    }


def _pending(
    directories: Mapping[str, Path], history: Mapping[str, str | None]
) -> dict[str, tuple[Path, str]]:
    """The files still to apply, in order, once the history on disk is found intact."""
    files = _files(directories)
    labels = {f"{label}/" for label in directories}
    for name, digest in history.items():
        if not any(name.startswith(label) for label in labels):
            continue  # another service's history in a shared database
        if name not in files:
            raise MigrationRefused(f"{name} was applied but is gone: this code is older")
        if digest is not None and files[name][1] != digest:
            raise MigrationRefused(
                f"{name} changed after it was applied: add a new migration instead"
            )
    pending = {name: file for name, file in files.items() if name not in history}
    for name in pending:
        label = name.split("/", 1)[0]
        later = sorted(h for h in history if h.startswith(f"{label}/") and h > name)
        if later:
            raise MigrationRefused(
                f"{name} is new but sorts before {later[-1]}, already applied: number it after"
            )
    return pending
