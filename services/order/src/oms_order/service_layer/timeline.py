"""The order's timeline in the unit of work: every change recorded with its cause and actor,
its event emitted with the order's next sequence, and the entries written with one statement
when the batch (or the request) finishes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from oms_events.registry import EventPayload
from oms_order.adapters.orders import Timeline
from oms_runtime import Note, UnitOfWork

__all__ = ["cause_of", "flush_timeline", "record", "timeline"]

_TIMELINE: Note[Timeline] = Note("order_timeline", Timeline)


def timeline(work: UnitOfWork) -> Timeline:
    return work.notes[_TIMELINE]


def cause_of(work: UnitOfWork) -> UUID:
    """The event or request this change happens for: every timeline entry names one."""
    if work.cause is None:
        raise ValueError("an order changes only for an event or a request")
    return work.cause


async def record(
    work: UnitOfWork,
    order_id: str,
    payload: EventPayload,
    *,
    actor: str,
    detail: dict[str, Any] | None = None,
) -> None:
    sequence = await timeline(work).append(
        work.conn,
        order_id,
        event_type=payload.event_type,
        caused_by=cause_of(work),
        actor=actor,
        detail=detail,
    )
    work.emit(payload, subject=order_id, sequence=sequence)


async def flush_timeline(work: UnitOfWork) -> None:
    """The order subscriptions' finish step, and the end of every HTTP request that changed
    an order."""
    if _TIMELINE in work.notes:
        await timeline(work).flush(work.conn)
