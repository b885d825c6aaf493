"""When the analytics worker has stalled: records waiting and nothing counted for too long."""

from __future__ import annotations

from oms_analytics.domain.stalling import StallWatch


def test_a_worker_that_counts_nothing_while_records_wait_stalls_after_the_limit() -> None:
    watch = StallWatch(stall_after=60, last_progress=1000)
    assert not watch.overdue(1059)
    assert not watch.stalled(1059, records_waiting=True)
    assert watch.overdue(1060)
    assert watch.stalled(1060, records_waiting=True)


def test_a_batch_counted_starts_the_limit_again() -> None:
    watch = StallWatch(stall_after=60, last_progress=1000)
    watch.progressed(1050)
    assert not watch.stalled(1100, records_waiting=True)
    assert watch.stalled(1110, records_waiting=True)


def test_nothing_to_read_is_not_a_stall_and_counts_as_progress() -> None:
    watch = StallWatch(stall_after=60, last_progress=1000)
    assert not watch.stalled(2000, records_waiting=False)
    assert watch.last_progress == 2000
    assert not watch.stalled(2059, records_waiting=True)


def test_the_partitions_waiting_are_those_past_the_records_taken_and_committed() -> None:
    watch = StallWatch(stall_after=60, last_progress=1000)
    watch.took(("oms.orders", 0), 9)
    watch.took(("oms.orders", 1), 4)
    end = {("oms.orders", 0): 10, ("oms.orders", 1): 7, ("oms.orders", 2): 5, ("oms.orders", 3): 0}
    committed = {("oms.orders", 1): 3, ("oms.orders", 2): 5, ("oms.returns", 0): None}
    # [0]: its last record taken; [1]: two records after the one taken; [2]: none taken since
    # the start, but committed to its end; [3]: empty.
    assert watch.waiting(end, committed) == [("oms.orders", 1)]
    assert watch.waiting({("oms.returns", 0): 3}, committed) == [("oms.returns", 0)]
