"""In-memory stand-ins for the notification service's ports: its tables, its providers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import asyncpg

from oms_notification.adapters.messages import (
    ClaimedMessage,
    CustomerOrder,
    Expired,
    MessageToQueue,
    RecordedOutcome,
    Settlement,
)
from oms_notification.domain.delivery import Delivery, DeliveryStatus, Email, Sms
from oms_notification.domain.messages import MessageKind
from oms_runtime import Outbox, UnitOfWork, in_memory_unit_of_work


@dataclass
class Row:
    message: MessageToQueue
    created_at: datetime
    status: str = "queued"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    claimed_at: datetime | None = None
    locale: str = ""
    last_error: str | None = None
    provider_message_id: str | None = None
    sent_at: datetime | None = None


@dataclass
class FakeMessageStore:
    """The tables as dicts; the same answers as adapters/messages.py gives."""

    clock: Any = None
    orders: dict[str, CustomerOrder] = field(default_factory=dict)
    captured: dict[str, int] = field(default_factory=dict)
    rows: dict[str, Row] = field(default_factory=dict)
    preferences: dict[str, tuple[str | None, tuple[str, ...], bool]] = field(default_factory=dict)

    async def upsert_orders(
        self, conn: asyncpg.Connection, orders: Sequence[CustomerOrder]
    ) -> None:
        self.orders.update((o.order_id, o) for o in orders)

    async def change_shipping_addresses(
        self, conn: asyncpg.Connection, changes: Sequence[tuple[str, dict[str, Any]]]
    ) -> None:
        for order_id, address in changes:
            order = self.orders[order_id]
            self.orders[order_id] = replace(
                order, details={**order.details, "shipping_address": address}
            )

    async def raise_amounts(
        self, conn: asyncpg.Connection, column: str, totals: Sequence[tuple[str, int]]
    ) -> None:
        for order_id, amount in totals:
            self.captured[order_id] = max(self.captured.get(order_id, 0), amount)

    async def queue_messages(
        self, conn: asyncpg.Connection, messages: Sequence[MessageToQueue]
    ) -> int:
        new = 0
        for m in messages:
            taken = {(r.message.change_key, r.message.channel) for r in self.rows.values()} | {
                (str(r.message.trigger_event_id), r.message.channel) for r in self.rows.values()
            }
            if (m.change_key, m.channel) in taken or (str(m.trigger_event_id), m.channel) in taken:
                continue
            self.rows[m.notification_id] = Row(m, created_at=self.clock())
            new += 1
        return new

    async def claim_due(
        self, conn: asyncpg.Connection, now: datetime, limit: int, waited_since: datetime
    ) -> list[ClaimedMessage]:
        claimed = []
        settled_confirmations = {
            (r.message.order_id, r.message.channel)
            for r in self.rows.values()
            if r.message.kind == "order_confirmed" and r.status not in ("queued", "sending")
        }
        for row in self.rows.values():
            order = self.orders.get(row.message.order_id)
            due = row.next_attempt_at is None or row.next_attempt_at <= now
            due = due and (
                not MessageKind(row.message.kind).follows_confirmation
                or row.created_at < waited_since
                or (row.message.order_id, row.message.channel) in settled_confirmations
            )
            if row.status != "queued" or not due or order is None or len(claimed) == limit:
                continue
            row.status, row.attempts, row.claimed_at = "sending", row.attempts + 1, now
            locale, channels, marketing = self.preferences.get(
                order.customer_id or "", (None, (), False)
            )
            m = row.message
            later = MessageKind(m.kind).superseded_by
            superseded = any(
                r.message.order_id == m.order_id
                and r.message.channel == m.channel
                and r.message.kind in later
                and r.status in ("queued", "sending", "sent")
                for r in self.rows.values()
            )
            claimed.append(
                ClaimedMessage(
                    notification_id=m.notification_id,
                    order_id=m.order_id,
                    trigger_event_id=m.trigger_event_id,
                    channel=m.channel,
                    kind=m.kind,
                    facts=m.facts,
                    correlation_id=m.correlation_id,
                    attempts=row.attempts,
                    order=order,
                    captured_minor=self.captured.get(order.order_id, 0),
                    refunded_minor=0,
                    preferred_locale=locale,
                    opted_out_channels=channels,
                    marketing_opt_out=marketing,
                    superseded=superseded,
                )
            )
        return claimed

    async def settle(self, conn: asyncpg.Connection, settlements: Sequence[Settlement]) -> None:
        for s in settlements:
            row = self.rows[s.notification_id]
            row.status = s.status
            row.locale = s.locale or row.locale
            row.next_attempt_at = s.next_attempt_at or row.next_attempt_at
            row.last_error = s.last_error
            row.provider_message_id = s.provider_message_id
            row.sent_at = s.sent_at

    async def record_outcomes(
        self, conn: asyncpg.Connection, outcomes: Sequence[RecordedOutcome]
    ) -> None:
        for o in outcomes:
            row = self.rows.get(o.notification_id)
            if row is None:
                continue
            row.status, row.last_error = o.status, o.last_error
            row.locale = o.locale if o.locale is not None else row.locale
            row.attempts = o.attempts if o.attempts is not None else row.attempts
            row.sent_at, row.provider_message_id = o.sent_at, o.provider_message_id

    def _expired(self, row: Row) -> Expired:
        m = row.message
        return Expired(
            m.notification_id, m.order_id, m.trigger_event_id, m.channel, m.kind,
            m.correlation_id, row.attempts, row.locale,
        )  # fmt: skip

    async def expire_sending(
        self,
        conn: asyncpg.Connection,
        claimed_before: datetime,
        status: str,
        next_attempt_at: datetime | None,
        reason: str,
    ) -> list[Expired]:
        expired = []
        for row in self.rows.values():
            if row.status == "sending" and row.claimed_at and row.claimed_at < claimed_before:
                row.status, row.last_error = status, reason
                row.next_attempt_at = next_attempt_at or row.next_attempt_at
                expired.append(self._expired(row))
        return expired

    async def fail_orphans(
        self, conn: asyncpg.Connection, created_before: datetime, reason: str
    ) -> list[Expired]:
        failed = []
        for row in self.rows.values():
            if (
                row.status == "queued"
                and row.created_at < created_before
                and row.message.order_id not in self.orders
            ):
                row.status, row.last_error = "failed", reason
                row.attempts = max(row.attempts, 1)
                failed.append(self._expired(row))
        return failed

    def statuses(self) -> dict[str, str]:
        return {row.message.kind: row.status for row in self.rows.values()}


@dataclass
class FakeEmailSender:
    """Answers each message with the next scripted status (sent when the script runs out)."""

    script: list[DeliveryStatus] = field(default_factory=list)
    sent: list[Email] = field(default_factory=list)
    tried: list[Email] = field(default_factory=list)

    async def send(self, emails: Sequence[Email]) -> list[Delivery]:
        results = []
        for email in emails:
            self.tried.append(email)
            status = self.script.pop(0) if self.script else DeliveryStatus.SENT
            if status is DeliveryStatus.SENT:
                self.sent.append(email)
            results.append(Delivery(status, provider_message_id=None, reason=f"fake_{status}"))
        return results


@dataclass
class FakeSmsSender:
    sent: list[Sms] = field(default_factory=list)

    async def send(self, messages: Sequence[Sms]) -> list[Delivery]:
        self.sent.extend(messages)
        return [Delivery(DeliveryStatus.SENT, provider_message_id="sms-1") for _ in messages]


@dataclass
class Units:
    """A unit-of-work factory over in-memory units; ``outboxes`` keeps what each emitted."""

    outboxes: list[Outbox] = field(default_factory=list)

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[UnitOfWork]:
        work = in_memory_unit_of_work()
        self.outboxes.append(work.outbox)
        yield work

    def events(self) -> list[Any]:
        from oms_events.codec import decode

        return [decode(r.payload) for o in self.outboxes for r in o.records]
