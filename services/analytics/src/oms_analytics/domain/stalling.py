"""When the worker has stalled: records wait to be read, and it has counted none for too long.

A worker that counts nothing while its partitions hold records it has neither taken nor
committed past is stuck (faust's consumer can stop delivering after a session expiry:
docs/analytics.md); one with nothing to read, or busy rebalancing, is not. Times are the
monotonic clock's seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Partition", "StallWatch"]

Partition = tuple[str, int]
"""A source partition: topic and number (faust's ``TP`` is one)."""


@dataclass
class StallWatch:
    stall_after: float
    """Seconds without a batch counted, records waiting, before the worker has stalled."""
    last_progress: float
    """When a batch was last counted, or the worker last had nothing to wait for."""
    next_offsets: dict[Partition, int] = field(default_factory=dict)
    """Per source partition: the offset after the last record the agent took."""

    def progressed(self, now: float) -> None:
        self.last_progress = now

    def took(self, partition: Partition, offset: int) -> None:
        """The agent is done with the record at ``offset`` of ``partition`` (counted, or
        skipped as undecodable)."""
        self.next_offsets[partition] = offset + 1

    def overdue(self, now: float) -> bool:
        """Whether nothing was counted for ``stall_after`` (then ask whether records wait)."""
        return now - self.last_progress >= self.stall_after

    def stalled(self, now: float, records_waiting: bool) -> bool:
        """Overdue while records wait to be read; nothing to read counts as progress."""
        if not records_waiting:
            self.progressed(now)
            return False
        return self.overdue(now)

    def waiting(
        self, end: Mapping[Partition, int], committed: Mapping[Partition, int | None]
    ) -> list[Partition]:
        """The partitions whose end offset is past both the offset after the last
        record the agent took and the committed one (the next offset the group reads; None:
        nothing committed yet)."""
        return sorted(
            name
            for name, offset in end.items()
            if offset > max(self.next_offsets.get(name, 0), committed.get(name) or 0)
        )
