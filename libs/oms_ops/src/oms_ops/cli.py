"""``oms``: the operators' command (docs/operations.md)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import signal
import subprocess
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

import asyncpg
import typer
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from oms_events.audit import OperatorAction
from oms_events.codec import CONTENT_TYPE
from oms_ops import dead_letters as dlq
from oms_ops import local, records
from oms_ops import rebuild as rebuilds
from oms_ops import replay as replays
from oms_ops import topics as registry
from oms_ops.audit import audit_event, record_action
from oms_ops.config import OpsConfig, UsageError, operator_name
from oms_ops.kafka import Broker, OffsetsRefused, PartitionOffsets, producer
from oms_ops.output import Exit, count_cell, emit_json, emit_line, format_age, parse_when
from oms_ops.trace import order_topics, trace

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    name="oms",
    help="Operate the OMS: service status, dead letters and re-drive, replay, rebuild, order "
    "traces, topics.\n\n"
    "Configuration comes from the environment (KAFKA_BOOTSTRAP_SERVERS, OMS_TOPIC_PREFIX, "
    "OMS_GROUP_SUFFIX, OMS_<SERVICE>_DATABASE_URL, OMS_<SERVICE>_URL); "
    "`source .stack/stack.env` sets it for the local stack.\n\n"
    "Exit codes: 0 ok, 1 error, 2 usage, 3 refused (active consumer group), 4 not found, "
    "5 degraded (status), 6 drift left (topics apply), 7 invalid events (publish), "
    "8 rebuilt state differs (rebuild), 9 not rebuildable (rebuild).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)
dlq_app = typer.Typer(
    help="Dead letters: list, show and re-drive records a service could not process.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(dlq_app, name="dlq")
topics_app = typer.Typer(
    help="The topic registry against the cluster: list, describe, apply (create and fix).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(topics_app, name="topics")

_out = Console()
_err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]
ServicesOpt = Annotated[
    list[str] | None,
    typer.Option("--service", "-s", help="Only this service (repeatable); default: all."),
]
TopicOpt = Annotated[
    str | None, typer.Option("--topic", "-t", help="Original topic (logical or full name).")
]
ReasonOpt = Annotated[
    str | None,
    typer.Option("--reason", help="Dead-letter reason, e.g. handler_failed, invalid_payload."),
]
EventTypeOpt = Annotated[
    str | None, typer.Option("--event-type", help="Event type, e.g. OrderAccepted.")
]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="Dead-lettered at or after: 30m, 2h, 7d or ISO time.")
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="Dead-lettered before: 30m, 2h, 7d or ISO time.")
]
OperatorOpt = Annotated[
    str | None,
    typer.Option(
        "--operator", help="Who acts, for the audit event (default: OMS_OPERATOR or the OS user)."
    ),
]
NoteOpt = Annotated[str, typer.Option("--note", help="Why, recorded in the audit event.")]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Say what would happen; change nothing.")
]


class _Failed(Exception):
    def __init__(self, code: Exit, message: str) -> None:
        super().__init__(message)
        self.code = code


def _run(work: Callable[[], Awaitable[T]]) -> T:
    """Run a command's coroutine; map what can go wrong to a message and an exit code."""
    try:
        return asyncio.run(_call(work))
    except _Failed as failed:
        _err.print(f"[red]error:[/red] {failed}", highlight=False)
        raise typer.Exit(failed.code) from None
    except (UsageError, ValueError) as exc:
        _err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(Exit.USAGE) from None
    except KafkaError as exc:
        _err.print(f"[red]error:[/red] the broker: {type(exc).__name__}: {exc}", highlight=False)
        raise typer.Exit(Exit.ERROR) from None
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        _err.print(f"[red]error:[/red] {type(exc).__name__}: {exc}", highlight=False)
        raise typer.Exit(Exit.ERROR) from None


async def _call(work: Callable[[], Awaitable[T]]) -> T:
    return await work()


def _when(text: str | None) -> datetime | None:
    return parse_when(text) if text else None


def _filter(
    config: OpsConfig,
    *,
    ids: list[str] | None = None,
    topic: str | None,
    reason: str | None,
    event_type: str | None,
    since: str | None,
    until: str | None,
    pending_only: bool = False,
) -> dlq.DeadLetterFilter:
    return dlq.DeadLetterFilter(
        topic=config.topic(topic) if topic else None,
        reason=reason,
        event_type=event_type,
        since=_when(since),
        until=_when(until),
        pending_only=pending_only,
        ids=tuple(dlq.DeadLetterId.parse(i) for i in ids or ()),
    )


def _dlq_services(config: OpsConfig, services: list[str] | None) -> list[str]:
    """The named services (each must have a database URL), or every service that has one."""
    if services:
        for name in services:
            if not config.service(name).runtime:
                raise UsageError(f"{name} keeps no dead letters (a stream-processing app)")
            config.database_url(name)
        return services
    found = [s.name for s in config.selected(None) if s.database_url and s.runtime]
    if not found:
        raise UsageError("no OMS_<SERVICE>_DATABASE_URL is set: where are the databases?")
    return found


# --- status -----------------------------------------------------------------------------------


@app.command()
def status(service: ServicesOpt = None, json: JsonOpt = False) -> None:
    """Each service's health, outbox backlog, dead letters and consumer lag.

    Exits 5 when a service is not healthy or cannot be reached."""
    from oms_ops.status import service_status  # aiohttp: imported by the commands using it

    config = OpsConfig.from_env()

    async def work() -> list[dict[str, Any]]:
        endpoints = config.selected(service)
        async with Broker.connect(config.kafka) as broker:
            return list(await asyncio.gather(*(service_status(broker, e) for e in endpoints)))

    reports = _run(work)
    if json:
        emit_json({"services": reports})
    else:
        table = Table(title="OMS services")
        for column in ("service", "health", "outbox", "dead letters", "group", "topic", "lag"):
            table.add_column(column, justify="right" if column in ("outbox", "lag") else "left")
        for r in reports:
            health = r["status"] if r["status"] == "ok" else f"[red]{r['status']}[/red]"
            group = f"{r['group']} {r['group_state']}/{r['members']}"
            topics = sorted({p["topic"] for p in r["partitions"]}) or ["-"]
            for n, topic in enumerate(topics):
                parts = [p for p in r["partitions"] if p["topic"] == topic]
                lag = sum(p["lag"] for p in parts)
                table.add_row(
                    r["service"] if n == 0 else "",
                    health if n == 0 else "",
                    count_cell(r["outbox_backlog"], r["database_error"]) if n == 0 else "",
                    count_cell(r["dead_letters"], r["database_error"]) if n == 0 else "",
                    group if n == 0 else "",
                    config.logical(topic),
                    str(lag) if parts else "-",
                )
        _out.print(table)
    if any(r["status"] != "ok" for r in reports):
        raise typer.Exit(Exit.DEGRADED)


