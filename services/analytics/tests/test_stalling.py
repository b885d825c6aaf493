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
    # [0] is uncommitted instead: every record taken, none committed. [1] is waiting, not
    # uncommitted; [2] is committed to its end; [3] is empty.
    assert watch.uncommitted(end, committed) == [("oms.orders", 0)]
    watch.took(("oms.orders", 1), 6)
    assert watch.uncommitted(end, committed) == [("oms.orders", 0), ("oms.orders", 1)]
    assert watch.uncommitted(end, {**committed, ("oms.orders", 0): 10}) == [("oms.orders", 1)]


def test_a_rebalance_or_recovery_is_progress_while_young_or_applying_changelogs() -> None:
    watch = StallWatch(stall_after=60, last_progress=1000)
    watch.busy(1000, applied_at=None)  # a rebalance begins
    watch.busy(1059, applied_at=None)
    assert not watch.overdue(1100) and not watch.stuck_busy(1100)
    # The recovery applies changelog records until 1150: still progress.
    watch.busy(1150, applied_at=1149)
    watch.busy(1200, applied_at=1149)
    assert not watch.overdue(1200)
    # Then nothing more, and it never ends (faust left in it): a stall once past the limit.
    watch.busy(1240, applied_at=1149)
    assert watch.overdue(1260) and watch.stuck_busy(1260)
    assert watch.stalled(1260, records_waiting=True)


def test_a_rebalance_that_ends_starts_its_age_again() -> None:
    watch = StallWatch(stall_after=60, last_progress=1000)
    watch.busy(1000, applied_at=None)
    watch.settled()
    watch.progressed(1050)
    watch.busy(1100, applied_at=None)  # a new rebalance: young again
    assert watch.busy_since == 1100
    watch.busy(1150, applied_at=None)
    assert not watch.overdue(1150) and not watch.stuck_busy(1150)
    watch.settled()
    assert not watch.stuck_busy(1300)
