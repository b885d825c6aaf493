"""A rebuild applies the records of every partition in timestamp order: no broker needed."""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple

from oms_runtime import CompareTable, RebuildRefused, RebuildSpec, SeedTable
from oms_runtime._rebuild import _runs, merged_order


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
    assert described["seeded"] == [{"name": "items", "columns": ["sku"], "reason": "a catalogue"}]
    refused = RebuildRefused("the clock decides").describe("order", [])
    assert refused == {
        "service": "order",
        "rebuildable": False,
        "topics": [],
        "reason": "the clock decides",
    }
