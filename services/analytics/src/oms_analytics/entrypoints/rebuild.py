"""``python -m oms_analytics rebuild``: the worker's state counted again from the source topics,
with side effects off, into a fresh database; started by ``oms rebuild analytics``.

The live changelog is read first and recovered as a worker recovers it (:func:`recovered`);
the stop offsets (the live group's committed ones) move past events its journal lists as
counted but not committed (:func:`counted_stops`). Then the worker's own counting
(``service_layer/use_cases.py``: the same use cases over a dict in memory instead of a faust
table) reads each source partition from its first record to its stop, in the order of the
records' timestamps across topics, as the runtime's rebuild does (``oms_runtime.run_rebuild``).
No alert is sent (a stay is kept as reported, as after a sent alert) and no changelog record
written. As the worker does, the history goes to the fresh database and the expiry runs
(every day of event time, :class:`_Expiring`). The state is kept in that database
(``analytics_rebuilt_state``) and compared, table by table, with the recovered live state
after the same expiry pass; the history tables are compared by ``oms rebuild`` itself. Left
out: the journal keys (where each partition's last batch ended, which depends on the
batches) and a funds day's count of changes (it depends on the order the topics were read
in).

``python -m oms_analytics rebuild-swap`` then writes the rebuilt state to the live changelog:
per partition a journal record that lists every event before the stops as counted and no
writes (a recovery then writes nothing of the live worker's last batch again), and every key
whose value differs. ``oms rebuild --swap`` runs it only with the workers stopped and the live
group's offsets where the rebuild stopped; the history database is swapped after it.
"""

from __future__ import annotations

import gc
import hashlib
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from oms_analytics.adapters import MIGRATIONS
from oms_analytics.adapters.changelog import (
    Held,
    by_table,
    canonical,
    changelog_topic,
    digest,
    read_changelog,
    write_changelog,
)
from oms_analytics.adapters.history import write_history
from oms_analytics.config import AnalyticsSettings
from oms_analytics.entrypoints.streams import ORDER_TOPICS, SOURCE_TOPICS
from oms_analytics.service_layer.counting import Read, read_of
from oms_analytics.service_layer.journal import JOURNAL, Journal
from oms_analytics.service_layer.stuck import Outcome
from oms_analytics.service_layer.use_cases import TABLES, UseCases, compose
from oms_events.codec import InvalidEvent
from oms_events.topics import topic
from oms_runtime import (
    ConsumedRecord,
    apply_migrations,
    check_rebuild_target,
    create_pool,
    run_rebuild,
)

__all__ = [
    "HISTORY_TABLES",
    "STATE_TABLE",
    "MemoryState",
    "NotRebuildable",
    "compare_states",
    "compare_with_live",
    "counted_stops",
    "describe",
    "journals_at",
    "rebuild",
    "recovered",
    "swap",
]

_PARTITIONS = topic(ORDER_TOPICS[0]).partitions
"""The source topics' partitions, and the changelog's."""
EXPIRY_STEP = timedelta(days=1)
"""How far the event time moves on between two of a rebuild's expiry passes (_Expiring)."""

HISTORY_TABLES = (
    "analytics_funds_orders",
    "analytics_funds_days",
    "analytics_daily_days",
    "analytics_daily_location_days",
)
_WRITTEN = {"updated_at": "when the worker wrote the row"}
_CHANGES = (
    "a count of the day's changes, which grows also when an order is flagged and unflagged "
    "as its money events of different topics arrive: it depends on the order the topics "
    "were read in (a swap writes it; it only orders the worker's writes of the row)"
)
_HISTORY_EXCLUDED = {"analytics_funds_days": {**_WRITTEN, "version": _CHANGES}}
_STATE_EXCLUDED = {"funds": ("version", _CHANGES)}
"""Per state table: the field of its values left out of the comparison, and why."""
STATE_TABLE = "analytics_rebuilt_state"
"""The rebuilt state in the rebuild database: per key its changelog partition and value."""
_STATE_DDL = (
    f"CREATE TABLE {STATE_TABLE} (key text PRIMARY KEY, changelog_partition integer NOT NULL,"
    " value jsonb NOT NULL)"
)
_SIDE_EFFECTS = {
    "stuck-order alerts (oms.analytics-alerts)": "not sent; the stay is kept as reported, "
    "as after a sent alert",
    "the changelog topic": "not written; the state is kept in the rebuild database "
    f"({STATE_TABLE}) and written to the changelog by a swap",
}


