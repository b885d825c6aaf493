"""Sending the queued messages, each at most once per change.

A pass claims due messages and commits them as 'sending' (one attempt more) *before* it
talks to the provider; then it sends, and records each outcome with its NotificationSent or
NotificationFailed in one more transaction. A message still 'sending' once its claim has
expired has an unknown outcome (the service died between the provider's acceptance and the
commit, or the connection broke after the message was handed over): the configured
:class:`UnknownOutcomePolicy` decides, never a blind retry.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import asyncpg
import structlog

from oms_events.notifications import (
    NotificationChannel,
    NotificationFailed,
    NotificationSent,
    NotificationSuppressed,
)
from oms_notification.adapters.email_templates import Rendered, RenderError
from oms_notification.adapters.messages import ClaimedMessage, Expired, Settlement
from oms_notification.domain.delivery import Delivery, DeliveryStatus, Email, Sms
from oms_notification.domain.messages import (
    ORDER_UNKNOWN,
    OUTCOME_UNKNOWN,
    Channel,
    MessageKind,
    MessageStatus,
    Preferences,
    UnknownOutcomePolicy,
    after_failure,
    after_unknown_outcome,
    choose_locale,
    mask_email,
    mask_phone,
    message_id,
    opted_out,
    suppression,
)
from oms_runtime import UnitOfWork, Wakeup

__all__ = [
    "DispatchPolicy",
    "DispatchStore",
    "Dispatcher",
    "EmailSender",
    "Renderer",
    "SmsSender",
]

_log = structlog.get_logger(__name__)
_REASON_MAX = 2000


class DispatchStore(Protocol):
    async def claim_due(
        self, conn: asyncpg.Connection, now: datetime, limit: int, waited_since: datetime
    ) -> list[ClaimedMessage]: ...

    async def settle(self, conn: asyncpg.Connection, settlements: Sequence[Settlement]) -> None: ...

    async def expire_sending(
        self,
        conn: asyncpg.Connection,
        claimed_before: datetime,
        status: str,
        next_attempt_at: datetime | None,
        reason: str,
    ) -> list[Expired]: ...

    async def fail_orphans(
        self, conn: asyncpg.Connection, created_before: datetime, reason: str
    ) -> list[Expired]: ...


class Renderer(Protocol):
    def render(self, kind: str, locale: str, context: Mapping[str, Any]) -> Rendered: ...


class EmailSender(Protocol):
    async def send(self, emails: Sequence[Email]) -> list[Delivery]: ...


class SmsSender(Protocol):
    async def send(self, messages: Sequence[Sms]) -> list[Delivery]: ...


@dataclass(frozen=True)
class DispatchPolicy:
    batch_max: int = 50
    max_attempts: int = 5
    retry_first_s: float = 5.0
    retry_max_s: float = 600.0
    sending_lease_s: float = 120.0
    """A claim older than this whose message is still 'sending' has an unknown outcome."""
    unknown_outcome: UnknownOutcomePolicy = UnknownOutcomePolicy.GIVE_UP
    order_wait_s: float = 600.0
    """How long a message waits for its order's acceptance before it fails."""
    default_locale: str = "en"
    message_id_domain: str = "oms.example.com"


@dataclass(frozen=True)
class _Outgoing:
    claimed: ClaimedMessage
    locale: str
    recipient: str
    rendered: Rendered


UnitOfWorkFactory = Callable[[], AbstractAsyncContextManager[UnitOfWork]]


