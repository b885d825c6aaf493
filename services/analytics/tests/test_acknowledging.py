"""faust's commit of acknowledged offsets with each offset counted once: a duplicate in the
list (a gap's offset acknowledged again when its record is read once more) no longer ends
the run of offsets acknowledged in a row, so one commit reaches its end."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from faust.transport.consumer import Consumer
from faust.types import TP
from intervaltree import IntervalTree

from oms_analytics.entrypoints.acknowledging import (
    FAUST_NEW_OFFSET,
    _new_offset,
    count_each_offset_once,
)

TOPIC = TP("t.oms.inventory", 0)


def _consumer(
    acked: list[int], committed: int | None, gaps: tuple[tuple[int, int], ...] = ()
) -> Any:
    consumer = SimpleNamespace(
        _acked=defaultdict(list),
        _gap=defaultdict(IntervalTree),
        _committed_offset=defaultdict(lambda: None),
        _acked_index=defaultdict(set),
    )
    consumer._acked[TOPIC] = list(acked)
    consumer._acked_index[TOPIC] = set(acked)
    consumer._committed_offset[TOPIC] = committed
    for begin, end in gaps:
        consumer._gap[TOPIC].addi(begin, end)
    return consumer


def test_duplicates_no_longer_split_the_run_of_offsets_acknowledged() -> None:
    duplicated = [46, 46, 47, 47, 48, 48, 49]
    faust_s = _consumer(duplicated, 47)
    assert FAUST_NEW_OFFSET(faust_s, TOPIC) in (None, 47)  # what the crawl came from
    ours = _consumer(duplicated, 47)
    assert _new_offset(ours, TOPIC) == 50
    assert ours._acked[TOPIC] == [] and ours._acked_index[TOPIC] == set()


def test_gaps_count_as_acknowledged_and_a_missing_head_waits() -> None:
    across = _consumer([10, 11, 14, 15], 10, gaps=((12, 14),))
    assert _new_offset(across, TOPIC) == 16
    assert not across._gap[TOPIC]
    waiting = _consumer([13, 14], 10)
    assert _new_offset(waiting, TOPIC) is None
    assert waiting._acked[TOPIC] == [13, 14]
    split = _consumer([20, 21, 23], 19)
    assert _new_offset(split, TOPIC) == 22
    assert split._acked[TOPIC] == [23]
    assert _new_offset(_consumer([], 5), TOPIC) is None
    stale = _consumer([40, 41, 47, 48], 47)  # 40 and 41 were committed already
    assert _new_offset(stale, TOPIC) == 49
    assert stale._acked[TOPIC] == []


def test_installed_once() -> None:
    count_each_offset_once()
    count_each_offset_once()
    assert Consumer._new_offset is _new_offset
