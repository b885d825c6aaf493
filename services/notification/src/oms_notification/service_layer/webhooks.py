"""Webhooks for downstream systems: subscriptions, one delivery per (subscription, event),
and the dispatcher that signs, sends, retries and dead-letters them."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import asyncpg
import structlog

from oms_events.notifications import WebhookDeadLettered, WebhookDelivered
from oms_events.registry import ALL_EVENT_TYPES, EventPayload
from oms_events.topics import topic
from oms_notification.adapters.webhooks import (
    Claimed,
    IncomingEvent,
    NewSubscription,
    SubscriptionRow,
)
from oms_notification.domain.webhooks import (
    DeliveryFailed,
    RetryPolicy,
    endpoint_problem,
    event_types_problems,
    is_accepted,
    new_secret,
    signature_headers,
)
from oms_runtime import Note, Received, UnitOfWork, Wakeup

__all__ = [
    "ALERT_EVENT_TYPES",
    "WEBHOOK_EVENT_TYPES",
    "WEBHOOK_TOPICS",
    "DeliveryStore",
    "Dispatcher",
    "InvalidSubscription",
    "SubscriptionStore",
    "WebhookQueue",
    "WebhookSender",
    "always",
    "create_subscription",
]

_log = structlog.get_logger(__name__)

WEBHOOK_TOPICS = ("oms.orders", "oms.payments", "oms.returns", "oms.sourcing", "oms.shipments")
"""The order-lifecycle topics whose events downstream systems can subscribe to."""
WEBHOOK_EVENT_TYPES: frozenset[str] = frozenset(
    t for name in WEBHOOK_TOPICS for t in topic(name).event_types
)
ALERT_EVENT_TYPES: frozenset[str] = frozenset(
    {"LowStock", "OutOfStock", "OrderStuck", "RecordDeadLettered"}
)
"""What an operations subscription can ask for (rate-limited, see ``alerts.py``)."""

_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
_LEASE_MARGIN_S = 30.0


# -- ports -----------------------------------------------------------------------------------


class SubscriptionStore(Protocol):
    async def create_subscription(
        self, conn: asyncpg.Connection, new: NewSubscription
    ) -> SubscriptionRow: ...


class QueueStore(Protocol):
    async def queue_deliveries(
        self, conn: asyncpg.Connection, events: Sequence[IncomingEvent], *, operations: bool
    ) -> int:
        """One delivery per matching (subscription, event), once; how many were new."""
        ...


class DeliveryStore(Protocol):
    async def claim_due(
        self, conn: asyncpg.Connection, *, per_subscription: int, limit: int, lease_s: float
    ) -> list[Claimed]: ...

    async def record_delivered(
        self, conn: asyncpg.Connection, claimed: Claimed, status_code: int, at: datetime
    ) -> bool: ...

    async def record_retry(
        self,
        conn: asyncpg.Connection,
        claimed: Claimed,
        next_attempt_at: datetime,
        status_code: int | None,
        error: str,
    ) -> bool: ...

    async def record_dead(
        self,
        conn: asyncpg.Connection,
        claimed: Claimed,
        at: datetime,
        status_code: int | None,
        error: str,
    ) -> bool: ...


class WebhookSender(Protocol):
    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> int:
        """The subscriber's status code; DeliveryFailed if there was none in time."""
        ...


class UnitsOfWork(Protocol):
    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]: ...


# -- subscriptions ---------------------------------------------------------------------------


class InvalidSubscription(ValueError):
    """``errors``: (field, message) for each problem."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


async def create_subscription(
    work: UnitOfWork,
    store: SubscriptionStore,
    *,
    url: str,
    event_types: Sequence[str],
    operations: bool,
    active: bool,
    description: str | None,
    created_by: str,
) -> tuple[SubscriptionRow, str]:
    """A new subscription and its secret (shown to the caller once, never logged)."""
    errors: list[tuple[str, str]] = []
    problem = endpoint_problem(url)
    if problem:
        errors.append(("url", problem))
    offered = ALERT_EVENT_TYPES if operations else WEBHOOK_EVENT_TYPES
    errors.extend(
        ("event_types", p) for p in event_types_problems(event_types, ALL_EVENT_TYPES, offered)
    )
    if errors:
        raise InvalidSubscription(errors)
    secret = new_secret()
    row = await store.create_subscription(
        work.conn,
        NewSubscription(
            subscription_id=f"whs_{uuid.uuid4().hex}",
            url=url,
            event_types=tuple(dict.fromkeys(event_types)),
            secret=secret,
            operations=operations,
            active=active,
            description=description,
            created_by=created_by,
        ),
    )
    _log.info(
        "webhook_subscription_created",
        subscription_id=row.subscription_id,
        operations=operations,
        created_by=created_by,
    )
    return row, secret


# -- queueing --------------------------------------------------------------------------------

_EVENTS: Note[list[IncomingEvent]] = Note("webhook_events", list[IncomingEvent])


def incoming(received: Received[EventPayload]) -> IncomingEvent:
    """The event as its topic carried it: the body every subscriber gets."""
    envelope = received.envelope
    return IncomingEvent(envelope.id, envelope.type, envelope.subject, received.record.value or b"")


def always() -> bool:
    return True


@dataclass(frozen=True)
class WebhookQueue:
    store: QueueStore
    due: Wakeup = field(default_factory=Wakeup)
    """The dispatcher's: woken when deliveries are queued."""
    deciding: Callable[[], bool] = always
    """False in a rebuild: which subscriptions were active when an event arrived is not
    recorded, so the rebuild copies the deliveries instead of queueing them again."""

    async def note(self, work: UnitOfWork, run: Sequence[Received[EventPayload]]) -> None:
        """Keep the run's events for the batch's one queueing statement (``queue``)."""
        work.notes[_EVENTS].extend(incoming(r) for r in run)

    async def queue(self, work: UnitOfWork) -> None:
        """The batch's finish step: every noted event to every subscription that takes it,
        in one statement; a redelivered or replayed event queues nothing again."""
        if _EVENTS not in work.notes or not self.deciding():
            return
        events = work.notes[_EVENTS]
        queued = await self.store.queue_deliveries(work.conn, events, operations=False)
        if queued:
            work.wake_on_commit(self.due)
            _log.info("webhooks_queued", queued=queued, events=len(events))