@app.command()
def top(
    service: ServicesOpt = None,
    interval: Annotated[
        float, typer.Option("--interval", min=0.2, help="Seconds between frames.")
    ] = 2.0,
    frames: Annotated[
        int | None,
        typer.Option("--frames", min=1, help="Stop after this many frames (default: Ctrl-C)."),
    ] = None,
    json: Annotated[
        bool, typer.Option("--json", help="Print each frame as one line of JSON (JSON Lines).")
    ] = False,
) -> None:
    """A live dashboard: orders by status, each service's events/s, lag, outbox backlog and dead
    letters, and stock alerts, refreshed every interval until Ctrl-C.

    Events/s are the records each service's consumer group committed over the interval. Orders
    come from the order service's database, alerts from inventory's (OMS_ORDER_DATABASE_URL,
    OMS_INVENTORY_DATABASE_URL); without them those parts say "not configured"."""
    from rich.live import Live

    from oms_ops import top as dashboard  # aiohttp: imported by the commands using it

    config = OpsConfig.from_env()

    async def work() -> None:
        config.selected(service)  # an unknown service: a usage error before connecting
        async with Broker.connect(config.kafka) as broker:
            previous = await dashboard.sample(config, broker, service)
            shown = 0
            with contextlib.ExitStack() as stack:
                live = None if json else stack.enter_context(Live(console=_out, auto_refresh=False))
                while frames is None or shown < frames:
                    await asyncio.sleep(interval)  # the refresh interval, not a wait for work
                    current = await dashboard.sample(config, broker, service)
                    frame = dashboard.rates(previous, current)
                    previous, shown = current, shown + 1
                    if live is None:
                        emit_line(frame)
                    else:
                        live.update(dashboard.render(frame, config.logical), refresh=True)

    with contextlib.suppress(KeyboardInterrupt):
        _run(work)


# --- dead letters ----------------------------------------------------------------------------


@dlq_app.command("list")
def dlq_list(
    service: ServicesOpt = None,
    topic: TopicOpt = None,
    reason: ReasonOpt = None,
    event_type: EventTypeOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    pending: Annotated[
        bool, typer.Option("--pending", help="Only those not re-driven yet.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", help="At most this many per service.")] = 500,
    json: JsonOpt = False,
) -> None:
    """Dead-lettered records: reason, origin (topic/partition/offset), event type, age."""
    config = OpsConfig.from_env()

    async def work() -> list[dlq.DeadLetterRow]:
        wanted = _filter(
            config,
            topic=topic,
            reason=reason,
            event_type=event_type,
            since=since,
            until=until,
            pending_only=pending,
        )
        rows: list[dlq.DeadLetterRow] = []
        for name in _dlq_services(config, service):
            async with dlq.connect(config.database_url(name)) as conn:
                rows.extend(await dlq.find(conn, name, wanted, limit=limit))
        return dlq.sort_rows(rows)

    rows = _run(work)
    now = datetime.now(UTC)
    if json:
        emit_json({"dead_letters": [r.summary(now) for r in rows]})
        return
    table = Table(title=f"Dead letters ({len(rows)})")
    for column in ("id", "event type", "reason", "age", "attempts", "re-driven"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r.id),
            r.event_type or "-",
            r.reason,
            format_age((now - r.created_at).total_seconds()),
            str(r.attempts),
            r.redriven_at.isoformat(timespec="seconds") if r.redriven_at else "",
        )
    _out.print(table)


@dlq_app.command("show")
def dlq_show(
    dead_letter: Annotated[str, typer.Argument(help="SERVICE:TOPIC:PARTITION:OFFSET")],
    json: JsonOpt = False,
) -> None:
    """One dead letter in full: why, where from, its key and value. Exits 4 when unknown."""
    config = OpsConfig.from_env()

    async def work() -> list[dlq.DeadLetterRow]:
        wanted = dlq.DeadLetterId.parse(dead_letter)
        async with dlq.connect(config.database_url(wanted.service)) as conn:
            return await dlq.find(conn, wanted.service, dlq.DeadLetterFilter(ids=(wanted,)))

    rows = _run(work)
    if not rows:
        _err.print(f"no dead letter {dead_letter}")
        raise typer.Exit(Exit.NOT_FOUND)
    now = datetime.now(UTC)
    details = [r.details(now) for r in rows]
    if json:
        emit_json({"dead_letters": details})
        return
    for d in details:
        table = Table(show_header=False, title=d["id"])
        for name, value in d.items():
            table.add_row(name, value if isinstance(value, str) else str(value))
        _out.print(table)


@dlq_app.command("redrive")
def dlq_redrive(
    ids: Annotated[
        list[str] | None,
        typer.Argument(help="Dead letters to re-drive: SERVICE:TOPIC:PARTITION:OFFSET"),
    ] = None,
    service: ServicesOpt = None,
    topic: TopicOpt = None,
    reason: ReasonOpt = None,
    event_type: EventTypeOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every pending dead letter of the selected services.")
    ] = False,
    dry_run: DryRunOpt = False,
    operator: OperatorOpt = None,
    note: NoteOpt = "",
    json: JsonOpt = False,
) -> None:
    """Send dead letters back to their original topic after a fix, each once.

    Name them by id, or select them with filters (or --all). A re-driven record is marked, so
    a second re-drive does not send it again; the consuming service's inbox drops a copy of
    an event it already applied."""
    config = OpsConfig.from_env()
    if not (ids or topic or reason or event_type or since or until or all_):
        _err.print("[red]error:[/red] name dead letters, give a filter, or say --all")
        raise typer.Exit(Exit.USAGE)
    who = operator_name(operator)
    names: list[str] = []

    async def work() -> list[dlq.DeadLetterRow]:
        wanted = _filter(
            config,
            ids=ids,
            topic=topic,
            reason=reason,
            event_type=event_type,
            since=since,
            until=until,
        )
        chosen = sorted({i.service for i in wanted.ids}) if wanted.ids and not service else None
        names.extend(_dlq_services(config, service or chosen))
        sent: list[dlq.DeadLetterRow] = []
        async with producer(config.kafka) as sender:
            for name in names:
                mine = wanted.for_service(name)
                if mine is None:
                    continue
                async with dlq.connect(config.database_url(name)) as conn:
                    sent.extend(await dlq.redrive(conn, name, mine, sender, dry_run=dry_run))
        return sent

    try:
        rows = _run(work)
    except typer.Exit as stop:
        if not dry_run and names:
            _audit_quietly(
                config,
                who,
                OperatorAction.REDRIVE_DEAD_LETTERS,
                _redrive_subject(names),
                {"services": ",".join(names), "ids": ",".join(ids or ())},
                "failed",
                note,
            )
        raise stop
    now = datetime.now(UTC)
    if not dry_run:
        parameters: dict[str, object] = {
            "services": ",".join(names),
            "topic": topic,
            "reason": reason,
            "event_type": event_type,
            "since": since,
            "until": until,
            "all": all_ or None,
            "ids": ",".join(ids or ()) or None,
            "sent": len(rows),
            "sent_ids": ",".join(str(r.id) for r in rows),
        }
        _audit(
            config,
            who,
            OperatorAction.REDRIVE_DEAD_LETTERS,
            _redrive_subject(names),
            parameters,
            "ok",
            note,
        )
    if json:
        emit_json(
            {
                "dry_run": dry_run,
                "sent" if not dry_run else "would_send": [r.summary(now) for r in rows],
            }
        )
        return
    verb = "would re-drive" if dry_run else "re-drove"
    table = Table(title=f"{verb} {len(rows)} dead letter(s)")
    for column in ("id", "event type", "event id", "to topic"):
        table.add_column(column)
    for r in rows:
        table.add_row(str(r.id), r.event_type or "-", r.event_id or "-", r.topic)
    _out.print(table)


