"""faust's commit of acknowledged offsets made to count each offset once.

faust keeps a partition's acknowledged offsets in a list and commits up to the end of the first
run of consecutive offsets in it (``Consumer._new_offset``). An offset can be in that list
twice: a gap's offsets are added to it (records the consumer did not see), and the same offsets
are acknowledged again when their records are read once more after a seek. A duplicate ends a
run, so each commit then moves a partition on by an offset or two, and a worker started again
after a crash crawled through its commits until its stall watch ended it (docs/analytics.md,
"A stalled worker"). Here the offsets count as a set: the commit reaches the end of every
offset acknowledged in a row.
"""

from __future__ import annotations

from typing import Any

from faust.transport.consumer import Consumer
from faust.types import TP

__all__ = ["FAUST_NEW_OFFSET", "count_each_offset_once"]

FAUST_NEW_OFFSET = Consumer._new_offset
"""faust's own, for the tests that show what it did."""


def _new_offset(self: Any, tp: TP) -> int | None:
    """The offset to commit on ``tp`` (after the first run of offsets acknowledged in a
    row, a gap's counting as acknowledged), or None while nothing follows the committed one."""
    acked: list[int] = self._acked[tp]
    if not acked:
        return None
    offsets = set(acked)
    top = max(offsets)
    gaps = self._gap[tp]
    if gaps:
        passed = [gap for gap in gaps.overlap(0, top)]
        for gap in passed:
            offsets.update(range(gap.begin, gap.end))
        if passed:
            gaps.chop(0, max(max(offsets), top + 1))
    committed = self._committed_offset[tp]
    if committed:  # offsets before the committed one were committed already
        self._acked_index[tp].difference_update(o for o in offsets if o < committed)
        offsets = {offset for offset in offsets if offset >= committed}
        if not offsets:
            acked.clear()
            return None
    first = min(offsets)
    if committed and first - committed > 1:  # the offsets right after the committed one wait
        acked[:] = sorted(offsets)
        return None
    end = first
    while end + 1 in offsets:
        end += 1
    run = range(first, end + 1)
    acked[:] = sorted(offsets.difference(run))
    self._acked_index[tp].difference_update(run)
    return end + 1


def count_each_offset_once() -> None:
    """Install the commit that counts each acknowledged offset once (once per process)."""
    if Consumer._new_offset is not _new_offset:
        Consumer._new_offset = _new_offset  # type: ignore[method-assign]
