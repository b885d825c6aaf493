"""Replay: move a service's consumer group back (or forward) so its workers read again.

Nothing is re-processed by this command itself: the workers, once started, read from the new
offsets, and their inbox drops every event they had already applied, so a replay repeats no
e-mail, payment or reservation; events dead-lettered before (their inbox claim removed) are
tried again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from oms_ops.kafka import Broker, GroupState, PartitionOffsets

__all__ = ["GroupActive", "NothingToReplay", "ReplayMove", "ReplayTarget", "apply", "plan"]


class GroupActive(Exception):
    def __init__(self, state: GroupState) -> None:
        super().__init__(
            f"consumer group {state.group} has {state.members} active member(s) "
            f"(state {state.state}): stop the service's workers first (--force tries anyway, "
            "and Kafka refuses offsets for a group with members)"
        )
        self.state = state


class NothingToReplay(Exception):
    """The group has no committed offsets and no topic was named."""


@dataclass(frozen=True)
class ReplayTarget:
    kind: Literal["offset", "time", "start"]
    value: int = 0
    """The offset, or the time in milliseconds since the epoch."""

    def describe(self) -> str:
        return {
            "offset": f"offset {self.value}",
            "time": f"time {self.value} ms",
            "start": "start",
        }[self.kind]


@dataclass(frozen=True)
class ReplayMove:
    topic: str
    partition: int
    current: int
    """Where the group would resume: its committed offset, else (auto_offset_reset=earliest)
    the partition's first offset."""
    target: int
    end: int

    @property
    def reprocessed(self) -> int:
        """Records read again: already processed once (or dead-lettered)."""
        return max(min(self.current, self.end) - self.target, 0)

    @property
    def skipped(self) -> int:
        """Records a forward move jumps over: never processed by this group."""
        return max(self.target - self.current, 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "current": self.current,
            "target": self.target,
            "end": self.end,
            "reprocessed": self.reprocessed,
            "skipped": self.skipped,
        }


def _target(p: PartitionOffsets, target: ReplayTarget, by_time: dict[tuple[str, int], int]) -> int:
    if target.kind == "start":
        return p.beginning
    if target.kind == "offset":
        return min(max(target.value, p.beginning), p.end)
    return by_time[(p.topic, p.partition)]


async def plan(
    broker: Broker, group: str, topics: Sequence[str] | None, target: ReplayTarget
) -> list[ReplayMove]:
    """Each partition's move; ``topics`` None means every topic the group committed for."""
    partitions = await broker.offsets(group, topics)
    if not partitions:
        raise NothingToReplay(
            f"consumer group {group} has no committed offsets"
            + (" on the topics named" if topics else "; name the topics with --topic")
        )
    by_time = (
        await broker.offsets_for_time(partitions, target.value) if target.kind == "time" else {}
    )
    return [
        ReplayMove(
            topic=p.topic,
            partition=p.partition,
            current=p.committed if p.committed is not None else p.beginning,
            target=_target(p, target, by_time),
            end=p.end,
        )
        for p in partitions
    ]


async def apply(broker: Broker, group: str, moves: Sequence[ReplayMove], *, force: bool) -> None:
    """Commit the moves for the group; refused while it has members unless ``force`` (and
    then the broker refuses: :class:`oms_ops.kafka.OffsetsRefused`)."""
    state = await broker.group_state(group)
    if state.members and not force:
        raise GroupActive(state)
    await broker.commit(group, {(m.topic, m.partition): m.target for m in moves})
