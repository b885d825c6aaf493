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
    "check_spec",
    "checksum",
    "checksum_query",
    "compare",
    "compare_connection",
    "database_name",
    "derived_names",
    "live_outbox_rows",
    "marker",
    "moved_offsets",
    "prepare_database",
    "rebuild_spec",
    "run_service_rebuild",
    "run_state_swap",
    "state_comparison",
    "stop_offsets",
    "swap_databases",
    "with_database",
]

MAX_IDENTIFIER = 63
"""PostgreSQL cuts longer identifiers (bytes): a derived name could become another one."""
COMPARE_SETTINGS = {"TimeZone": "UTC", "DateStyle": "ISO, YMD"}
"""Both comparison sessions render times alike, whatever the server's or role's defaults."""

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


def state_comparison(compared: Mapping[str, Any]) -> TableComparison:
    """A comparison the service made itself (state outside PostgreSQL: analytics' changelog),
    as its ``rebuild`` reported it."""
    return TableComparison(
        table=str(compared["table"]),
        live=TableSum(int(compared["live"]["rows"]), str(compared["live"]["checksum"])),
        rebuilt=TableSum(int(compared["rebuilt"]["rows"]), str(compared["rebuilt"]["checksum"])),
        excluded=dict(compared.get("excluded") or {}),
    )


def with_database(dsn: str, database: str) -> str:
    """The DSN with another database name."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


def database_name(dsn: str) -> str:
    name = urlsplit(dsn).path.lstrip("/")
    if not name:
        raise ValueError("the service's database URL names no database")
    return name


def marker(live_db: str) -> str:
    """The comment a rebuild puts on the database it creates: only a database carrying it is
    ever dropped by a rebuild or replayed into by the service's ``rebuild`` mode."""
    return f"oms rebuild of {live_db}"


def derived_names(live_db: str, when: str) -> tuple[str, str]:
    """The rebuild database's name and the name the live one is kept under at a swap; refused
    (ValueError) when PostgreSQL would cut one (more than 63 bytes) or one is the live name."""
    rebuild_db = f"{live_db}_rebuild"
    kept = f"{live_db}_before_rebuild_{when}"
    for name in (rebuild_db, kept):
        if len(name.encode()) > MAX_IDENTIFIER:
            raise ValueError(
                f"database name {name!r} is longer than PostgreSQL's {MAX_IDENTIFIER} bytes: "
                f"it would be cut (the live database {live_db!r} has too long a name to rebuild)"
            )
        if name == live_db:
            raise ValueError(f"the derived database name {name!r} is the live one's")
    return rebuild_db, kept


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def checksum_query(table: str, columns: Sequence[str]) -> str:
    """Row count and the md5 of the rows' md5s, sorted (hex digits: no collation matters):
    the same rows give the same checksum whatever their physical order or sequence values
    left out, and no single text grows with the table."""
    row = "md5(ROW(" + ", ".join(f"t.{_quoted(c)}" for c in columns) + ")::text)"
    return (
        "SELECT count(*) AS n,"
        " coalesce(md5(string_agg(h, '' ORDER BY h COLLATE \"C\")), '-') AS sum"
        f" FROM (SELECT {row} AS h FROM {_quoted(table)} t) rows"
    )


def compared_columns(table: str, present: Sequence[str], excluded: Mapping[str, str]) -> list[str]:
    """The table's columns less the excluded ones; an excluded name the table lacks is an
    error (a typo would compare a column the spec meant to leave out)."""
    unknown = sorted(set(excluded) - set(present))
    if unknown:
        raise RebuildFailed(
            f"the rebuild spec excludes columns {', '.join(unknown)} that table {table} lacks"
        )
    return [c for c in present if c not in excluded]


async def _columns(conn: asyncpg.Connection, table: str, excluded: Mapping[str, str]) -> list[str]:
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = $1 ORDER BY column_name",
        table,
    )
    if not rows:
        database = await conn.fetchval("SELECT current_database()")
        raise RebuildFailed(
            f"table {table} does not exist in database {database} (has a worker of this "
            "version run against it? its migrations make the table)"
        )
    return compared_columns(table, [r["column_name"] for r in rows], excluded)


