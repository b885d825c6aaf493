"""When the worker has stalled: records wait to be read, or to be committed, and it has counted
none for too long.

A worker that counts nothing while its partitions hold records it has neither taken nor
committed past is stuck (faust's consumer can stop delivering after a session expiry:
docs/analytics.md), and so is one that took every record while its commits stopped; one with
nothing to read is not. Nor is one busy rebalancing or
recovering its tables, for a while: as long as the rebalance is younger than the limit, or
the recovery applied a changelog record within it. faust can be left in a rebalance or
recovery that never ends (a recovery wait that times out ends its loop for good, with no
error), and then the worker counts nothing as surely as a stalled one. Times are the
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
    busy_since: float | None = None
    """When the rebalance or recovery going on began; None when none is."""

    def progressed(self, now: float) -> None:
        self.last_progress = now

    def busy(self, now: float, applied_at: float | None) -> None:
        """A rebalance or recovery is going on (``applied_at``: when the recovery last applied
        a changelog record, if it did): progress while it is young or applies records."""
        if self.busy_since is None:
            self.busy_since = now
        young = now - self.busy_since < self.stall_after
        applying = applied_at is not None and now - applied_at < self.stall_after
        if young or applying:
            self.progressed(now)

    def settled(self) -> None:
        """No rebalance or recovery is going on."""
        self.busy_since = None

    def stuck_busy(self, now: float) -> bool:
        """Whether a rebalance or recovery has gone on past the limit without progress."""
        return self.busy_since is not None and self.overdue(now)

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

    def uncommitted(
        self, end: Mapping[Partition, int], committed: Mapping[Partition, int | None]
    ) -> list[Partition]:
        """The partitions whose every record the agent took, yet whose committed offset stays
        before their end. Asked once nothing was counted for the limit, far longer than
        faust's commit interval: its commits have stopped, a stall as well."""
        return sorted(
            name
            for name, offset in end.items()
            if self.next_offsets.get(name, 0) >= offset > (committed.get(name) or 0)
        )