@dataclass
class Dispatcher:
    store: DispatchStore
    renderer: Renderer
    email: EmailSender
    sms: SmsSender | None = None
    policy: DispatchPolicy = DispatchPolicy()
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    jitter: Callable[[], float] = random.random
    after_send: Callable[[int], None] = lambda sent: None
    """Called with the messages handed over so far, before their outcome is recorded (the
    worker's fault-injection point ``after_send``)."""
    handed_over: int = 0
    due: Wakeup = field(default_factory=Wakeup)
    """Woken when messages are queued; asked to wake when a retry falls due."""

    async def dispatch(self, unit_of_work: UnitOfWorkFactory) -> int:
        """One pass: settle expired claims, claim what is due, send, record. How many sent."""
        now = self.clock()
        async with unit_of_work() as work:
            await self._settle_expired(work, now)
            waited_since = now - timedelta(seconds=self.policy.order_wait_s)
            claimed = await self.store.claim_due(
                work.conn, now, self.policy.batch_max, waited_since
            )
            if len(claimed) == self.policy.batch_max:
                self.due.set()  # more may be due
            outgoing, settled = self._prepare(work, claimed)
            if settled:
                await self.store.settle(work.conn, settled)
        if not outgoing:
            return 0
        deliveries = await self._send(outgoing)
        self.handed_over += sum(d.status is DeliveryStatus.SENT for d in deliveries)
        self.after_send(self.handed_over)
        done = self.clock()
        async with unit_of_work() as work:
            await self.store.settle(
                work.conn,
                [self._record(work, o, d, done) for o, d in zip(outgoing, deliveries, strict=True)],
            )
        sent = sum(d.status is DeliveryStatus.SENT for d in deliveries)
        _log.info("messages_dispatched", sent=sent, attempted=len(outgoing))
        return sent

    # -- before sending ------------------------------------------------------------------

    async def _settle_expired(self, work: UnitOfWork, now: datetime) -> None:
        policy = self.policy
        outcome = after_unknown_outcome(policy.unknown_outcome, now)
        lease = now - timedelta(seconds=policy.sending_lease_s)
        for row in await self.store.expire_sending(
            work.conn, lease, outcome.status.value, outcome.next_attempt_at, OUTCOME_UNKNOWN
        ):
            _log.warning("message_outcome_unknown", notification_id=row.notification_id)
            if outcome.publish_failure:
                self._failed(work, row, OUTCOME_UNKNOWN, row.locale or None, retryable=False)
        waited = now - timedelta(seconds=policy.order_wait_s)
        for row in await self.store.fail_orphans(work.conn, waited, ORDER_UNKNOWN):
            self._failed(work, row, ORDER_UNKNOWN, row.locale or None, retryable=False)

    def _prepare(
        self, work: UnitOfWork, claimed: Sequence[ClaimedMessage]
    ) -> tuple[list[_Outgoing], list[Settlement]]:
        outgoing: list[_Outgoing] = []
        settled: list[Settlement] = []
        for c in claimed:
            preferences = Preferences(
                locale=c.preferred_locale,
                opted_out_channels=opted_out(c.opted_out_channels),
                marketing_opt_out=c.marketing_opt_out,
            )
            locale = choose_locale(c.preferred_locale, c.order.country, self.policy.default_locale)
            channel = Channel(c.channel)
            recipient = c.order.email if channel is Channel.EMAIL else c.order.phone
            why = "superseded" if c.superseded else None
            why = why or suppression(MessageKind(c.kind), channel, preferences)
            if why is None and recipient is None:
                why = "no_recipient"
            if why is None and channel is Channel.SMS and self.sms is None:
                why = "no_sms_provider"
            if why is not None:
                settled.append(
                    Settlement(c.notification_id, MessageStatus.SUPPRESSED, locale, last_error=why)
                )
                self._outbox(work, c).emit(
                    NotificationSuppressed(
                        **_about(c), locale=locale, reason=why, attempts=c.attempts
                    ),
                    subject=c.order_id,
                )
                continue
            assert recipient is not None
            try:
                rendered = self.renderer.render(c.kind, locale, _context(c))
            except (RenderError, KeyError, TypeError, ValueError) as exc:
                # Facts or an order row that do not fit: this message fails, the pass goes on.
                reason = f"render_failed: {exc}"[:_REASON_MAX]
                settled.append(
                    Settlement(c.notification_id, MessageStatus.FAILED, locale, last_error=reason)
                )
                self._failed(work, c, reason, locale, retryable=False)
                continue
            outgoing.append(_Outgoing(c, locale, recipient, rendered))
        return outgoing, settled

    # -- sending -------------------------------------------------------------------------

    async def _send(self, outgoing: Sequence[_Outgoing]) -> list[Delivery]:
        emails = [o for o in outgoing if o.claimed.channel == Channel.EMAIL]
        texts = [o for o in outgoing if o.claimed.channel == Channel.SMS]
        by_id: dict[str, Delivery] = {}
        if emails:
            results = await self.email.send(
                [
                    Email(
                        message_id=message_id(
                            o.claimed.notification_id, self.policy.message_id_domain
                        ),
                        to=o.recipient,
                        subject=o.rendered.subject,
                        text=o.rendered.text,
                        html=o.rendered.html,
                    )
                    for o in emails
                ]
            )
            by_id.update(zip((o.claimed.notification_id for o in emails), results, strict=True))
        if texts and self.sms is not None:
            results = await self.sms.send(
                [
                    Sms(
                        reference=o.claimed.notification_id, to=o.recipient, text=o.rendered.subject
                    )
                    for o in texts
                ]
            )
            by_id.update(zip((o.claimed.notification_id for o in texts), results, strict=True))
        return [by_id[o.claimed.notification_id] for o in outgoing]

    # -- after sending -------------------------------------------------------------------

    def _record(
        self, work: UnitOfWork, o: _Outgoing, delivery: Delivery, now: datetime
    ) -> Settlement:
        c = o.claimed
        if delivery.status is DeliveryStatus.SENT:
            self._outbox(work, c).emit(
                NotificationSent(
                    **_about(c),
                    locale=o.locale,
                    recipient=_masked(c.channel, o.recipient),
                    provider_message_id=delivery.provider_message_id,
                    sent_at=now,
                    attempts=c.attempts,
                ),
                subject=c.order_id,
            )
            return Settlement(
                c.notification_id,
                MessageStatus.SENT,
                o.locale,
                sent_at=now,
                provider_message_id=delivery.provider_message_id,
            )
        if delivery.status is DeliveryStatus.UNKNOWN:
            outcome = after_unknown_outcome(self.policy.unknown_outcome, now)
            reason = f"{OUTCOME_UNKNOWN} ({delivery.reason})"
        else:
            outcome = after_failure(
                attempts=c.attempts,
                max_attempts=self.policy.max_attempts,
                transient=delivery.status is DeliveryStatus.FAILED,
                now=now,
                first_s=self.policy.retry_first_s,
                max_s=self.policy.retry_max_s,
                jitter=self.jitter,
            )
            reason = delivery.reason
        # Stored as published: a rebuild reads the reason back from NotificationFailed.
        reason = reason[:_REASON_MAX]
        if outcome.next_attempt_at is not None:
            self.due.at(outcome.next_attempt_at)
        if outcome.publish_failure:
            self._failed(work, c, reason, o.locale, retryable=outcome.retryable)
        return Settlement(
            c.notification_id,
            outcome.status,
            o.locale,
            next_attempt_at=outcome.next_attempt_at,
            last_error=reason,
        )

    def _failed(
        self,
        work: UnitOfWork,
        row: ClaimedMessage | Expired,
        reason: str,
        locale: str | None,
        retryable: bool,
    ) -> None:
        self._outbox(work, row).emit(
            NotificationFailed(
                **_about(row),
                reason=reason[:_REASON_MAX],
                retryable=retryable,
                attempts=max(row.attempts, 1),
                locale=locale,
            ),
            subject=row.order_id,
        )

    @staticmethod
    def _outbox(work: UnitOfWork, row: ClaimedMessage | Expired) -> Any:
        """The unit's outbox, its events caused by the message's trigger event."""
        return replace(
            work.outbox,
            correlation_id=row.correlation_id,
            causation_id=str(row.trigger_event_id),
        )