def _redrive_subject(services: list[str]) -> str:
    return "dead-letters:" + ",".join(services)


# --- replay -----------------------------------------------------------------------------------


@app.command()
def replay(
    service: Annotated[str, typer.Argument(help="The service whose consumer group moves.")],
    to_offset: Annotated[
        int | None, typer.Option("--to-offset", help="Move every partition to this offset.")
    ] = None,
    to_time: Annotated[
        str | None,
        typer.Option("--to-time", help="Move to the first record at or after: ISO time or 2h."),
    ] = None,
    from_start: Annotated[
        bool, typer.Option("--from-start", help="Move to each partition's first record.")
    ] = False,
    topic: Annotated[
        list[str] | None,
        typer.Option("--topic", "-t", help="Only this topic (repeatable); default: the group's."),
    ] = None,
    dry_run: DryRunOpt = False,
    force: Annotated[
        bool, typer.Option("--force", help="Try even while the group has active members.")
    ] = False,
    operator: OperatorOpt = None,
    note: NoteOpt = "",
    json: JsonOpt = False,
) -> None:
    """Move a service's consumer group offsets so its workers process events again.

    The replay happens when the workers start; their inbox drops what they applied before, so
    no e-mail, payment or reservation repeats. Refused (exit 3) while the group has active
    members: stop the workers first."""
    chosen = [x for x in (to_offset is not None, to_time is not None, from_start) if x]
    if len(chosen) != 1:
        _err.print("[red]error:[/red] give exactly one of --to-offset, --to-time, --from-start")
        raise typer.Exit(Exit.USAGE)
    config = OpsConfig.from_env()
    who = operator_name(operator)
    try:
        target = _replay_target(to_offset, to_time)
        group = config.service(service).group
    except (UsageError, ValueError) as exc:
        _err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(Exit.USAGE) from None
    topics = [config.topic(t) for t in topic] if topic else None
    moves: list[replays.ReplayMove] = []
    parameters: dict[str, object] = {
        "service": service,
        "group": group,
        "target": target.describe(),
        "topics": ",".join(topics) if topics else "(the group's)",
        "force": force or None,
    }

    async def work() -> None:
        async with Broker.connect(config.kafka) as broker:
            try:
                moves.extend(await replays.plan(broker, group, topics, target))
                if not dry_run:
                    await replays.apply(broker, group, moves, force=force)
            except (replays.GroupActive, OffsetsRefused) as exc:
                raise _Failed(Exit.REFUSED, str(exc)) from exc
            except replays.NothingToReplay as exc:
                raise _Failed(Exit.NOT_FOUND, str(exc)) from exc

    try:
        _run(work)
    except typer.Exit as stop:
        if not dry_run and stop.exit_code in (Exit.REFUSED, Exit.ERROR):
            outcome = "refused" if stop.exit_code == Exit.REFUSED else "failed"
            _audit_quietly(
                config, who, OperatorAction.REPLAY_STREAM, group, parameters, outcome, note
            )
        raise stop
    reprocessed = sum(m.reprocessed for m in moves)
    if not dry_run:
        parameters["reprocessed"] = reprocessed
        parameters["skipped"] = sum(m.skipped for m in moves)
        parameters["partitions"] = len(moves)
        _audit(config, who, OperatorAction.REPLAY_STREAM, group, parameters, "ok", note)
    if json:
        emit_json(
            {
                "service": service,
                "group": group,
                "dry_run": dry_run,
                "target": target.describe(),
                "reprocessed": reprocessed,
                "moves": [m.as_dict() for m in moves],
            }
        )
        return
    title = (
        f"{group}: {'would reprocess' if dry_run else 'moved; the workers will reprocess'} "
        f"{reprocessed} event(s)"
    )
    table = Table(title=title)
    for column in ("topic", "partition", "from", "to", "end", "reprocessed", "skipped"):
        table.add_column(column, justify="left" if column == "topic" else "right")
    for m in moves:
        table.add_row(
            config.logical(m.topic),
            str(m.partition),
            str(m.current),
            str(m.target),
            str(m.end),
            str(m.reprocessed),
            str(m.skipped),
        )
    _out.print(table)


def _replay_target(to_offset: int | None, to_time: str | None) -> replays.ReplayTarget:
    if to_offset is not None:
        return replays.ReplayTarget("offset", to_offset)
    if to_time is not None:
        return replays.ReplayTarget("time", int(parse_when(to_time).timestamp() * 1000))
    return replays.ReplayTarget("start")


# --- rebuild ----------------------------------------------------------------------------------