# -- dispatching -----------------------------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Dispatcher:
    """Sends due deliveries, each in its own task: a slow or failing subscriber holds only
    its own slots (``per_subscription``), never another's, and every request has a timeout.

    :meth:`run` is long-lived: it claims what is due whenever a slot frees up, ``due`` is
    woken (deliveries queued, a retry falling due) or at the latest every ``poll_s``;
    cancelled, it cancels its sends (their leases run out and they are sent again) and
    closes the HTTP client.
    """

    units: UnitsOfWork
    store: DeliveryStore
    open_sender: Callable[[], AbstractAsyncContextManager[WebhookSender]]
    policy: RetryPolicy
    timeout_s: float
    per_subscription: int
    concurrency: int
    poll_s: float
    clock: Callable[[], datetime] = _utc_now
    jitter: Callable[[], float] = random.random
    due: Wakeup = field(default_factory=Wakeup)
    _sending: set[asyncio.Task[None]] = field(default_factory=set, init=False)

    async def run(self) -> None:
        async with self.open_sender() as sender:
            try:
                while True:
                    free = self.concurrency - len(self._sending)
                    claimed = await self.claim(free) if free > 0 else []
                    for one in claimed:
                        task = asyncio.ensure_future(self.deliver(sender, one))
                        self._sending.add(task)
                        task.add_done_callback(self._sent)
                    if claimed and len(claimed) == free:
                        continue  # more may be due
                    await self.due.wait(self.poll_s)
            finally:
                for task in self._sending:
                    task.cancel()
                await asyncio.gather(*self._sending, return_exceptions=True)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self.due.set()

    async def claim(self, limit: int) -> list[Claimed]:
        async with self.units.unit_of_work() as work:
            return await self.store.claim_due(
                work.conn,
                per_subscription=self.per_subscription,
                limit=limit,
                lease_s=self.timeout_s + _LEASE_MARGIN_S,
            )

    async def deliver(self, sender: WebhookSender, claimed: Claimed) -> None:
        """One signed attempt and its outcome, recorded with the event it publishes."""
        timestamp = int(self.clock().timestamp())
        headers = {
            "content-type": _CONTENT_TYPE,
            **signature_headers(claimed.secret, claimed.delivery_id, timestamp, claimed.body),
        }
        status: int | None = None
        error: str | None = None
        try:
            status = await sender.post(claimed.url, claimed.body, headers, self.timeout_s)
            if not is_accepted(status):
                error = f"answered HTTP {status}"
        except DeliveryFailed as exc:
            error = exc.reason
        except Exception as exc:
            # A failure the sender did not foresee counts as an attempt like any other, so
            # the delivery still ends delivered or dead-lettered.
            error = f"could not send ({type(exc).__name__})"
        try:
            await self._settle(claimed, status, error)
        except Exception as exc:
            # The lease runs out and the delivery is sent again, with the same webhook-id.
            _log.warning(
                "webhook_outcome_unrecorded",
                delivery_id=claimed.delivery_id,
                error=type(exc).__name__,
            )

    async def _settle(self, claimed: Claimed, status: int | None, error: str | None) -> None:
        log = _log.bind(
            delivery_id=claimed.delivery_id,
            subscription_id=claimed.subscription_id,
            event_type=claimed.event_type,
            attempts=claimed.attempts,
            status_code=status,
        )
        async with self.units.unit_of_work() as work:
            now = self.clock()
            if error is None:
                assert status is not None
                if await self.store.record_delivered(work.conn, claimed, status, now):
                    work.emit(_delivered(claimed, status, now), subject=claimed.subject)
                    log.info("webhook_delivered")
                return
            delay = self.policy.delay_s(claimed.attempts, self.jitter)
            if delay is not None:
                retry_at = now + timedelta(seconds=delay)
                if await self.store.record_retry(work.conn, claimed, retry_at, status, error):
                    self.due.at(retry_at)
                    log.info("webhook_retry", reason=error, retry_in_s=round(delay, 3))
                return
            if await self.store.record_dead(work.conn, claimed, now, status, error):
                work.emit(_dead(claimed, status, error, now), subject=claimed.subject)
                log.warning("webhook_dead_lettered", reason=error)


def _about(claimed: Claimed) -> dict[str, Any]:
    """What both outcome events say about the delivery."""
    return {
        "delivery_id": claimed.delivery_id,
        "subscription_id": claimed.subscription_id,
        "order_id": claimed.subject,
        "event_id": str(claimed.event_id),
        "url": claimed.url,
        "attempts": claimed.attempts,
    }


def _delivered(claimed: Claimed, status: int, at: datetime) -> WebhookDelivered:
    return WebhookDelivered(**_about(claimed), status_code=status, delivered_at=at)


def _dead(claimed: Claimed, status: int | None, error: str, at: datetime) -> WebhookDeadLettered:
    return WebhookDeadLettered(
        **_about(claimed),
        last_status_code=status if status is not None and 100 <= status <= 599 else None,
        last_error=error,
        dead_lettered_at=at,
    )
