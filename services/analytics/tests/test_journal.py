"""The journal on dicts: the tables as views of one store with the event under way's writes
held back, and every crash a changelog can leave (any prefix of each partition's records)
recovered to exactly the state of a reading without a crash, by every use case at once."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from oms_analytics.domain.stuck import FlowStatus, StuckPolicy
from oms_analytics.domain.windows import Granularity
from oms_analytics.service_layer.counting import Counting, Read
from oms_analytics.service_layer.funds import Funds
from oms_analytics.service_layer.journal import Journal
from oms_analytics.service_layer.stock import Stock
from oms_analytics.service_layer.stuck import Outcome, StuckOrders
from oms_analytics.service_layer.tracking import Analytics
from oms_events.registry import EventPayload
from oms_events.returns import ReturnReason
from tests.support.analytics import (
    accepted,
    at,
    authorized,
    back_in_stock,
    canceled,
    captured,
    completed,
    envelope,
    fulfilment_created,
    out_of_stock,
    refunded,
    return_requested,
    shipped,
    stock_committed,
    voided,
)

Record = tuple[int, str, Any]
"""A changelog record: partition, key, value (None: a tombstone)."""
PARTITIONS = 2
BATCH = 3


class ChangelogStore(dict[str, Any]):
    """A dict that logs each write sent to a changelog partition as a record (a write
    straight to the dict, a test's set-up, as one of partition -1)."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[Record] = []

    def __setitem__(self, key: str, value: Any) -> None:
        self.log.append((-1, key, value))
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.log.append((-1, key, None))
        super().__delitem__(key)

    def send(self, partition: int, key: str, value: Any) -> None:
        self.log.append((partition, key, value))
        if value is None:
            super().pop(key, None)
        else:
            super().__setitem__(key, value)

    @classmethod
    def recovered(cls, records: list[Record]) -> ChangelogStore:
        """A store as faust recovers it from ``records``: the last value of each key."""
        store = cls()
        for _, key, value in records:
            if value is None:
                dict.pop(store, key, None)
            else:
                dict.__setitem__(store, key, value)
        return store


class Worker:
    """The use cases on one store, as the worker wires them."""

    def __init__(self, store: ChangelogStore) -> None:
        self.store = store
        self.journal = Journal(store, store.send)
        table = self.journal.table
        self.analytics = Analytics(
            table("orders"),
            table("windows"),
            table("marks"),
            grace=timedelta(minutes=30),
            locations=table("locations"),
        )
        self.funds = Funds(table("ledgers"), table("funds"))
        # Thresholds the stream passes: stays reported stuck and cleared.
        self.stuck = StuckOrders(table("stays"), StuckPolicy.of_seconds({FlowStatus.PENDING: 1800}))
        self.stock = Stock(table("stock"), lambda: None)
        self.counting = Counting(
            self.journal,
            self.analytics,
            self.funds,
            self.stuck,
            self.stock,
            ("oms.orders", "oms.payments", "oms.shipments", "oms.returns"),
            "oms.inventory",
        )
        self.alerts: list[str] = []

    async def _publish(self, outcome: Outcome) -> None:
        self.alerts += [type(alert).__name__ for alert in outcome.alerts]
        self.stuck.apply(outcome)

    async def read(self, events: list[Event], torn: int | None = None) -> None:
        """In batches of ``BATCH``, as the worker takes them; batch number ``torn`` with only
        its first journal record and first write sent."""
        for start in range(0, len(events), BATCH):
            reads = [
                Read(name, partition, offset, envelope(payload, when), payload)
                for name, partition, offset, payload, when in events[start : start + BATCH]
            ]
            keep = 2 if torn == start // BATCH else None
            await self.counting.count(reads, self._publish, keep)

    def tables(self) -> dict[str, Any]:
        return {key: value for key, value in self.store.items() if not key.startswith("journal/")}


Event = tuple[str, int, int, EventPayload, Any]
"""Topic, partition, offset, payload, event time."""


def _stream() -> list[Event]:
    """Six orders over two partitions and the stock, in the order a worker reads them:
    placed, paid, shipped with stock committed, captured (once twice), completed; one
    canceled and voided, one returned and refunded, one left accepted past its threshold;
    read in event time, so none is late."""
    timed: list[tuple[str, int, EventPayload, Any]] = []

    def read(name: str, partition: int, payload: EventPayload, when: Any) -> None:
        timed.append((name, partition, payload, when))

    for n in range(6):
        order, partition = f"O{n}", n % PARTITIONS
        placed = at("09:00") + timedelta(minutes=10 * n)
        read("oms.orders", partition, accepted(order, ("web", "app")[n % 2], 1000 + n), placed)
        read("oms.payments", partition, authorized(order, 1000 + n), placed)
        if n == 1:
            read("oms.orders", partition, canceled(order, placed), placed + timedelta(minutes=5))
            read("oms.payments", partition, voided(order, 1001), placed + timedelta(minutes=6))
            continue
        if n == 0:
            continue  # left accepted: stuck by the watermark the others move
        sent = placed + timedelta(minutes=40)
        read("oms.sourcing", partition, fulfilment_created(order, "WH-1", sent), placed)
        read("oms.shipments", partition, shipped(order, sent, "WH-1"), sent)
        # A SKU at a location is a key of one partition, as the topic's key makes it.
        sku = f"SKU-{partition}"
        read("oms.inventory", partition, stock_committed(sku, "WH-1", order, 2), sent)
        capture = captured(order, f"c{n}", 1000 + n, 1000 + n)
        read("oms.payments", partition, capture, sent)
        if n == 2:
            read("oms.payments", partition, capture, sent)  # delivered twice
        done = sent + timedelta(hours=2)
        read("oms.orders", partition, completed(order, done), done)
        if n == 3:
            asked = done + timedelta(minutes=30)
            returned = return_requested(order, "r3", "web", {ReturnReason.DAMAGED: 1})
            read("oms.returns", partition, returned, asked)
            read("oms.payments", partition, refunded(order, "f3", 500, 500), asked)
    read("oms.inventory", 1, out_of_stock("SKU-1", "WH-1", at("09:30")), at("09:30"))
    read("oms.inventory", 1, back_in_stock("SKU-1", "WH-1"), at("10:30"))
    offsets: dict[tuple[str, int], int] = {}
    events: list[Event] = []
    for name, partition, payload, when in sorted(timed, key=lambda event: event[3]):
        offset = offsets.get((name, partition), 0)
        offsets[(name, partition)] = offset + 1
        events.append((name, partition, offset, payload, when))
    return events


async def _clean() -> tuple[Worker, list[Event]]:
    events = _stream()
    worker = Worker(ChangelogStore())
    await worker.read(events)
    return worker, events


async def _after_crash(kept: list[Record], events: list[Event]) -> Worker:
    """A worker started on the tables recovered from ``kept``, reading every event again
    (whatever offsets were committed, those before are in ``kept``)."""
    worker = Worker(ChangelogStore.recovered(kept))
    worker.journal.recover(range(PARTITIONS))
    await worker.read(events)
    return worker


async def _torn_in_the_middle(events: list[Event]) -> Worker:
    """A worker that read half the events, the last batch with one journal record and one
    write sent."""
    torn = Worker(ChangelogStore())
    batches = len(events) // BATCH // 2
    await torn.read(events[: batches * BATCH], torn=batches - 1)
    return torn


def _prefixes(log: list[Record], cuts: dict[int, int]) -> list[Record]:
    """The first ``cuts[p]`` records of each partition ``p``."""
    seen: dict[int, int] = {}
    kept = []
    for record in log:
        partition = record[0]
        seen[partition] = seen.get(partition, 0) + 1
        if seen[partition] <= cuts[partition]:
            kept.append(record)
    return kept


async def test_the_stream_counts_every_figure_the_crash_tests_compare() -> None:
    clean, _ = await _clean()
    tables = {key.partition("/")[0] for key in clean.tables()}
    assert tables == {
        "orders",
        "windows",
        "locations",
        "marks",
        "ledgers",
        "funds",
        "stays",
        "stock",
    }
    assert "Detected" in clean.alerts  # the order left accepted, reported stuck
    daily = clean.analytics.daily(None, None, None)["days"]
    assert sum(day["orders_placed"] for day in daily) == 6
    assert sum(day["cancellations"] for day in daily) == 1
    assert clean.analytics.late_dropped(Granularity.HOUR) == 0


async def test_every_crash_of_one_partition_recovers_to_the_clean_state() -> None:
    clean, events = await _clean()
    log = clean.store.log
    for partition in range(PARTITIONS):
        mine = sum(1 for record in log if record[0] == partition)
        assert mine > 60  # many batches' writes to cut through
        for cut in range(mine + 1):
            cuts = {p: (cut if p == partition else len(log)) for p in range(PARTITIONS)}
            crashed = await _after_crash(_prefixes(log, cuts), events)
            assert crashed.tables() == clean.tables(), f"partition {partition} cut at {cut}"


async def test_crashes_of_both_partitions_at_once_recover_to_the_clean_state() -> None:
    clean, events = await _clean()
    log = clean.store.log
    sizes = [sum(1 for record in log if record[0] == p) for p in range(PARTITIONS)]
    rng = random.Random(7)
    for _ in range(200):
        cuts = {p: rng.randrange(sizes[p] + 1) for p in range(PARTITIONS)}
        crashed = await _after_crash(_prefixes(log, cuts), events)
        assert crashed.tables() == clean.tables(), f"cut at {cuts}"


async def test_a_torn_commit_of_the_worker_recovers_and_a_second_reading_counts_nothing() -> None:
    clean, events = await _clean()
    torn = await _torn_in_the_middle(events)
    assert torn.tables() != clean.tables()
    crashed = await _after_crash(torn.store.log, events)
    assert crashed.tables() == clean.tables()
    log_before = len(crashed.store.log)
    await crashed.read(events)  # every event read once more: all seen
    assert len(crashed.store.log) == log_before


async def test_without_the_journal_written_again_a_torn_event_loses_figures() -> None:
    """The recovery is what completes a torn event: without it the state differs (so the
    tests above would see a recovery that did nothing)."""
    clean, events = await _clean()
    torn = await _torn_in_the_middle(events)
    crashed = Worker(ChangelogStore.recovered(torn.store.log))
    await crashed.read(events)
    assert crashed.tables() != clean.tables()


def test_a_table_view_reads_its_event_s_writes_before_they_are_committed() -> None:
    store = ChangelogStore()
    journal = Journal(store, store.send)
    windows, orders = journal.table("windows"), journal.table("orders")
    windows["a"] = 1  # outside an event: straight to the store
    assert store == {"windows/a": 1}
    journal.begin()
    journal.reading(0)
    windows["b"] = 2
    orders["a"] = 3
    del windows["a"]
    assert dict(windows) == {"b": 2} and dict(orders) == {"a": 3} and len(windows) == 1
    assert "a" not in windows and store == {"windows/a": 1}  # held back
    with pytest.raises(KeyError):
        del windows["zzz"]
    journal.counted("oms.orders", 0, 41)
    assert journal.commit() == 3
    assert store["journal/0"] == {
        "applied": {"oms.orders": 41},
        "writes": {"windows/b": 2, "orders/a": 3},
        "gone": ["windows/a"],
    }
    assert [key for _, key, _ in store.log] == [
        "windows/a",
        "journal/0",
        "windows/b",
        "orders/a",
        "windows/a",
    ]
    assert dict(windows) == {"b": 2} and journal.sizes() == {"windows": 1, "orders": 1}
    assert journal.seen("oms.orders", 0, 41) and not journal.seen("oms.orders", 0, 42)
    assert not journal.seen("oms.payments", 0, 0) and not journal.seen("oms.orders", 1, 0)


def test_a_batch_that_failed_or_wrote_nothing_leaves_no_record_but_its_offsets_are_kept() -> None:
    store = ChangelogStore()
    journal = Journal(store, store.send)
    windows = journal.table("windows")
    journal.begin()
    journal.reading(1)
    windows["a"] = 1
    journal.counted("oms.orders", 1, 2)
    journal.abandon()
    assert store == {} and dict(windows) == {}
    assert not journal.seen("oms.orders", 1, 2)  # not counted after all
    journal.begin()
    journal.counted("oms.payments", 1, 7)
    assert journal.commit() == 0 and store.log == []
    journal.begin()
    journal.reading(1)
    windows["a"] = 1
    journal.counted("oms.orders", 1, 3)
    journal.commit()
    assert store["journal/1"]["applied"] == {"oms.payments": 7, "oms.orders": 3}
    assert Journal(store, store.send).seen("oms.payments", 1, 7)  # read back from the store


def test_a_batch_writes_each_key_once_to_the_partition_of_the_event_that_wrote_it() -> None:
    store = ChangelogStore()
    journal = Journal(store, store.send)
    windows = journal.table("windows")
    journal.begin()
    for partition, value in ((0, 1), (1, 2), (0, 3)):
        journal.reading(partition)
        windows[f"p{partition}"] = value
    assert journal.commit() == 2
    assert store.log == [
        (0, "journal/0", {"applied": {}, "writes": {"windows/p0": 3}, "gone": []}),
        (0, "windows/p0", 3),
        (1, "journal/1", {"applied": {}, "writes": {"windows/p1": 2}, "gone": []}),
        (1, "windows/p1", 2),
    ]


def test_the_expiry_takes_a_key_out_of_the_journal_before_its_tombstone() -> None:
    store = ChangelogStore()
    journal = Journal(store, store.send)
    orders = journal.table("orders")
    journal.begin()
    journal.reading(0)
    orders["a"] = 1
    orders["b"] = 2
    journal.counted("oms.orders", 0, 5)
    journal.commit()
    journal.delete("orders", "a", [0])
    assert store.log[-2:] == [
        (0, "journal/0", {"applied": {"oms.orders": 5}, "writes": {"orders/b": 2}, "gone": []}),
        (0, "orders/a", None),
    ]
    recovered = ChangelogStore.recovered(store.log)
    Journal(recovered, recovered.send).recover([0])
    assert "orders/a" not in recovered and recovered["orders/b"] == 2