def _about(row: ClaimedMessage | Expired) -> dict[str, Any]:
    """What NotificationSent and NotificationFailed say of the message they report."""
    return {
        "notification_id": row.notification_id,
        "order_id": row.order_id,
        "trigger_event_id": str(row.trigger_event_id),
        "channel": NotificationChannel(row.channel),
        "template": row.kind,
    }


def _masked(channel: str, recipient: str) -> str:
    return mask_email(recipient) if channel == Channel.EMAIL else mask_phone(recipient)


def _context(c: ClaimedMessage) -> dict[str, Any]:
    """What a template sees: the order as kept, and the change's facts with line names."""
    order = dict(c.order.details)
    order["reference"] = c.order.reference
    order["placed_at"] = c.order.placed_at
    names = {line["line_id"]: line["name"] for line in order.get("lines", [])}
    facts = dict(c.facts)
    if "lines" in facts:
        facts["lines"] = [
            {**line, "name": names.get(line["line_id"], line["sku"]), "total": None}
            for line in facts["lines"]
        ]
    if c.kind == MessageKind.ORDER_CANCELED:
        currency = order["totals"]["grand_total"]["currency"]
        facts["refund"] = (
            {"amount_minor": c.captured_minor, "currency": currency} if c.captured_minor else None
        )
    return {"order": order, "facts": facts}