@app.command()
def rebuild(
    service: Annotated[str, typer.Argument(help="The service whose state is rebuilt.")],
    swap: Annotated[
        bool,
        typer.Option(
            "--swap",
            help="Put the rebuilt database in the live one's place (kept as "
            "<db>_before_rebuild_<time>); only when every checksum matches (or with --force), "
            "the workers are stopped, the group's committed offsets are still those the "
            "rebuild stopped at and the live outbox is empty.",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Swap despite a mismatch (with --swap)."),
    ] = False,
    while_running: Annotated[
        bool,
        typer.Option(
            "--while-running",
            help="Rebuild while the service's consumer group has members, up to the offsets "
            "committed now (a swap still needs the workers stopped).",
        ),
    ] = False,
    operator: OperatorOpt = None,
    note: NoteOpt = "",
    json: JsonOpt = False,
) -> None:
    """Rebuild a service's state from its topics into a fresh database and compare it with
    the live state, table by table.

    The service's own handlers run (`python -m oms_<service> rebuild`) from each partition's
    first record up to the live consumer group's committed offsets, with side effects off:
    nothing is published, sent or charged. The rebuilt database `<db>_rebuild` is kept; with
    `--swap` it replaces the live one, only while the workers are stopped, the group's
    committed offsets are still the rebuild's stop offsets and the live outbox is empty. Exit 8
    when a table differs, 9 when the service cannot be rebuilt (the reason is printed), 3 while
    its workers run or a swap is refused."""
    config = OpsConfig.from_env()
    who = operator_name(operator)
    try:
        endpoints = config.service(service)
        live_url = config.database_url(service)
        live_db = rebuilds.database_name(live_url)
    except (UsageError, ValueError) as exc:
        _err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(Exit.USAGE) from None
    subject = f"{service}:{live_db}"
    try:
        rebuild_db, kept = rebuilds.derived_names(live_db, f"{datetime.now(UTC):%Y%m%dT%H%M%S}")
    except ValueError as exc:
        _err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(Exit.USAGE) from None
    admin = rebuilds.admin_dsn(config.environ, live_url)
    parameters: dict[str, object] = {
        "service": service,
        "group": endpoints.group,
        "database": live_db,
        "rebuilt_into": rebuild_db,
        "swap": swap or None,
        "force": force or None,
        "while_running": while_running or None,
    }
    report: dict[str, Any] = {"service": service, "database": live_db, "rebuilt_into": rebuild_db}
    planned: dict[tuple[str, int], int] = {}
    input_topics: list[str] = []

    described: dict[str, Any] = {}  # the service's rebuild spec

    async def refuse_unsent_events() -> None:
        """A swap would lose the live outbox's events: the relay must have sent them."""
        if not described.get("outbox", True):  # a stream app keeps no outbox
            return
        conn = await asyncpg.connect(live_url)
        try:
            unsent = await rebuilds.live_outbox_rows(conn)
        finally:
            await conn.close()
        if unsent:
            counted = ", ".join(f"{n} in {t}" for t, n in unsent.items())
            raise _Failed(
                Exit.REFUSED,
                f"swap refused: the live outbox holds events not sent yet ({counted}); the "
                "rebuilt database would lose them. Let the relay drain it (start the workers, "
                "wait for an empty outbox, stop them), re-drive or drop parked rows, then rebuild",
            )

    async def work() -> list[rebuilds.TableComparison]:
        try:
            return await rebuild_and_compare()
        except rebuilds.NotRebuildable as exc:
            raise _Failed(Exit.NOT_REBUILDABLE, f"{service} cannot be rebuilt: {exc}") from exc
        except rebuilds.RebuildFailed as exc:
            raise _Failed(Exit.ERROR, str(exc)) from exc

    async def rebuild_and_compare() -> list[rebuilds.TableComparison]:
        spec = await rebuilds.rebuild_spec(service, config.environ, live_url)
        if not spec["rebuildable"]:
            raise _Failed(
                Exit.NOT_REBUILDABLE, f"{service} cannot be rebuilt: {spec.get('reason')}"
            )
        input_topics.extend(spec["topics"])
        described.update(spec)
        if swap:
            await refuse_unsent_events()
        async with Broker.connect(config.kafka) as broker:
            state = await broker.group_state(endpoints.group)
            if state.members and not while_running:
                raise _Failed(
                    Exit.REFUSED,
                    f"consumer group {endpoints.group} has {state.members} active member(s): "
                    "the live state is still moving; stop the service's workers first "
                    "(--while-running rebuilds anyway, up to the offsets committed now)",
                )
            stop = rebuilds.stop_offsets(await broker.offsets(endpoints.group, spec["topics"]))
            planned.update(stop)
            recorded = rebuilds.stop_offsets(
                await broker.offsets(endpoints.group, spec["recorded_topics"]), to_end=True
            )
        total = sum(stop.values())
        report["input_events"] = total
        stop.update(recorded)
        parameters["events"] = total
        parameters["recorded_decisions_read"] = sum(recorded.values()) or None
        await rebuilds.prepare_database(admin, live_db, rebuild_db)
        rebuild_url = rebuilds.with_database(live_url, rebuild_db)
        with _progress(json) as bar:
            task = bar.add_task(f"rebuilding {service}", total=sum(stop.values()))
            outcome = await rebuilds.run_service_rebuild(
                service,
                config.environ,
                rebuild_url=rebuild_url,
                live_url=live_url,
                stop_at=stop,
                progress=lambda read: bar.update(task, completed=read),
            )
        report.update(outcome)
        live_sums: dict[str, rebuilds.TableSum] = {}
        rebuilt_sums: dict[str, rebuilds.TableSum] = {}
        for url, sums in ((live_url, live_sums), (rebuild_url, rebuilt_sums)):
            conn = await rebuilds.compare_connection(url)
            try:
                for table in spec["tables"]:
                    sums[table["name"]] = await rebuilds.checksum(
                        conn, table["name"], table["excluded"]
                    )
            finally:
                await conn.close()
        return rebuilds.compare(spec["tables"], live_sums, rebuilt_sums) + [
            rebuilds.state_comparison(c) for c in outcome.get("compared", [])
        ]

    def audited(outcome: str) -> None:
        _audit_quietly(
            config, who, OperatorAction.REBUILD_STATE, subject, parameters, outcome, note
        )

    try:
        comparisons = _run(work)
    except typer.Exit as stop:
        refused = (Exit.REFUSED, Exit.NOT_REBUILDABLE)
        audited("refused" if stop.exit_code in refused else "failed")
        raise stop
    mismatched = [c.table for c in comparisons if not c.match]
    parameters["mismatched"] = ",".join(mismatched) or None
    parameters["tables"] = len(comparisons)
    report["match"] = not mismatched
    report["tables"] = [c.as_dict() for c in comparisons]
    swapped: str | None = None
    refusal: tuple[Exit, str] | None = None
    if swap:
        if mismatched and not force:
            refusal = (Exit.MISMATCH, "swap refused: the rebuilt state differs (--force swaps)")
        else:

            async def do_swap() -> None:
                async with Broker.connect(config.kafka) as broker:
                    state = await broker.group_state(endpoints.group)
                    now = await broker.offsets(endpoints.group, input_topics)
                if state.members:
                    raise _Failed(
                        Exit.REFUSED,
                        f"swap refused: consumer group {endpoints.group} has {state.members} "
                        "active member(s); stop the service's workers first",
                    )
                moved = rebuilds.moved_offsets(planned, now)
                if moved:
                    raise _Failed(
                        Exit.REFUSED,
                        "swap refused: the group's committed offsets moved since the rebuild "
                        "planned its stop (the workers would skip the events in between): "
                        + "; ".join(moved[:5])
                        + ". Stop the workers and rebuild again",
                    )
                await refuse_unsent_events()
                state_swapped = ""
                try:
                    if described.get("state"):  # a changelog the service swaps itself
                        written = await rebuilds.run_state_swap(
                            service,
                            config.environ,
                            live_url=live_url,
                            rebuild_url=rebuilds.with_database(live_url, rebuild_db),
                        )
                        report["state_swapped"] = written
                        parameters["state_keys_written"] = written.get("keys_written")
                        state_swapped = (
                            f"; the live {described['state']['changelog']} already holds the "
                            "rebuilt state: rebuild again and swap with --force"
                        )
                    await rebuilds.swap_databases(admin, live_db, rebuild_db, kept)
                except rebuilds.RebuildFailed as exc:
                    raise _Failed(Exit.ERROR, f"{exc}{state_swapped}") from exc

            try:
                _run(do_swap)
            except typer.Exit as stop:
                report["swapped"] = False
                audited("refused" if stop.exit_code == Exit.REFUSED else "failed")
                raise stop
            swapped = kept
            parameters["kept_as"] = kept
    report["swapped"] = swapped is not None
    report["kept_as"] = swapped
    outcome = "ok" if not mismatched else "mismatch"
    if refusal is not None:
        outcome = "refused"
    _audit(config, who, OperatorAction.REBUILD_STATE, subject, parameters, outcome, note)
    if json:
        emit_json(report)
    else:
        events = int(report.get("events", 0))
        seconds = float(report.get("seconds", 0.0)) or 1e-9
        table = Table(
            title=f"{service}: {events} event(s) in {seconds:.1f} s "
            f"({events / seconds:,.0f}/s) into {rebuild_db}"
        )
        for column in ("table", "rows live", "rows rebuilt", "live", "rebuilt", "match"):
            table.add_column(column, justify="left" if column == "table" else "right")
        for c in comparisons:
            table.add_row(
                c.table,
                str(c.live.rows),
                str(c.rebuilt.rows),
                c.live.checksum[:12],
                c.rebuilt.checksum[:12],
                "[green]yes[/green]" if c.match else "[red]NO[/red]",
            )
        _out.print(table)
        if swapped:
            _out.print(f"swapped: {rebuild_db} is now {live_db}; the old one is kept as {swapped}")
    if refusal is not None:
        _err.print(f"[red]error:[/red] {refusal[1]}", highlight=False)
        raise typer.Exit(refusal[0])
    if mismatched:
        _err.print(
            f"[red]error:[/red] the rebuilt state differs in: {', '.join(mismatched)}",
            highlight=False,
        )
        raise typer.Exit(Exit.MISMATCH)


# --- trace ------------------------------------------------------------------------------------


@app.command("trace")
def trace_order(
    order_id: Annotated[str, typer.Argument(help="The order id (the record key).")],
    json: JsonOpt = False,
) -> None:
    """An order's events across the topics keyed by order id, in time order.

    Exits 4 when no event of the order is found."""
    config = OpsConfig.from_env()

    async def work() -> list[dict[str, Any]]:
        async with Broker.connect(config.kafka) as broker:
            present = await broker.topics()
            names = [config.topic(t) for t in order_topics() if config.topic(t) in present]
            return await trace(broker, order_id, names)

    events = _run(work)
    for e in events:
        e["topic"] = config.logical(e["topic"])
    if json:
        emit_json({"order_id": order_id, "events": events})
    else:
        table = Table(title=f"Order {order_id}: {len(events)} event(s)")
        for column in ("time", "topic", "partition", "offset", "type", "event id", "causation id"):
            table.add_column(column)
        for e in events:
            table.add_row(
                e["time"] or "-",
                e["topic"],
                str(e["partition"]),
                str(e["offset"]),
                e["type"] or f"({e.get('error')})",
                e["event_id"] or "-",
                e["causation_id"] or "-",
            )
        _out.print(table)
    if not events:
        raise typer.Exit(Exit.NOT_FOUND)


# --- topics -----------------------------------------------------------------------------------


def _retention(ms: int | None) -> str:
    if ms is None:
        return "default"
    if ms < 0:
        return "forever"
    return format_age(ms / 1000)


async def _reports(
    broker: Broker, wanted: list[registry.WantedTopic]
) -> list[registry.TopicReport]:
    actual = await registry.actual_topics(broker.admin, [w.name for w in wanted])
    return [registry.compare(w, actual.get(w.name)) for w in wanted]


@topics_app.command("list")
def topics_list(json: JsonOpt = False) -> None:
    """Every registry topic and its dead-letter twin: owner, key, partitions, retention,
    compaction, and whether the cluster has it (and how it differs)."""
    config = OpsConfig.from_env()

    async def work() -> list[registry.TopicReport]:
        async with Broker.connect(config.kafka) as broker:
            return await _reports(broker, registry.wanted_topics(config.topic_prefix))

    reports = _run(work)
    if json:
        emit_json({"prefix": config.topic_prefix, "topics": [r.as_dict() for r in reports]})
        return
    present = sum(r.present for r in reports)
    table = Table(
        title=f"Topics (prefix {config.topic_prefix!r}): {present}/{len(reports)} present"
    )
    for column in ("topic", "owner", "key", "partitions", "retention", "compacted", "cluster"):
        table.add_column(column, justify="right" if column == "partitions" else "left")
    for r in reports:
        if not r.present:
            state = "[red]missing[/red]"
        elif r.drift:
            state = "[yellow]drift: " + ", ".join(d.setting for d in r.drift) + "[/yellow]"
        else:
            state = "present"
        table.add_row(
            config.logical(r.wanted.name),
            r.wanted.spec.owner,
            r.wanted.spec.key,
            str(r.wanted.partitions),
            _retention(r.wanted.spec.retention_ms),
            "yes" if r.wanted.spec.compacted else "",
            state,
        )
    _out.print(table)


@topics_app.command("describe")
def topics_describe(
    topic: Annotated[str, typer.Argument(help="A registry topic (logical or full name).")],
    json: JsonOpt = False,
) -> None:
    """One topic: the registry's settings, the broker's actual configs, drift and the first
    and end offset of every partition. Exits 4 when the cluster does not have it."""
    config = OpsConfig.from_env()
    try:
        [wanted] = registry.wanted_topics(config.topic_prefix, [topic])
    except ValueError as exc:
        _err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(Exit.USAGE) from None

    async def work() -> tuple[registry.TopicReport, list[tuple[int, int, int]]]:
        async with Broker.connect(config.kafka) as broker:
            [report] = await _reports(broker, [wanted])
            ranges = await broker.partition_ranges(wanted.name) if report.present else []
            return report, ranges

    report, ranges = _run(work)
    document = report.as_dict() | {
        "config": report.actual.config if report.actual else None,
        "overrides": report.actual.overrides if report.actual else None,
        "event_types": list(wanted.spec.event_types),
        "offsets": [
            {"partition": p, "first": first, "end": end, "records": end - first}
            for p, first, end in ranges
        ],
    }
    if json:
        emit_json(document)
    else:
        summary = Table(show_header=False, title=wanted.name)
        for name in ("owner", "key", "partitions", "actual_partitions", "compacted", "present"):
            summary.add_row(name, str(document[name]))
        summary.add_row("retention", _retention(wanted.spec.retention_ms))
        summary.add_row("event types", ", ".join(wanted.spec.event_types) or "-")
        _out.print(summary)
        if report.actual is not None:
            configs = Table(title="configs set on the topic")
            for column in ("config", "value", "registry"):
                configs.add_column(column)
            for name in sorted(set(report.actual.overrides) | set(wanted.config)):
                configs.add_row(
                    name, report.actual.config.get(name, "-"), wanted.config.get(name, "")
                )
            _out.print(configs)
            _drift_table(config, list(report.drift))
            offsets = Table(title="partitions")
            for column in ("partition", "first", "end", "records"):
                offsets.add_column(column, justify="right")
            for p, first, end in ranges:
                offsets.add_row(str(p), str(first), str(end), str(end - first))
            _out.print(offsets)
    if not report.present:
        _err.print(f"{wanted.name} does not exist on the cluster (oms topics apply creates it)")
        raise typer.Exit(Exit.NOT_FOUND)


def _drift_table(config: OpsConfig, drift: list[registry.Drift], title: str = "drift") -> None:
    if not drift:
        return
    table = Table(title=title)
    for column in ("topic", "setting", "registry", "cluster", "fixable"):
        table.add_column(column)
    for d in drift:
        table.add_row(
            config.logical(d.topic),
            d.setting,
            d.wanted,
            d.actual or "-",
            "yes" if d.fixable else "no",
        )
    _out.print(table)


@topics_app.command("apply")
def topics_apply(
    topic: Annotated[
        list[str] | None,
        typer.Option("--topic", "-t", help="Only this registry topic (repeatable); default: all."),
    ] = None,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix", help="Also change drifted configs and add partitions (never remove them)."
        ),
    ] = False,
    dry_run: DryRunOpt = False,
    wait: Annotated[
        float, typer.Option("--wait", help="Seconds to keep trying to reach a starting broker.")
    ] = 0.0,
    operator: OperatorOpt = None,
    note: NoteOpt = "",
    json: JsonOpt = False,
) -> None:
    """Create the registry's missing topics with their partitions, retention and compaction;
    report drift (partitions, cleanup.policy, retention) and change it only with --fix.

    Exits 6 when drift is left (not asked to fix, or not fixable: fewer partitions than the
    cluster has), 1 when a topic could not be created or fixed."""
    config = OpsConfig.from_env()
    who = operator_name(operator)
    try:
        wanted = registry.wanted_topics(config.topic_prefix, topic)
    except ValueError as exc:
        _err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(Exit.USAGE) from None
    result: dict[str, Any] = {}

    async def work() -> None:
        async with Broker.connect(config.kafka, wait_s=wait) as broker:
            reports = await _reports(broker, wanted)
            missing = [r.wanted for r in reports if not r.present]
            drift = [d for r in reports for d in r.drift]
            to_fix = [r for r in reports if any(d.fixable for d in r.drift)] if fix else []
            failed: list[tuple[str, str]] = []
            if not dry_run:
                failed += await registry.create_missing(broker.admin, missing)
                failed += await registry.fix_drift(broker.admin, to_fix)
                broken = {name for name, _ in failed}
                grown = {
                    d.topic
                    for r in to_fix
                    for d in r.drift
                    if d.setting == "partitions" and d.fixable
                }
                changed = {
                    r.wanted.name: r.wanted.partitions
                    for r in reports
                    if (not r.present or r.wanted.name in grown) and r.wanted.name not in broken
                }
                failed += await registry.settle(broker.admin, changed)
            broken = {name for name, _ in failed}
            fixed = [d for r in to_fix for d in r.drift if d.fixable and d.topic not in broken]
            result.update(
                created=[w.name for w in missing if w.name not in broken],
                existed=[r.wanted.name for r in reports if r.present],
                drift=drift,
                fixed=[] if dry_run else fixed,
                left=[d for d in drift if dry_run or d not in fixed],
                failed=failed,
            )

    parameters: dict[str, object] = {
        "prefix": config.topic_prefix,
        "topics": ",".join(topic) if topic else "(all)",
        "fix": fix or None,
    }
    try:
        _run(work)
    except typer.Exit as stop:
        if not dry_run and stop.exit_code == Exit.ERROR:
            _audit_quietly(
                config,
                who,
                OperatorAction.APPLY_TOPICS,
                _topics_subject(config),
                parameters,
                "failed",
                note,
            )
        raise stop
    created, fixed, left, failed = (
        result["created"],
        result["fixed"],
        result["left"],
        result["failed"],
    )
    if not dry_run and (created or fixed or failed):
        parameters["created"] = ",".join(config.logical(n) for n in created)
        parameters["fixed"] = ",".join(f"{config.logical(d.topic)}:{d.setting}" for d in fixed)
        parameters["failed"] = ",".join(config.logical(n) for n, _ in failed) or None
        _audit(
            config,
            who,
            OperatorAction.APPLY_TOPICS,
            _topics_subject(config),
            parameters,
            "failed" if failed else "ok",
            note,
        )
    if json:
        emit_json(
            {
                "prefix": config.topic_prefix,
                "dry_run": dry_run,
                "would_create" if dry_run else "created": created,
                "existed": result["existed"],
                "drift": [d.as_dict() for d in result["drift"]],
                "fixed": [d.as_dict() for d in fixed],
                "failed": [{"topic": n, "error": e} for n, e in failed],
            }
        )
    else:
        verb = "would create" if dry_run else "created"
        _out.print(
            f"{verb} {len(created)} topic(s), {len(result['existed'])} existed "
            f"(prefix {config.topic_prefix!r})",
            highlight=False,
        )
        _drift_table(config, fixed, title="fixed")
        _drift_table(config, left, title="drift left" if fix else "drift (--fix changes it)")
        for name, error in failed:
            _err.print(f"[red]error:[/red] {name}: {error}", highlight=False)
    if failed:
        raise typer.Exit(Exit.ERROR)
    if left:
        raise typer.Exit(Exit.DRIFT)