def _source_names(settings: AnalyticsSettings) -> list[str]:
    return [topic(name).full_name(settings.topic_prefix) for name in SOURCE_TOPICS]


def describe(settings: AnalyticsSettings) -> dict[str, Any]:
    """What a rebuild reproduces, as ``oms rebuild`` reads it (``rebuild-spec``)."""
    return {
        "service": "analytics",
        "rebuildable": True,
        "topics": _source_names(settings),
        "recorded_topics": [],
        "tables": [
            {"name": name, "excluded": _HISTORY_EXCLUDED.get(name, _WRITTEN)}
            for name in HISTORY_TABLES
        ],
        "seeded": [],
        "side_effects": dict(_SIDE_EFFECTS),
        # No runtime outbox to drain before a swap; the state is a changelog topic, which
        # the service compares and swaps itself.
        "outbox": False,
        "state": {
            "changelog": changelog_topic(settings),
            "tables": list(TABLES),
            "excluded": {JOURNAL: "where each partition's last batch ended: the batches'"},
        },
    }


class MemoryState:
    """A store in memory as a journal writes it: the values, and each key's changelog
    partition (the source partition it was written from)."""

    def __init__(self, held: Held | None = None) -> None:
        self.held: Held = dict(held or {})
        self.store: dict[str, Any] = {key: value for key, (_, value) in self.held.items()}

    def send(self, partition: int, key: str, value: Any) -> None:
        if value is None:
            self.store.pop(key, None)
            self.held.pop(key, None)
        else:
            self.store[key] = value
            self.held[key] = (partition, value)

    def use_cases(self, settings: AnalyticsSettings) -> tuple[UseCases, Journal]:
        # Read to the stop offsets: nothing is left behind when the expiry runs.
        journal = Journal(self.store, self.send)
        names = _source_names(settings)
        return compose(settings, journal, names, _PARTITIONS, lambda _: set()), journal

    def expire(self, settings: AnalyticsSettings) -> dict[str, int]:
        """One pass of the worker's expiry (its event-time "now" the state's watermarks)."""
        uses, journal = self.use_cases(settings)
        return uses.expiry.sweep(journal.deleter(_PARTITIONS))


class _Expiring:
    """The worker's expiry in a rebuild: a pass whenever the latest event time read has moved
    on by ``EXPIRY_STEP``, each after the history is written, as the worker's waits for its
    history. The live worker's passes come every minute of the clock, about a minute of
    event time when it keeps up; a pass costs a walk over every key, so the rebuild's come
    a day apart: the minute windows (kept 48 hours) stay bounded in memory, and an event
    that comes after its order's facts expired (35 days) starts them anew as it did live,
    unless it comes within that day."""

    def __init__(self, uses: UseCases, journal: Journal, pool: asyncpg.Pool) -> None:
        self.uses = uses
        self.delete = journal.deleter(_PARTITIONS)
        self.pool = pool
        self.expired: Counter[str] = Counter()
        self._last: datetime | None = None

    async def due(self, reads: Sequence[Read]) -> None:
        """After a run: a pass if the run's latest event time is a step past the last one
        (only then are the partitions' watermarks read, as the expiry's "now")."""
        latest = max((read.envelope.time for read in reads), default=None)
        if latest is None or (self._last is not None and latest - self._last < EXPIRY_STEP):
            return
        now = self.uses.expiry.now(None)
        if now is not None and (self._last is None or now - self._last >= EXPIRY_STEP):
            await self.sweep()
            self._last = now

    async def sweep(self) -> None:
        await _write_history(self.pool, self.uses)
        self.expired.update(self.uses.expiry.sweep(self.delete))


class _Counter:
    """The worker's counting as a rebuild's processor of one topic's runs of records."""

    def __init__(self, uses: UseCases, expiring: _Expiring) -> None:
        self.uses = uses
        self.expiring = expiring
        self.undecodable = 0

    async def prepare(self, records: Sequence[ConsumedRecord]) -> list[Read]:
        reads = []
        for record in records:
            try:
                reads.append(read_of(record.topic, record.partition, record.offset, record.value))
            except InvalidEvent:  # the worker logs it and skips it: so does the rebuild
                self.undecodable += 1
        return reads

    async def process(self, records: Sequence[ConsumedRecord], prepared: list[Read]) -> None:
        await self.uses.counting.count(prepared, self._keep_stays)
        await self.expiring.due(prepared)

    async def _keep_stays(self, outcome: Outcome) -> None:
        self.uses.stuck.apply(outcome)  # no alert sent: the live worker sent it


