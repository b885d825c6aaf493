"""Rebuild: a service's state made again from its topics in a fresh database, compared with
the live state table by table, swapped in only when asked.

The service itself does the work (``python -m oms_<service> rebuild``, its own handlers with
side effects off: docs/runtime.md); this module plans it (where to stop: the live consumer
group's committed offsets), prepares the database, follows the run, computes the checksums
and renames the databases for a swap. It imports no service.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from oms_ops.kafka import PartitionOffsets

__all__ = [
    "NotRebuildable",
    "RebuildFailed",
    "TableComparison",
    "TableSum",
    "admin_dsn",
    "checksum",
    "checksum_query",
    "compare",
    "database_name",
    "prepare_database",
    "rebuild_spec",
    "run_service_rebuild",
    "stop_offsets",
    "swap_databases",
    "with_database",
]

_DONE = 3  # the service's `rebuild` exit status when it declares it cannot rebuild


class NotRebuildable(Exception):
    """The service's state cannot be reproduced exactly from its topics: the reason."""


class RebuildFailed(Exception):
    """The service's rebuild process failed."""


@dataclass(frozen=True)
class TableSum:
    rows: int
    checksum: str


@dataclass(frozen=True)
class TableComparison:
    table: str
    live: TableSum
    rebuilt: TableSum
    excluded: Mapping[str, str]

    @property
    def match(self) -> bool:
        return self.live == self.rebuilt

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "rows_live": self.live.rows,
            "rows_rebuilt": self.rebuilt.rows,
            "checksum_live": self.live.checksum,
            "checksum_rebuilt": self.rebuilt.checksum,
            "match": self.match,
            "excluded": dict(self.excluded),
        }