def _topics_subject(config: OpsConfig) -> str:
    return f"topics:{config.topic_prefix}" if config.topic_prefix else "topics"


# --- publish and copy ------------------------------------------------------------------------


def _progress(quiet: bool) -> Progress:
    """A progress bar with an ETA on stderr, for long work; none for --json."""
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=_err,
        transient=True,
        disable=quiet,
    )


@app.command()
def publish(
    file: Annotated[Path, typer.Argument(help="JSON lines: one CloudEvents envelope per line.")],
    topic: Annotated[str, typer.Option("--topic", "-t", help="A registry topic.")],
    dry_run: DryRunOpt = False,
    operator: OperatorOpt = None,
    note: NoteOpt = "",
    json: JsonOpt = False,
) -> None:
    """Publish a file of events after checking every one against the contract.

    Each line is decoded and validated as a consumer would (upcast, payload model) and must
    be of a type the topic carries; one bad line refuses the whole file (exit 7), naming every
    bad line, and nothing is sent. Records are keyed as the registry says (order id,
    sku@location...). Exits 4 when the topic does not exist on the cluster."""
    config = OpsConfig.from_env()
    who = operator_name(operator)
    try:
        [wanted] = registry.wanted_topics(config.topic_prefix, [topic])
        lines = file.read_bytes().splitlines()
    except (ValueError, OSError) as exc:
        _err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(Exit.USAGE) from None
    events, bad = records.check_file(lines, wanted.spec)
    if bad or not events:
        problems = [str(b) for b in bad] or [f"{file} holds no event"]
        if json:
            emit_json({"published": 0, "refused": True, "bad_lines": problems})
        for problem in problems[:50]:
            _err.print(f"[red]invalid:[/red] {problem}", highlight=False)
        if len(problems) > 50:
            _err.print(f"... and {len(problems) - 50} more bad line(s)")
        _err.print(f"refused {file}: nothing was published")
        raise typer.Exit(Exit.INVALID)
    parameters: dict[str, object] = {
        "file": str(file),
        "topic": wanted.name,
        "events": len(events),
    }

    async def work() -> None:
        async with Broker.connect(config.kafka) as broker:
            if wanted.name not in await broker.topics():
                raise _Failed(Exit.NOT_FOUND, f"{wanted.name} does not exist (oms topics apply)")
        if dry_run:
            return
        headers = [("content-type", CONTENT_TYPE.encode())]
        async with producer(config.kafka) as sender:
            with _progress(json) as progress:
                task = progress.add_task(f"publishing to {wanted.name}", total=len(events))
                pending = [
                    await sender.send(
                        wanted.name, event.value, key=event.key.encode(), headers=headers
                    )
                    for event in events
                ]
                for future in pending:
                    await future
                    progress.advance(task)

    try:
        _run(work)
    except typer.Exit as stop:
        if not dry_run and stop.exit_code == Exit.ERROR:
            _audit_quietly(
                config, who, OperatorAction.PUBLISH_EVENTS, wanted.name, parameters, "failed", note
            )
        raise stop
    types: dict[str, int] = {}
    for event in events:
        types[event.event_type] = types.get(event.event_type, 0) + 1
    if not dry_run:
        parameters["event_types"] = ",".join(f"{t}:{n}" for t, n in sorted(types.items()))
        _audit(config, who, OperatorAction.PUBLISH_EVENTS, wanted.name, parameters, "ok", note)
    if json:
        emit_json(
            {
                "topic": wanted.name,
                "dry_run": dry_run,
                "would_publish" if dry_run else "published": len(events),
                "event_types": types,
            }
        )
    else:
        verb = "would publish" if dry_run else "published"
        _out.print(f"{verb} {len(events)} event(s) to {wanted.name}", highlight=False)