async def rebuild(
    settings: AnalyticsSettings,
    stop_at: Mapping[tuple[str, int], int],
    *,
    seed_from: str | None,
    report: Callable[[int], None],
) -> dict[str, Any]:
    dsn = settings.database_url.get_secret_value()
    await check_rebuild_target(dsn, seed_from)
    # The live state first: a worker stopped uncleanly may have counted (and written to its
    # changelog) events past its committed offsets; the rebuild counts them too.
    live = recovered(await read_changelog(settings, changelog_topic(settings)))
    gc.freeze()  # kept to the end: out of the collector's walks while the rebuild counts
    stops = counted_stops(stop_at, live)
    memory = MemoryState()
    uses, journal = memory.use_cases(settings)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,
        client_id="oms-analytics-rebuild",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.rebuild_batch_max,
        **settings.aiokafka_security(),
    )
    pool = await create_pool(dsn, 2)
    try:
        await apply_migrations(pool, {"analytics": MIGRATIONS})
        expiring = _Expiring(uses, journal, pool)
        counter = _Counter(uses, expiring)
        started = time.monotonic()
        await consumer.start()
        _refuse_stops_past_the_end(stops, await consumer.end_offsets(list(map(_tp, stops))))
        read = await run_rebuild(
            consumer=consumer,
            processors={name: counter for name in {t for t, _ in stops}},
            stop_at=stops,
            batch_max=settings.rebuild_batch_max,
            report=report,
        )
        seconds = time.monotonic() - started
        await expiring.sweep()
        rebuilt = {key: (p, canonical(value)) for key, (p, value) in memory.held.items()}
        rebuilt.update(journals_at(stops))
        await _keep_state(pool, rebuilt)
    finally:
        await consumer.stop()
        await pool.close()
    compared, differing = compare_with_live(settings, live, rebuilt)
    return {
        "events": read,
        "counted_past_committed": sum(stops.values()) - sum(stop_at.values()),
        "seconds": round(seconds, 3),
        "undecodable": counter.undecodable,
        "expired": {table: n for table, n in expiring.expired.items() if n},
        "compared": compared,
        "state_differences": differing,
    }


class NotRebuildable(Exception):
    """The live state cannot be counted again from the topics as they are: why."""


def _tp(key: tuple[str, int]) -> TopicPartition:
    return TopicPartition(*key)


def _refuse_stops_past_the_end(
    stops: Mapping[tuple[str, int], int], ends: Mapping[TopicPartition, int]
) -> None:
    """A journal that lists events past a log's end counted them from a log that is gone (a
    source topic recreated while the changelog was kept): nothing reads them again."""
    past = [f"{t}[{p}] to {o}, ends at {ends[_tp((t, p))]}" for (t, p), o in sorted(stops.items())
            if o > ends[_tp((t, p))]]  # fmt: skip
    if past:
        raise NotRebuildable(
            "the live changelog counted events past the end of their topic's log (was the "
            f"topic recreated?): {', '.join(past[:5])}"
        )


def recovered(changelog: Held) -> Held:
    """The state a worker recovers from this changelog: the last value of each key, and the
    last batch of each partition written again from its journal record (``Journal.recover``:
    a worker killed while sending may have torn it)."""
    memory = MemoryState(changelog)
    Journal(memory.store, memory.send).recover(range(_PARTITIONS))
    return memory.held


def counted_stops(stop_at: Mapping[tuple[str, int], int], live: Held) -> dict[tuple[str, int], int]:
    """The stop offsets, each moved past the last event the live journal lists as counted:
    events a worker counted and wrote to its changelog before it could commit them are in
    the live state (a worker started again skips them), so the rebuild counts them too."""
    stops = dict(stop_at)
    for key, (_, value) in live.items():
        if key.startswith(f"{JOURNAL}/"):
            partition = int(key.partition("/")[2])
            for name, offset in value["applied"].items():
                if (name, partition) in stops:
                    stops[(name, partition)] = max(stops[(name, partition)], offset + 1)
    return stops


def journals_at(stops: Mapping[tuple[str, int], int]) -> Held:
    """Per source partition, the journal record a swap writes: every event before the stop
    offsets counted (a worker started on the rebuilt state skips those it reads again),
    no batch to write again."""
    applied: dict[int, dict[str, int]] = {}
    for (name, partition), stop in stops.items():
        if stop > 0:
            applied.setdefault(partition, {})[name] = stop - 1
    return {
        f"{JOURNAL}/{partition}": (partition, {"applied": offsets, "writes": {}, "gone": []})
        for partition, offsets in applied.items()
    }