async def compare_connection(url: str) -> asyncpg.Connection:
    """A session for checksums: UTC and ISO dates, so both databases render rows alike."""
    return await asyncpg.connect(url, server_settings=COMPARE_SETTINGS)


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
    ahead = [p for p in partitions if p.committed is not None and p.committed > p.end]
    if ahead:
        named = ", ".join(
            f"{p.topic}[{p.partition}] committed {p.committed}, end {p.end}" for p in ahead[:5]
        )
        raise NotRebuildable(
            "the live group committed offsets past the end of the log (was the topic "
            f"recreated?): {named}"
        )
    gone = [p for p in partitions if p.beginning > 0]
    if gone:
        named = ", ".join(f"{p.topic}[{p.partition}] from {p.beginning}" for p in gone[:5])
        raise NotRebuildable(
            f"the topics no longer hold their first records (retention deleted them): {named}"
        )
    return {(p.topic, p.partition): p.end if to_end else (p.committed or 0) for p in partitions}


def moved_offsets(
    planned: Mapping[tuple[str, int], int], partitions: Sequence[PartitionOffsets]
) -> list[str]:
    """The partitions whose committed offset is no longer where the rebuild stopped: a swap
    then would make the workers skip (or apply twice) the events in between."""
    now = {(p.topic, p.partition): p.committed or 0 for p in partitions}
    return [
        f"{t}[{p}] rebuilt to {planned.get((t, p), 0)}, committed {now.get((t, p), 0)}"
        for (t, p) in sorted(set(planned) | set(now))
        if planned.get((t, p), 0) != now.get((t, p), 0)
    ]


def check_spec(spec: object) -> dict[str, Any]:
    """The service's rebuild declaration, checked: an object; a rebuildable one names its
    topics and tables, and no topic both as input and as recorded decisions."""
    if not isinstance(spec, dict):
        raise RebuildFailed(f"the rebuild spec is not a JSON object: {str(spec)[:200]}")
    if "rebuildable" not in spec:
        raise RebuildFailed("the rebuild spec does not say whether the service is rebuildable")
    if not spec["rebuildable"]:
        return spec
    for key in ("topics", "recorded_topics", "tables"):
        if not isinstance(spec.get(key), list):
            raise RebuildFailed(f"the rebuild spec has no list {key!r}")
    both = sorted(set(spec["topics"]) & set(spec["recorded_topics"]))
    if both:
        raise RebuildFailed(
            f"the rebuild spec names {', '.join(both)} both as an input and as a recorded "
            "topic: it would be read to its end, past the live group's offsets"
        )
    return spec


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
    try:
        spec = json.loads(out)
    except ValueError as exc:
        raise RebuildFailed(f"python -m oms_{service} rebuild-spec printed no JSON: {exc}") from exc
    return check_spec(spec)


_COMMENT = "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1"


async def prepare_database(admin_dsn: str, live_db: str, rebuild_db: str) -> None:
    """A fresh, empty ``rebuild_db`` owned by the live database's owner, made from template0
    with its encoding and locale, marked as this rebuild's. A previous rebuild's left-over is
    dropped only when it carries the mark: any other database of that name is refused."""
    if rebuild_db == live_db:
        raise RebuildFailed(f"the rebuild database {rebuild_db} is the live one")
    conn = await asyncpg.connect(with_database(admin_dsn, "postgres"))
    try:
        live = await conn.fetchrow(
            "SELECT pg_get_userbyid(datdba) AS owner, pg_encoding_to_char(encoding) AS encoding,"
            " datcollate, datctype FROM pg_database WHERE datname = $1",
            live_db,
        )
        if live is None:
            raise RebuildFailed(f"database {live_db} does not exist")
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", rebuild_db)
        if exists:
            if await conn.fetchval(_COMMENT, rebuild_db) != marker(live_db):
                raise RebuildFailed(
                    f"database {rebuild_db} exists and is not marked as a rebuild of {live_db} "
                    f"(comment {marker(live_db)!r}): not dropped; drop or rename it yourself"
                )
            await conn.execute(f"DROP DATABASE {_quoted(rebuild_db)} WITH (FORCE)")
        await conn.execute(
            f"CREATE DATABASE {_quoted(rebuild_db)} OWNER {_quoted(live['owner'])}"
            f" TEMPLATE template0 ENCODING {_literal(live['encoding'])}"
            f" LC_COLLATE {_literal(live['datcollate'])} LC_CTYPE {_literal(live['datctype'])}"
        )
        await conn.execute(
            f"COMMENT ON DATABASE {_quoted(rebuild_db)} IS {_literal(marker(live_db))}"
        )
    finally:
        await conn.close()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def live_outbox_rows(conn: asyncpg.Connection) -> dict[str, int]:
    """Rows of the live outbox and parked outbox: events the relay has yet to send, which a
    swap would lose (the rebuilt database's outbox is empty)."""
    counts = {}
    for table in ("oms_outbox", "oms_outbox_parked"):
        counts[table] = int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    return {t: n for t, n in counts.items() if n}


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


