"""A rebuild applies the records of every partition in timestamp order: no broker needed."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any, NamedTuple

import pytest
from aiokafka import TopicPartition
from structlog.testing import capture_logs

from oms_runtime import (
    CompareTable,
    ConsumedRecord,
    RebuildRefused,
    RebuildSpec,
    RuntimeSettings,
    SeedTable,
    ServiceRuntime,
    Subscription,
)
from oms_runtime._rebuild import (
    RebuildStalled,
    RebuildTargetRefused,
    _Applying,
    _runs,
    check_target,
    merged_order,
    run_rebuild,
)


class _Record(NamedTuple):
    topic: str
    partition: int
    offset: int
    timestamp: int


def _buffers(**partitions: list[int]) -> dict[str, deque[Any]]:
    """Per partition (named topic_partition), records with these timestamps."""
    return {
        name: deque(
            _Record(name.rsplit("_", 1)[0], int(name.rsplit("_", 1)[1]), offset, ts)
            for offset, ts in enumerate(stamps)
        )
        for name, stamps in partitions.items()
    }


def test_records_of_all_partitions_are_taken_in_timestamp_order() -> None:
    buffers = _buffers(feed_0=[10, 30], requests_0=[20, 40], requests_1=[5])
    taken = merged_order(buffers, finished={"requests_1"}, limit=10)
    # requests_1 is finished once its one record is taken; the others are not: the merge
    # stops when one of them has nothing buffered (its next record could come first).
    assert [(r.topic, r.partition, r.timestamp) for r in taken] == [
        ("requests", 1, 5),
        ("feed", 0, 10),
        ("requests", 0, 20),
        ("feed", 0, 30),
    ]
    assert [r.timestamp for r in buffers["requests_0"]] == [40]


def test_the_merge_takes_no_more_than_the_limit() -> None:
    buffers = _buffers(a_0=[1, 2, 3])
    assert [r.timestamp for r in merged_order(buffers, finished={"a_0"}, limit=2)] == [1, 2]
    assert [r.timestamp for r in merged_order(buffers, finished={"a_0"}, limit=2)] == [3]
    assert merged_order(buffers, finished={"a_0"}, limit=2) == []


def test_consecutive_records_of_one_topic_form_one_run() -> None:
    records = [_Record(t, 0, n, n) for n, t in enumerate(["a", "a", "b", "a", "a", "a"])]
    assert [[r.offset for r in run] for run in _runs(records)] == [[0, 1], [2], [3, 4, 5]]


def test_a_spec_describes_its_tables_and_adds_the_inbox() -> None:
    spec = RebuildSpec(
        tables=(CompareTable("stock", {"updated_at": "processing time"}),),
        seeded=(SeedTable("items", "a catalogue", ("sku",)),),
    )
    described = spec.describe("inventory", ["t.oms.inventory-feed"])
    assert described["rebuildable"] is True
    assert [t["name"] for t in described["tables"]] == ["stock", "oms_inbox"]
    assert described["tables"][1]["excluded"] == {
        "processed_at": "when the event was applied: the moment of processing"
    }
    assert described["seeded"] == [
        {
            "name": "items",
            "columns": ["sku"],
            "where": None,
            "after_inputs": False,
            "reason": "a catalogue",
        }
    ]
    refused = RebuildRefused("the clock decides").describe("order", [])
    assert refused == {
        "service": "order",
        "rebuildable": False,
        "topics": [],
        "reason": "the clock decides",
    }


class _Message(NamedTuple):
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None = None
    value: bytes = b"{}"
    headers: tuple[tuple[str, bytes], ...] = ()


class _FakeConsumer:
    """Hands out each partition's records a few at a time, as a broker would."""

    def __init__(
        self, logs: dict[tuple[str, int], list[int]], per_poll: int = 2, one_partition: bool = False
    ) -> None:
        self.logs = {
            TopicPartition(t, p): [_Message(t, p, o, ts) for o, ts in enumerate(stamps)]
            for (t, p), stamps in logs.items()
        }
        self.positions: dict[TopicPartition, int] = {}
        self.paused: set[TopicPartition] = set()
        self.per_poll = per_poll
        self.one_partition = one_partition
        """A poll serves the first partition with records only (aiokafka drains its first
        buffered partitions first)."""

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.logs[tp]) for tp in tps}

    def assign(self, tps: list[TopicPartition]) -> None:
        self.positions = dict.fromkeys(tps, 0)

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        for tp in tps:
            self.positions[tp] = 0

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    def pause(self, tp: TopicPartition) -> None:
        self.paused.add(tp)

    def resume(self, tp: TopicPartition) -> None:
        self.paused.discard(tp)

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Any]]:
        polled = {}
        for tp, log in self.logs.items():
            if tp in self.paused:
                continue
            at = self.positions[tp]
            batch = log[at : at + self.per_poll]
            if batch:
                polled[tp] = batch
                self.positions[tp] = at + len(batch)
                if self.one_partition:
                    break
        return polled