async def _write_history(pool: asyncpg.Pool, uses: UseCases) -> None:
    """The history rows of every key changed since the last write (from an empty state, at
    first: every key), as the worker writes them."""
    ledgers, days = uses.funds.take_changes()
    daily = uses.analytics.take_changes()
    await write_history(pool, ledgers, days, daily)
    uses.funds.written(ledgers, days)
    uses.analytics.written(daily)


async def _keep_state(pool: asyncpg.Pool, state: Held) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_STATE_DDL)
        await conn.copy_records_to_table(
            STATE_TABLE,
            records=[(k, p, orjson.dumps(v).decode()) for k, (p, v) in state.items()],
            columns=["key", "changelog_partition", "value"],
        )


def _compared(table: str, value: Any) -> Any:
    """The value less the field the comparison leaves out of this table."""
    left_out = _STATE_EXCLUDED.get(table)
    if left_out is None or not isinstance(value, dict):
        return value
    return {k: v for k, v in value.items() if k != left_out[0]}


def _sum(table: str, keys: Sequence[str], state: Held) -> dict[str, Any]:
    hashes = sorted(digest(key, _compared(table, state[key][1])) for key in keys)
    total = hashlib.md5("".join(hashes).encode(), usedforsecurity=False).hexdigest()
    return {"rows": len(keys), "checksum": total if keys else "-"}


def compare_with_live(
    settings: AnalyticsSettings, live: Held, rebuilt: Held
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """:func:`compare_states` after one expiry pass over the live state (as recovered): the
    live worker's last pass may be up to ``OMS_ANALYTICS_EXPIRY_INTERVAL_S`` old, and a key
    it was about to delete is no difference."""
    expired = MemoryState(live)
    expired.expire(settings)
    return compare_states(expired.held, rebuilt)


def compare_states(live: Held, rebuilt: Held) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Per table: rows and checksum of the live and the rebuilt state (the journal left out),
    and up to five keys that differ (missing on one side or with another value)."""
    live_keys, rebuilt_keys = by_table(live, TABLES), by_table(rebuilt, TABLES)
    compared, differing = [], {}
    for table in TABLES:
        left_out = _STATE_EXCLUDED.get(table)
        compared.append(
            {
                "table": f"state/{table}",
                "live": _sum(table, live_keys[table], live),
                "rebuilt": _sum(table, rebuilt_keys[table], rebuilt),
                "excluded": dict([left_out]) if left_out else {},
            }
        )
        keys = sorted(set(live_keys[table]) | set(rebuilt_keys[table]))
        odd = [
            k
            for k in keys
            if _compared(table, _value(live, k)) != _compared(table, _value(rebuilt, k))
        ]
        if odd:
            differing[table] = odd[:5]
    return compared, differing


def _value(state: Held, key: str) -> Any:
    held = state.get(key)
    return None if held is None else held[1]


async def swap(settings: AnalyticsSettings, *, seed_from: str | None) -> dict[str, int]:
    """Write the rebuilt state kept in this rebuild database (``OMS_DATABASE_URL``) to the
    live changelog: per partition the rebuild's journal record first (no writes), then each
    key whose value differs from what a worker would recover (a deleted one as a tombstone).
    The state table is dropped once written: the database is about to become the live one.
    How many journal records and keys were written."""
    dsn = settings.database_url.get_secret_value()
    await check_rebuild_target(dsn, seed_from)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(f"SELECT key, changelog_partition, value FROM {STATE_TABLE}")
        rebuilt: Held = {
            r["key"]: (r["changelog_partition"], orjson.loads(r["value"])) for r in rows
        }
        name = changelog_topic(settings)
        live = recovered(await read_changelog(settings, name))
        journals = [
            (partition, key, value)
            for key, (partition, value) in sorted(rebuilt.items())
            if key.startswith(f"{JOURNAL}/")
        ]
        changed: list[tuple[int, str, Any]] = []
        for key in sorted(set(live) | set(rebuilt)):
            if key.startswith(f"{JOURNAL}/") or _value(live, key) == _value(rebuilt, key):
                continue
            partition = (rebuilt.get(key) or live[key])[0]
            changed.append((partition, key, _value(rebuilt, key)))
        await write_changelog(settings, name, [*journals, *changed])
        await conn.execute(f"DROP TABLE {STATE_TABLE}")
    finally:
        await conn.close()
    return {"journal_records": len(journals), "keys_written": len(changed)}
