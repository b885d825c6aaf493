"""The notification service's use case without Kafka or PostgreSQL: which message each
customer-visible change queues, and that a change is never told twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from oms_events.codec import new_event
from oms_events.orders import OrderAccepted, OrderCanceled
from oms_events.payments import PaymentFailed
from oms_events.registry import EventPayload
from oms_events.values import Actor, ActorRole, Money
from oms_notification.adapters.notifications import QueuedMessage
from oms_notification.service_layer.notify import Notifier
from oms_runtime import ConsumedRecord, Received, in_memory_unit_of_work
from tests.support.orders import order_submitted


@dataclass
class InMemoryNotifications:
    queued: dict[tuple[object, str], QueuedMessage] = field(default_factory=dict)

    async def queue_notifications(
        self, conn: asyncpg.Connection, messages: Sequence[QueuedMessage]
    ) -> int:
        new = [m for m in messages if (m.trigger_event_id, m.channel) not in self.queued]
        for m in new:
            self.queued[(m.trigger_event_id, m.channel)] = m
        return len(new)


def received(payload: EventPayload, offset: int) -> Received[EventPayload]:
    envelope = new_event(payload, subject="ord-1", source="oms/order", correlation_id="c-1")
    return Received(payload, envelope, ConsumedRecord("oms.orders", 0, offset, b"ord-1", None))


ACCEPTED = OrderAccepted(order_id="ord-1", **order_submitted("N-1").model_dump())
CANCELED = OrderCanceled(
    order_id="ord-1",
    reason="changed my mind",
    canceled_by=Actor(actor_id="web-de", role=ActorRole.CUSTOMER),
    canceled_at=ACCEPTED.placed_at,
)
DECLINED = PaymentFailed(
    order_id="ord-1",
    payment_id="pay-1",
    provider="sandbox",
    amount=Money(amount_minor=100, currency="EUR"),
    code="declined",
    message="card declined",
    retryable=False,
)


async def test_each_change_queues_its_template_once_per_channel() -> None:
    store = InMemoryNotifications()
    changes = [received(ACCEPTED, 0), received(CANCELED, 1), received(DECLINED, 2)]
    await Notifier(store).customer_visible_changes(in_memory_unit_of_work(), changes)
    assert [(m.trigger_type, m.template, m.channel) for m in store.queued.values()] == [
        ("OrderAccepted", "order_received", "email"),
        ("OrderCanceled", "order_canceled", "email"),
        ("PaymentFailed", "payment_failed", "email"),
    ]


async def test_a_redelivered_change_is_not_told_twice_and_keeps_its_id() -> None:
    store = InMemoryNotifications()
    notifier = Notifier(store)
    change = received(ACCEPTED, 0)
    await notifier.customer_visible_changes(in_memory_unit_of_work(), [change])
    [first] = store.queued.values()
    await notifier.customer_visible_changes(in_memory_unit_of_work(), [change, change])
    assert list(store.queued.values()) == [first]
    assert first.notification_id.startswith("ntf_")
