"""Typed subscriptions: a topic's handlers keyed by the payload class they take.

A set-based handler takes each run of consecutive events of its type from a batch
(``Subscription.batch``); a handler written for one event at a time is run for each event of
the run in order (``Subscription.each``). Registering a type the topic does not carry, or a
type twice, fails when the service is built; mypy checks that a handler takes the class it is
registered for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from oms_events.registry import EventPayload
from oms_events.topics import topic as topic_spec
from oms_runtime._consumer import BatchFinish, InvalidHandler, bound_to
from oms_runtime._unit_of_work import BatchHandler, Received, UnitOfWork

__all__ = ["Subscription"]

P = TypeVar("P", bound=EventPayload)


class Subscription:
    def __init__(self, logical_topic: str) -> None:
        self.spec = topic_spec(logical_topic)
        self.handlers: dict[str, BatchHandler] = {}
        self.invalid_handlers: dict[str, InvalidHandler] = {}
        self.finish_step: BatchFinish | None = None

    def batch(
        self,
        event: type[P],
        handler: Callable[[UnitOfWork, Sequence[Received[P]]], Awaitable[None]],
    ) -> Subscription:
        """``handler(work, received)`` gets every run of ``event`` in a batch at once."""
        self.handlers[self._carried(event, self.handlers)] = handler
        return self

    def each(
        self, event: type[P], handler: Callable[[UnitOfWork, Received[P]], Awaitable[None]]
    ) -> Subscription:
        """``handler(work, received)`` gets the events of ``event`` one at a time, in order,
        each with the unit of work as that event sees it (its events name it as their cause)."""

        async def one_by_one(work: UnitOfWork, received: Sequence[Received[P]]) -> None:
            for r in received:
                with bound_to(r.envelope):
                    await handler(work.for_event(r.envelope), r)

        return self.batch(event, one_by_one)

    def invalid(self, event: type[EventPayload], handler: InvalidHandler) -> Subscription:
        """``handler`` answers events of ``event`` whose payload fails validation; without
        one they are dead-lettered."""
        self.invalid_handlers[self._carried(event, self.invalid_handlers)] = handler
        return self

    def finish(self, step: BatchFinish) -> Subscription:
        """``step`` runs once per batch transaction after the handlers, when they left notes."""
        self.finish_step = step
        return self

    def _carried(self, event: type[EventPayload], registered: Mapping[str, object]) -> str:
        name = event.event_type
        if name not in self.spec.event_types:
            raise ValueError(f"{self.spec.name} carries no {name}")
        if name in registered:
            raise ValueError(f"{name} on {self.spec.name} has two handlers")
        return name