def with_database(dsn: str, database: str) -> str:
    """The DSN with another database name."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


def database_name(dsn: str) -> str:
    name = urlsplit(dsn).path.lstrip("/")
    if not name:
        raise ValueError("the service's database URL names no database")
    return name


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def checksum_query(table: str, columns: Sequence[str]) -> str:
    """Row count and the md5 of every row's text, the rows sorted by that text: the same rows
    give the same checksum whatever their physical order or sequence values left out."""
    row = "ROW(" + ", ".join(f"t.{_quoted(c)}" for c in columns) + ")::text"
    return (
        f"SELECT count(*) AS n, coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), '-') AS sum"
        f" FROM (SELECT {row} AS r FROM {_quoted(table)} t) rows"
    )


async def _columns(conn: asyncpg.Connection, table: str, excluded: Mapping[str, str]) -> list[str]:
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = $1 ORDER BY column_name",
        table,
    )
    if not rows:
        raise RebuildFailed(f"table {table} does not exist")
    return [r["column_name"] for r in rows if r["column_name"] not in excluded]


async def checksum(conn: asyncpg.Connection, table: str, excluded: Mapping[str, str]) -> TableSum:
    row = await conn.fetchrow(checksum_query(table, await _columns(conn, table, excluded)))
    assert row is not None
    return TableSum(rows=int(row["n"]), checksum=str(row["sum"]))


def compare(
    tables: Sequence[Mapping[str, Any]],
    live: Mapping[str, TableSum],
    rebuilt: Mapping[str, TableSum],
) -> list[TableComparison]:
    return [
        TableComparison(
            table=t["name"],
            live=live[t["name"]],
            rebuilt=rebuilt[t["name"]],
            excluded=dict(t.get("excluded") or {}),
        )
        for t in tables
    ]


def stop_offsets(
    partitions: Sequence[PartitionOffsets], *, to_end: bool = False
) -> dict[tuple[str, int], int]:
    """Where the rebuild stops per partition: the live group's committed offset (nothing
    when it never committed), or with ``to_end`` the end (the service's own decisions, read
    back). A partition whose first records are gone (retention) cannot be rebuilt from:
    refused."""
    gone = [p for p in partitions if p.beginning > 0]
    if gone:
        named = ", ".join(f"{p.topic}[{p.partition}] from {p.beginning}" for p in gone[:5])
        raise NotRebuildable(
            f"the topics no longer hold their first records (retention deleted them): {named}"
        )
    return {(p.topic, p.partition): p.end if to_end else (p.committed or 0) for p in partitions}


def _service_env(environ: Mapping[str, str], database_url: str) -> dict[str, str]:
    return {**environ, "OMS_DATABASE_URL": database_url}


async def rebuild_spec(
    service: str, environ: Mapping[str, str], database_url: str
) -> dict[str, Any]:
    """What the service says a rebuild reproduces (or why it cannot)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"oms_{service}",
        "rebuild-spec",
        env=_service_env(environ, database_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RebuildFailed(
            f"python -m oms_{service} rebuild-spec exited {process.returncode}: "
            + err.decode(errors="replace").strip()[-500:]
        )
    spec: dict[str, Any] = json.loads(out)
    return spec


async def prepare_database(admin_dsn: str, live_db: str, rebuild_db: str) -> None:
    """A fresh, empty ``rebuild_db`` owned by the live database's owner (a previous
    rebuild's left-over is dropped)."""
    conn = await asyncpg.connect(with_database(admin_dsn, "postgres"))
    try:
        owner = await conn.fetchval(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", live_db
        )
        if owner is None:
            raise RebuildFailed(f"database {live_db} does not exist")
        await conn.execute(f"DROP DATABASE IF EXISTS {_quoted(rebuild_db)} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {_quoted(rebuild_db)} OWNER {_quoted(owner)}")
    finally:
        await conn.close()


async def run_service_rebuild(
    service: str,
    environ: Mapping[str, str],
    *,
    rebuild_url: str,
    live_url: str,
    stop_at: Mapping[tuple[str, int], int],
    progress: Callable[[int], None],
) -> dict[str, Any]:
    """Run ``python -m oms_<service> rebuild`` into ``rebuild_url``; its outcome."""
    env = _service_env(environ, rebuild_url)
    env["OMS_REBUILD_SEED_DATABASE_URL"] = live_url
    env.setdefault("OMS_LOG_LEVEL", "WARNING")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"oms_{service}",
        "rebuild",
        "--stop-at",
        json.dumps([[t, p, o] for (t, p), o in sorted(stop_at.items())]),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    errors = asyncio.ensure_future(process.stderr.read())
    outcome: dict[str, Any] | None = None
    refused: str | None = None
    async for line in process.stdout:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if "read" in message:
            progress(int(message["read"]))
        elif "done" in message:
            outcome = message["done"]
        elif "refused" in message:
            refused = str(message["refused"])
    code = await process.wait()
    stderr = (await errors).decode(errors="replace").strip()
    if code == _DONE and refused:
        raise NotRebuildable(refused)
    if code != 0 or outcome is None:
        raise RebuildFailed(f"python -m oms_{service} rebuild exited {code}: {stderr[-800:]}")
    return outcome


async def swap_databases(admin_dsn: str, live_db: str, rebuild_db: str, kept_as: str) -> None:
    """The rebuilt database takes the live one's name; the live one is kept as ``kept_as``.
    Sessions still open on either are ended first (the workers are stopped)."""
    conn = await asyncpg.connect(with_database(admin_dsn, "postgres"))
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()",
            [live_db, rebuild_db],
        )
        await conn.execute(f"ALTER DATABASE {_quoted(live_db)} RENAME TO {_quoted(kept_as)}")
        await conn.execute(f"ALTER DATABASE {_quoted(rebuild_db)} RENAME TO {_quoted(live_db)}")
    finally:
        await conn.close()


def admin_dsn(environ: Mapping[str, str], live_url: str) -> str:
    """``OMS_PG_ADMIN_DSN`` (a role that may create databases), else the service's own."""
    return environ.get("OMS_PG_ADMIN_DSN") or live_url