@app.command()
def copy(
    source: Annotated[str, typer.Argument(help="The topic to copy from (logical or full name).")],
    to_topic: Annotated[
        str | None, typer.Option("--to-topic", help="Copy into this topic (it must exist).")
    ] = None,
    to_file: Annotated[
        Path | None,
        typer.Option("--to-file", help="Write the events as JSON lines to this new file."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Records at or after: ISO time or 2h.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Records before: ISO time or 2h.")
    ] = None,
    from_offset: Annotated[
        int | None, typer.Option("--from-offset", help="From this offset in every partition.")
    ] = None,
    to_offset: Annotated[
        int | None,
        typer.Option("--to-offset", help="Up to (not including) this offset in every partition."),
    ] = None,
    event_type: Annotated[
        list[str] | None,
        typer.Option("--event-type", "-e", help="Only this event type (repeatable)."),
    ] = None,
    dry_run: DryRunOpt = False,
    operator: OperatorOpt = None,
    note: NoteOpt = "",
    json: JsonOpt = False,
) -> None:
    """Copy a time or offset range of a topic, optionally only some event types, into another
    topic (same key, value and headers, plus `oms.copied-from`) or a JSON-lines file (one
    envelope per line, which `oms publish` takes back).

    Exits 4 when a topic does not exist."""
    config = OpsConfig.from_env()
    who = operator_name(operator)
    problem = None
    if (to_topic is None) == (to_file is None):
        problem = "give exactly one of --to-topic, --to-file"
    elif (since or until) and (from_offset is not None or to_offset is not None):
        problem = "give a time range (--since/--until) or an offset range, not both"
    elif to_file is not None and to_file.exists():
        problem = f"{to_file} exists; name a new file"
    try:
        since_at, until_at = _when(since), _when(until)
    except ValueError as exc:
        problem = str(exc)
    name = config.topic(source)
    target = config.topic(to_topic) if to_topic else None
    if target == name:
        problem = "the source and the target are the same topic"
    if problem:
        _err.print(f"[red]error:[/red] {problem}", highlight=False)
        raise typer.Exit(Exit.USAGE)
    wanted_types = set(event_type or ())
    ranges: list[records.CopyRange] = []
    copied = 0
    parameters: dict[str, object] = {
        "source": name,
        "to_topic": target,
        "to_file": str(to_file) if to_file else None,
        "since": since,
        "until": until,
        "from_offset": from_offset,
        "to_offset": to_offset,
        "event_types": ",".join(sorted(wanted_types)) or None,
    }

    async def work() -> None:
        nonlocal copied
        async with Broker.connect(config.kafka) as broker:
            present = await broker.topics()
            for needed in (name, target):
                if needed is not None and needed not in present:
                    raise _Failed(Exit.NOT_FOUND, f"{needed} does not exist")
            bounds = await broker.partition_ranges(name)
            offsets = [PartitionOffsets(name, p, None, first, end) for p, first, end in bounds]

            async def at(when: datetime | None) -> dict[int, int] | None:
                if when is None:
                    return None
                found = await broker.offsets_for_time(offsets, int(when.timestamp() * 1000))
                return {p: o for (_, p), o in found.items()}

            ranges.extend(
                records.copy_ranges(
                    name,
                    bounds,
                    from_offset=from_offset,
                    to_offset=to_offset,
                    since=await at(since_at),
                    until=await at(until_at),
                )
            )
            if dry_run:
                return
            wanted = {TopicPartition(r.topic, r.partition): (r.start, r.end) for r in ranges}
            async with contextlib.AsyncExitStack() as stack:
                progress = stack.enter_context(_progress(json))
                task = progress.add_task(f"copying {name}", total=sum(r.records for r in ranges))
                sender = await stack.enter_async_context(producer(config.kafka)) if target else None
                partial = to_file.with_name(f".{to_file.name}.partial") if to_file else None
                out = stack.enter_context(partial.open("wb")) if partial else None
                try:
                    async for record in broker.read_ranges(wanted):
                        progress.advance(task)
                        if wanted_types and records.event_type_of(record.value) not in wanted_types:
                            continue
                        if sender is not None and target is not None:
                            headers = [
                                *(record.headers or ()),
                                (
                                    "oms.copied-from",
                                    f"{record.topic}:{record.partition}:{record.offset}".encode(),
                                ),
                            ]
                            await sender.send(target, record.value, key=record.key, headers=headers)
                        elif out is not None and record.value is not None:
                            out.write(record.value.strip() + b"\n")
                        copied += 1
                    if sender is not None:
                        await sender.flush()
                    if out is not None and partial is not None and to_file is not None:
                        out.close()
                        os.replace(partial, to_file)
                finally:
                    if partial is not None and partial.exists():
                        partial.unlink()

    try:
        _run(work)
    except typer.Exit as stop:
        if not dry_run and stop.exit_code == Exit.ERROR:
            _audit_quietly(
                config, who, OperatorAction.COPY_EVENTS, name, parameters, "failed", note
            )
        raise stop
    total = sum(r.records for r in ranges)
    if not dry_run:
        parameters["read"] = total
        parameters["copied"] = copied
        _audit(config, who, OperatorAction.COPY_EVENTS, name, parameters, "ok", note)
    destination = target or str(to_file)
    if json:
        emit_json(
            {
                "source": name,
                "to": destination,
                "dry_run": dry_run,
                "ranges": [r.as_dict() for r in ranges],
                "would_read" if dry_run else "read": total,
                "copied": None if dry_run else copied,
            }
        )
    elif dry_run:
        _out.print(f"would read {total} record(s) of {name} for {destination}", highlight=False)
    else:
        _out.print(
            f"copied {copied} of {total} record(s) of {name} to {destination}", highlight=False
        )


# --- run --------------------------------------------------------------------------------------


@app.command("run")
def run_oms(
    logs: Annotated[
        Path | None,
        typer.Option("--logs", help="Where each service's log goes (default: .stack/run-logs)."),
    ] = None,
    service: ServicesOpt = None,
    no_stack: Annotated[
        bool,
        typer.Option(
            "--no-stack",
            help="Do not start the local stack: use KAFKA_BOOTSTRAP_SERVERS and "
            "OMS_<SERVICE>_DATABASE_URL from the environment.",
        ),
    ] = False,
    ready_timeout: Annotated[
        float, typer.Option("--ready-timeout", help="Seconds to wait for every service.")
    ] = 180.0,
) -> None:
    """Run the OMS here: the local stack, its topics, and every service as a supervised
    process until Ctrl-C or SIGTERM.

    Each worker logs to a file; one that exits is started again after 1, 2, 4... up to 30 s;
    readiness is each service's /health (database up, partitions assigned). Ctrl-C or
    SIGTERM stops every worker (SIGKILL after 20 s). Exits 1 when the stack fails or a
    service is not ready in time (everything started is stopped)."""
    from oms_ops.supervisor import Supervisor, Worker  # aiohttp, as for status

    try:
        repo = local.find_repo()
    except FileNotFoundError as exc:
        _err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(Exit.USAGE) from None
    environ = dict(os.environ)
    if not no_stack:
        up = subprocess.run([str(repo / "deploy" / "local" / "stack"), "up"], check=False)
        if up.returncode != 0:
            _err.print("[red]error:[/red] deploy/local/stack up failed (see above)")
            raise typer.Exit(Exit.ERROR)
        environ.update(local.stack_env(repo))
    config = OpsConfig.from_env(environ)
    try:
        names = [s.name for s in config.selected(service)]
        databases = {name: config.database_url(name) for name in names}
    except UsageError as exc:
        _err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(Exit.USAGE) from None
    ports = local.free_ports(
        {n: _port(config.service(n).url) for n in names if f"OMS_{_var(n)}_URL" not in environ}
    ) | {n: _port(config.service(n).url) for n in names if f"OMS_{_var(n)}_URL" in environ}
    log_dir = logs or repo / ".stack" / "run-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    api_key = environ.get("OMS_RUN_API_KEY") or secrets.token_urlsafe(24)
    key_file = log_dir / "api-key"
    key_file.touch(mode=0o600)
    key_file.chmod(0o600)
    key_file.write_text(api_key + "\n")
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    # The workers get the environment (their own OMS_ settings pass through) but what
    # this command reads for itself.
    own = {"OMS_SERVICES", "OMS_RUN_API_KEY", "OMS_REPO", "OMS_OPERATOR"} | {
        f"OMS_{_var(n)}_{what}" for n in config.services for what in ("URL", "DATABASE_URL")
    }
    base = {k: v for k, v in environ.items() if k not in own}
    workers = [
        Worker(
            name=name,
            env=local.worker_env(
                name,
                repo=repo,
                bootstrap=config.bootstrap,
                database_url=databases[name],
                port=ports[name],
                topic_prefix=config.topic_prefix,
                group_suffix=config.group_suffix,
                api_key_digest=digest,
                base=base,
            ),
            log=log_dir / f"{name}.log",
            url=f"http://127.0.0.1:{ports[name]}",
        )
        for name in names
    ]

    def say(line: str) -> None:
        _out.print(line, highlight=False, soft_wrap=True)

    async def work() -> int:
        async with Broker.connect(config.kafka, wait_s=30) as broker:
            wanted = registry.wanted_topics(config.topic_prefix)
            present = await broker.topics()
            failed = await registry.create_missing(
                broker.admin, [w for w in wanted if w.name not in present]
            )
            if failed:
                raise _Failed(Exit.ERROR, f"creating topics: {failed}")
        supervisor = Supervisor(workers, say=say)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, supervisor.request_stop)
        try:
            await supervisor.start()
            late = await supervisor.wait_ready(ready_timeout)
            if late and not supervisor.stopping:
                say(f"not ready after {ready_timeout:g}s: {', '.join(late)} (see their logs)")
                return Exit.ERROR
            if not late:
                say(
                    f"all {len(workers)} services ready; the channel {local.DEFAULT_CHANNEL!r} "
                    f"API key is in {key_file}; Ctrl-C stops them"
                )
            await supervisor.supervise()
            return Exit.OK
        finally:
            await supervisor.stop()
            say("stopped every service")

    code = _run(work)
    if code:
        raise typer.Exit(code)