class _Processor:
    """Applies runs as a batch processor does, slowly (a transaction's round trips), and
    fails if two runs are ever in flight at once or a run comes unprepared."""

    in_flight = 0

    def __init__(self, applied: list[tuple[str, int, int]], fail_at: int | None = None) -> None:
        self.applied = applied
        self.fail_at = fail_at

    async def prepare(self, records: Sequence[ConsumedRecord]) -> list[int]:
        return [r.offset for r in records]

    async def process(self, records: Sequence[ConsumedRecord], prepared: list[int]) -> None:
        assert prepared == [r.offset for r in records]
        assert _Processor.in_flight == 0, "a run applied while another is in flight"
        _Processor.in_flight += 1
        try:
            for _ in range(3):
                await asyncio.sleep(0)
            if self.fail_at in prepared:
                raise RuntimeError("the database went away")
            self.applied.extend((r.topic, r.partition, r.offset) for r in records)
        finally:
            _Processor.in_flight -= 1


def test_recalled_and_recorded_topics_are_read_back_each_once() -> None:
    """The service's own topic, recalled and recorded both, is read to its end once: a
    topic listed twice would be planned twice."""
    recalled = Subscription("oms.shipments")
    recorded = Subscription("oms.shipments")
    spec = RebuildSpec(tables=(), recalled=(recalled,), recorded=(recorded,), scratch=("s",))
    assert spec.read_back() == (recalled, recorded)
    settings = RuntimeSettings(database_url="postgresql://localhost/x", topic_prefix="t.")
    runtime = ServiceRuntime("shipping", settings=settings, rebuild=spec)
    runtime.subscribe(Subscription("oms.staff-actions"))
    described = runtime.describe_rebuild()
    assert described["recorded_topics"] == ["t.oms.shipments"]
    assert described["topics"] == ["t.oms.staff-actions"]


async def test_a_rebuild_applies_every_partition_up_to_its_stop_offset_in_time_order() -> None:
    consumer = _FakeConsumer(
        {("feed", 0): [1, 4, 6, 9], ("requests", 0): [2, 3, 5, 7, 8], ("requests", 1): [10]}
    )
    applied: list[tuple[str, int, int]] = []
    processors = {"feed": _Processor(applied), "requests": _Processor(applied)}
    reports: list[int] = []
    read = await run_rebuild(
        consumer=consumer,  # type: ignore[arg-type]
        processors=processors,  # type: ignore[arg-type]
        # The live group had applied feed up to offset 3, requests[0] up to 4, requests[1]
        # nothing: what lies beyond is not applied.
        stop_at={("feed", 0): 3, ("requests", 0): 4, ("requests", 1): 0},
        batch_max=10,
        report=reports.append,
    )
    assert read == 7
    assert applied == [
        ("feed", 0, 0),  # t=1
        ("requests", 0, 0),  # t=2
        ("requests", 0, 1),  # t=3
        ("feed", 0, 1),  # t=4
        ("requests", 0, 2),  # t=5
        ("feed", 0, 2),  # t=6
        ("requests", 0, 3),  # t=7
    ]
    assert reports[-1] == 7


async def test_a_run_that_fails_fails_the_rebuild_and_nothing_after_it_applies() -> None:
    consumer = _FakeConsumer({("feed", 0): [1, 4, 6], ("requests", 0): [2, 3, 5]})
    applied: list[tuple[str, int, int]] = []
    with pytest.raises(RuntimeError, match="the database went away"):
        await run_rebuild(
            consumer=consumer,  # type: ignore[arg-type]
            processors={  # type: ignore[arg-type]
                "feed": _Processor(applied, fail_at=1),
                "requests": _Processor(applied),
            },
            stop_at={("feed", 0): 3, ("requests", 0): 3},
            batch_max=10,
            report=lambda _: None,
        )
    # The feed's second record (t=4) failed: the runs before it applied, none after.
    assert applied == [("feed", 0, 0), ("requests", 0, 0), ("requests", 0, 1)]
    assert _Processor.in_flight == 0