async def run_state_swap(
    service: str, environ: Mapping[str, str], *, live_url: str, rebuild_url: str
) -> dict[str, Any]:
    """``python -m oms_<service> rebuild-swap``: the service puts the rebuilt state it kept in
    the rebuild database where its workers recover it from (analytics: its changelog)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"oms_{service}",
        "rebuild-swap",
        env={
            **_service_env(environ, rebuild_url),
            "OMS_REBUILD_SEED_DATABASE_URL": live_url,
            "OMS_LOG_LEVEL": "WARNING",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    try:
        done = json.loads(out.splitlines()[-1])["done"] if process.returncode == 0 else None
    except (ValueError, IndexError, KeyError, TypeError):
        done = None
    if not isinstance(done, dict):
        raise RebuildFailed(
            f"python -m oms_{service} rebuild-swap exited {process.returncode}; the databases "
            "were not renamed, the live state may hold part of the rebuilt one: rebuild "
            "again and swap (--force if it now differs): "
            + err.decode(errors="replace").strip()[-800:]
        )
    return done


async def swap_databases(admin_dsn: str, live_db: str, rebuild_db: str, kept_as: str) -> None:
    """The rebuilt database takes the live one's name; the live one is kept as ``kept_as``.
    New connections to both are refused and open sessions ended first (the workers are
    stopped); both renames and the removal of the rebuild mark are one transaction: either
    all happened or none. A failure says in what state it left the databases."""
    conn = await asyncpg.connect(with_database(admin_dsn, "postgres"))
    blocked: list[str] = []
    try:
        try:
            if await conn.fetchval(_COMMENT, rebuild_db) != marker(live_db):
                raise RebuildFailed(
                    f"database {rebuild_db} is not marked as a rebuild of {live_db}"
                )
            for name in (live_db, rebuild_db):
                await conn.execute(f"ALTER DATABASE {_quoted(name)} ALLOW_CONNECTIONS false")
                blocked.append(name)
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()",
                [live_db, rebuild_db],
            )
            async with conn.transaction():
                await conn.execute(
                    f"ALTER DATABASE {_quoted(live_db)} RENAME TO {_quoted(kept_as)}"
                )
                await conn.execute(
                    f"ALTER DATABASE {_quoted(rebuild_db)} RENAME TO {_quoted(live_db)}"
                )
                # The live database is no rebuild target any more.
                await conn.execute(f"COMMENT ON DATABASE {_quoted(live_db)} IS NULL")
            blocked = [kept_as, live_db]
        except (asyncpg.PostgresError, OSError) as exc:
            raise RebuildFailed(
                f"swap failed, nothing renamed: {live_db} is still the live database and "
                f"{rebuild_db} the rebuilt one ({type(exc).__name__}: {exc})"
            ) from exc
        finally:
            for name in blocked:
                try:
                    await conn.execute(f"ALTER DATABASE {_quoted(name)} ALLOW_CONNECTIONS true")
                except (asyncpg.PostgresError, OSError) as exc:
                    raise RebuildFailed(
                        f"database {name} still refuses connections ({exc}): run ALTER "
                        f"DATABASE {_quoted(name)} ALLOW_CONNECTIONS true"
                    ) from exc
    finally:
        await conn.close()


def admin_dsn(environ: Mapping[str, str], live_url: str) -> str:
    """``OMS_PG_ADMIN_DSN`` (a role that may create databases), else the service's own."""
    return environ.get("OMS_PG_ADMIN_DSN") or live_url
