"""A rebuild's reading of what the dispatcher recorded: the rebuild sends nothing, so each
message's outcome (sent, failed, outcome unknown, suppressed) is applied as the live service
published it on ``oms.notifications``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, assert_never

import asyncpg

from oms_events.notifications import NotificationFailed, NotificationSent, NotificationSuppressed
from oms_notification.adapters.messages import RecordedOutcome
from oms_notification.domain.messages import MessageStatus, recorded_failure
from oms_runtime import Received, UnitOfWork

__all__ = ["OutcomeStore", "Recorded", "RecordedOutcomes", "recorded_outcome"]

Recorded = NotificationSent | NotificationFailed | NotificationSuppressed


class OutcomeStore(Protocol):
    async def record_outcomes(
        self, conn: asyncpg.Connection, outcomes: Sequence[RecordedOutcome]
    ) -> None: ...


def recorded_outcome(event: Recorded) -> RecordedOutcome:
    """What the message's row held once the event was published: the columns the dispatcher
    set with it. A message never sent has no send time nor provider id."""
    match event:
        case NotificationSent():
            return RecordedOutcome(
                event.notification_id,
                MessageStatus.SENT,
                event.locale,
                event.attempts,
                event.sent_at,
                event.provider_message_id,
                None,
            )
        case NotificationFailed():
            return RecordedOutcome(
                event.notification_id,
                recorded_failure(event.reason),
                event.locale,
                event.attempts,
                None,
                None,
                event.reason,
            )
        case NotificationSuppressed():
            return RecordedOutcome(
                event.notification_id,
                MessageStatus.SUPPRESSED,
                event.locale,
                event.attempts,
                None,
                None,
                event.reason,
            )
        case _:
            assert_never(event)


@dataclass(frozen=True)
class RecordedOutcomes:
    store: OutcomeStore

    async def apply(self, work: UnitOfWork, run: Sequence[Received[Recorded]]) -> None:
        """The run's outcomes, in order, in one statement."""
        await self.store.record_outcomes(work.conn, [recorded_outcome(r.payload) for r in run])