async def test_a_partition_whose_log_ends_below_its_stop_fails_the_rebuild() -> None:
    # The group committed offset 5 on a log of 2 records (the topic was recreated).
    consumer = _FakeConsumer({("feed", 0): [1, 2], ("requests", 0): [3]})
    ticks = iter(range(0, 1000, 10))
    with pytest.raises(RebuildStalled, match=r"feed\[0\] stays at offset 2 below its stop 5"):
        await run_rebuild(
            consumer=consumer,  # type: ignore[arg-type]
            processors={"feed": _Processor([]), "requests": _Processor([])},  # type: ignore[dict-item]
            stop_at={("feed", 0): 5, ("requests", 0): 1},
            batch_max=10,
            report=lambda _: None,
            stall_s=30,
            clock=lambda: float(next(ticks)),
        )
    # It waited the bounded time, no longer: the first poll (t=0) moved it to 2, the polls
    # at t=10 and 20 did not, at t=30 it had stood still for 30 s.
    assert next(ticks) == 40


async def test_a_partition_served_late_while_its_records_are_there_is_no_stall() -> None:
    # Each poll serves one partition, and a minute passes between polls (long runs applied):
    # the requests partition stands still for minutes while the feed drains, yet its log
    # holds its records, so the rebuild waits for it.
    consumer = _FakeConsumer(
        {("feed", 0): list(range(8)), ("requests", 0): [8, 9]}, per_poll=1, one_partition=True
    )
    ticks = iter(range(0, 100_000, 60))
    applied: list[tuple[str, int, int]] = []
    read = await run_rebuild(
        consumer=consumer,  # type: ignore[arg-type]
        processors={"feed": _Processor(applied), "requests": _Processor(applied)},  # type: ignore[dict-item]
        stop_at={("feed", 0): 8, ("requests", 0): 2},
        batch_max=10,
        report=lambda _: None,
        stall_s=30,
        clock=lambda: float(next(ticks)),
    )
    assert read == 10
    assert [r[:2] for r in applied] == [("feed", 0)] * 8 + [("requests", 0)] * 2


def test_the_rebuild_writes_only_into_a_database_marked_for_its_seed() -> None:
    check_target("oms_inventory_rebuild", "oms rebuild of oms_inventory", "oms_inventory")
    with pytest.raises(RebuildTargetRefused, match="OMS_REBUILD_SEED_DATABASE_URL is not set"):
        check_target("oms_inventory", None, None)
    with pytest.raises(RebuildTargetRefused, match="is the seed"):
        check_target("oms_inventory", "oms rebuild of oms_inventory", "oms_inventory")
    with pytest.raises(RebuildTargetRefused, match="not marked as a rebuild database"):
        check_target("oms_inventory_copy", None, "oms_inventory")
    with pytest.raises(RebuildTargetRefused, match="not marked"):
        check_target("oms_other_rebuild", "oms rebuild of oms_other", "oms_inventory")


class _InFlight:
    """A run whose transaction fails, or never ends."""

    def __init__(self, fails: bool) -> None:
        self.fails = fails
        self.started = asyncio.Event()

    async def prepare(self, records: Sequence[ConsumedRecord]) -> list[int]:
        return []

    async def process(self, records: Sequence[ConsumedRecord], prepared: list[int]) -> None:
        self.started.set()
        if self.fails:
            raise RuntimeError("the database went away")
        await asyncio.Event().wait()


async def test_a_rebuild_that_fails_stops_the_run_in_flight_and_logs_its_own_failure() -> None:
    for fails, logged in ((True, ["rebuild_run_failed"]), (False, [])):
        applying = _Applying()
        run = _InFlight(fails)
        await applying.then(run, [])  # type: ignore[arg-type]
        await run.started.wait()
        with capture_logs() as logs:
            await applying.stop()  # as when the rebuild failed for another reason
        assert [entry["event"] for entry in logs] == logged
        await applying.drain()  # nothing left in flight
