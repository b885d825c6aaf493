"""faust's resumption after a table recovery made safe: no record read after the seek to the
committed offsets is dropped.

Once the tables are recovered, faust (faust-streaming 0.11 to this release) resumes the source
partitions, seeks them to their committed offsets and then resumes its flow control, whose
``resume`` empties every channel queue. The consumer fetches during the seek's round trip, so
by then the queues can hold the first records of a partition, their offsets already noted as
read: emptied, they never reach the agent, a copy fetched again is dropped as read already, and
the offsets are committed past them. A worker started on a backlog lost the first records of a
partition this way (the kill test lost an order's completion, one restart in ten).

Here the queues are emptied before the partitions are resumed and sought (what they hold then
was fetched before the seek, which reads it again), and ``resume`` empties them only when the
flow was suspended (by a rebalance, whose records the seek reads again too), not when it was
running already, as it is once the changelogs have been read.
"""

from __future__ import annotations

from faust.tables.recovery import Recovery
from mode.utils.queues import FlowControlEvent

__all__ = ["keep_records_read_after_seek"]


def _resume(self: FlowControlEvent) -> None:
    suspended = self._suspend.is_set()
    self._suspend.clear()
    self._resume.set()
    if suspended:
        self.clear()


async def _on_recovery_completed(self: Recovery, generation_id: int = 0) -> None:
    self.app.flow_control.clear()  # fetched before the seek below, which reads it again
    await _faust_on_recovery_completed(self, generation_id)


_faust_on_recovery_completed = Recovery.on_recovery_completed


def keep_records_read_after_seek() -> None:
    """Install the safe resumption (once per process, before the worker starts)."""
    if FlowControlEvent.resume is not _resume:
        FlowControlEvent.resume = _resume  # type: ignore[method-assign]
        Recovery.on_recovery_completed = _on_recovery_completed  # type: ignore[method-assign]