def _var(service: str) -> str:
    return service.upper().replace("-", "_")


def _port(url: str) -> int:
    return urlsplit(url).port or 80


# --- audit ------------------------------------------------------------------------------------


def _audit(
    config: OpsConfig,
    operator: str,
    action: OperatorAction,
    subject: str,
    parameters: dict[str, object],
    outcome: str,
    note: str,
) -> None:
    """Publish the action; a change the audit trail misses is an error (exit 1)."""
    envelope = audit_event(
        operator=operator,
        action=action,
        subject=subject,
        parameters=parameters,
        outcome=outcome,
        reason=note,
    )
    try:
        asyncio.run(record_action(config, envelope))
    except (KafkaError, OSError, TimeoutError, UsageError) as exc:
        _err.print(
            f"[red]error:[/red] done, but the audit event was not published: "
            f"{type(exc).__name__}: {exc}"
        )
        raise typer.Exit(Exit.ERROR) from None


def _audit_quietly(
    config: OpsConfig,
    operator: str,
    action: OperatorAction,
    subject: str,
    parameters: dict[str, object],
    outcome: str,
    note: str,
) -> None:
    """Record a refused or failed attempt; the command's own error is what it reports (a
    broker the settings cannot reach included: nothing is recorded then)."""
    try:
        _ = config.kafka
    except UsageError:
        return  # the command has said what is wrong with the settings
    try:
        _audit(config, operator, action, subject, parameters, outcome, note)
    except typer.Exit:
        pass


def main() -> None:
    # aiokafka logs every coordinator hiccup; an operator's terminal wants the command's answer.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    app(prog_name="oms")
