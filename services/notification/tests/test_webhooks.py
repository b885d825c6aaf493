"""Webhooks without Kafka, PostgreSQL or a network: signatures, the backoff schedule, filter
matching, endpoint and event-type validation, the alert rate limit, and the dispatcher's
outcomes on fakes."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import cycle

import asyncpg
import pytest

from oms_events.codec import decode, encode, new_event
from oms_events.inventory import LowStock
from oms_events.operations import RecordDeadLettered
from oms_events.orders import OrderConfirmed, OrderStuck
from oms_events.registry import EventPayload
from oms_notification.adapters.webhooks import (
    Claimed,
    IncomingEvent,
    NewSubscription,
    SubscriptionRow,
)
from oms_notification.domain.webhooks import (
    DeliveryFailed,
    RetryPolicy,
    alerts_allowed,
    endpoint_problem,
    matching_subscriptions,
    new_secret,
    signature_headers,
    window_start,
)
from oms_notification.entrypoints.kafka import subscriptions
from oms_notification.service_layer.alerts import Alerts
from oms_notification.service_layer.messages import CustomerMessages
from oms_notification.service_layer.webhooks import (
    ALERT_EVENT_TYPES,
    Dispatcher,
    InvalidSubscription,
    WebhookQueue,
    create_subscription,
)
from oms_runtime import ConsumedRecord, Received, UnitOfWork, in_memory_unit_of_work
from services.notification.tests.fakes import FakeMessageStore
from tests.support.webhooks import documented_verifier

verify = documented_verifier()
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

# -- signatures ------------------------------------------------------------------------------


def test_the_signature_matches_the_standard_webhooks_test_vector() -> None:
    # The example of the Standard Webhooks specification's reference libraries.
    headers = signature_headers(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert headers == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }


def test_the_documented_snippet_verifies_a_delivery_and_nothing_else() -> None:
    secret, body, now = new_secret(), b'{"type":"OrderConfirmed"}', int(time.time())
    headers = signature_headers(secret, "msg_1", now, body)
    assert verify(secret, headers, body)
    assert not verify(secret, headers, body + b" ")
    assert not verify(new_secret(), headers, body)
    assert not verify(secret, {**headers, "webhook-id": "msg_2"}, body)
    stale = signature_headers(secret, "msg_1", now - 3600, body)
    assert not verify(secret, stale, body)


def test_a_secret_is_32_random_bytes_in_the_standard_form() -> None:
    import base64

    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


# -- backoff ---------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap_with_jitter_and_then_dead_letters() -> None:
    policy = RetryPolicy(max_attempts=6, first_s=1.0, max_s=5.0)
    assert policy.schedule(lambda: 1.0) == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.schedule(lambda: 0.0) == [0.5, 1.0, 2.0, 2.5, 2.5]
    jitters = cycle([0.0, 0.5, 1.0])
    waits = policy.schedule(lambda: next(jitters))
    assert waits == [0.5, 1.5, 4.0, 2.5, 3.75]
    assert policy.delay_s(6, lambda: 1.0) is None
    assert RetryPolicy(max_attempts=1, first_s=1.0, max_s=1.0).delay_s(1, lambda: 1.0) is None


# -- matching and validation -----------------------------------------------------------------


def test_an_event_goes_to_the_subscriptions_whose_filter_takes_it() -> None:
    filters: Mapping[str, Collection[str]] = {
        "erp": {"OrderConfirmed", "OrderCanceled"},
        "crm": {"OrderCanceled"},
        "wms": {"ShipmentShipped"},
    }
    assert matching_subscriptions("OrderCanceled", filters) == ["erp", "crm"]
    assert matching_subscriptions("OrderConfirmed", filters) == ["erp"]
    assert matching_subscriptions("OrderHeld", filters) == []


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://erp.example/hooks?x=1", None),
        ("http://127.0.0.1:8080/hook", None),
        ("ftp://erp.example/hook", "must be an http or https URL"),
        ("https:///hook", "names no host"),
        ("https://user:pw@erp.example/hook", "must not carry credentials"),
        ("https://token@erp.example/hook", "must not carry credentials"),
        ("https://erp.example/hook#top", "must not have a fragment"),
        ("https://erp.example:99999/hook", "not a URL"),
        ("https://erp.example/ho ok", "contains whitespace"),
        ("https://erp.example/" + "a" * 2000, "longer than 2000"),
    ],
)
def test_endpoint_urls(url: str, problem: str | None) -> None:
    found = endpoint_problem(url)
    assert (found is None) if problem is None else (found is not None and problem in found)


@dataclass
class FakeSubscriptions:
    created: list[NewSubscription] = field(default_factory=list)

    async def create_subscription(
        self, conn: asyncpg.Connection, new: NewSubscription
    ) -> SubscriptionRow:
        self.created.append(new)
        return SubscriptionRow(
            new.subscription_id,
            new.url,
            new.event_types,
            new.operations,
            new.active,
            new.description,
            new.created_by,
            T0,
        )


async def _create(store: FakeSubscriptions, url: str, *types: str, operations: bool = False) -> str:
    row, secret = await create_subscription(
        in_memory_unit_of_work(),
        store,
        url=url,
        event_types=types,
        operations=operations,
        active=True,
        description=None,
        created_by="ops-1",
    )
    assert row.subscription_id.startswith("whs_")
    return secret


async def test_a_subscription_names_event_types_of_the_contract_that_are_offered() -> None:
    store = FakeSubscriptions()
    secret = await _create(store, "https://erp.example/h", "OrderConfirmed", "OrderConfirmed")
    assert [(n.event_types, n.secret) for n in store.created] == [(("OrderConfirmed",), secret)]
    await _create(store, "https://ops.example/h", "LowStock", operations=True)
    with pytest.raises(InvalidSubscription) as refused:
        await _create(store, "https://a:b@erp.example/h", "OrderTeleported", "StockReserved")
    assert [f for f, _ in refused.value.errors] == ["url", "event_types", "event_types"]
    assert "not an event type of the contract" in refused.value.errors[1][1]
    assert "not offered here" in refused.value.errors[2][1]
    with pytest.raises(InvalidSubscription):
        await _create(store, "https://ops.example/h", "OrderConfirmed", operations=True)
    assert len(store.created) == 2


# -- queueing --------------------------------------------------------------------------------


def _received(payload: EventPayload, subject: str, offset: int) -> Received[EventPayload]:
    envelope = new_event(payload, subject=subject, source="oms/order", correlation_id="c-1")
    record = ConsumedRecord("oms.orders", 0, offset, subject.encode(), encode(envelope))
    return Received(payload, envelope, record)


@dataclass
class FakeQueue:
    """Filters by event type, keyed by (subscription, event) like the table."""

    filters: dict[str, set[str]]
    operations: set[str] = field(default_factory=set)
    deliveries: dict[tuple[str, uuid.UUID], bytes] = field(default_factory=dict)
    windows: dict[tuple[str, datetime], list[int]] = field(default_factory=dict)

    async def queue_deliveries(
        self, conn: asyncpg.Connection, events: Sequence[IncomingEvent], *, operations: bool
    ) -> int:
        new = 0
        for event in events:
            for sid in matching_subscriptions(event.event_type, self.filters):
                if (sid in self.operations) == operations and (sid, event.event_id) not in (
                    self.deliveries
                ):
                    self.deliveries[(sid, event.event_id)] = event.body
                    new += 1
        return new

    async def take_alert_slots(self, conn: asyncpg.Connection, kind: str, start: datetime) -> int:
        return self.windows.setdefault((kind, start), [0, 0])[0]

    async def count_alerts(
        self, conn: asyncpg.Connection, kind: str, start: datetime, sent: int, suppressed: int
    ) -> None:
        window = self.windows[(kind, start)]
        window[0] += sent
        window[1] += suppressed


async def test_each_matching_subscription_gets_the_event_once_as_its_topic_carried_it() -> None:
    store = FakeQueue({"erp": {"OrderConfirmed"}, "crm": {"OrderCanceled"}})
    queue = WebhookQueue(store)
    run = [
        _received(OrderConfirmed(order_id=f"o-{n}", confirmed_at=T0), f"o-{n}", n) for n in (1, 2)
    ]
    for _ in range(2):  # a redelivery or replay queues nothing again
        work = in_memory_unit_of_work()
        await queue.note(work, run)
        await queue.note(work, run[:1])
        await queue.queue(work)
    assert sorted(store.deliveries) == sorted(("erp", r.envelope.id) for r in run)
    assert {decode(b).envelope.subject for b in store.deliveries.values()} == {"o-1", "o-2"}
    await queue.queue(in_memory_unit_of_work())  # a batch with nothing noted: no statement


async def test_a_rebuild_queues_no_delivery_and_counts_no_alert() -> None:
    """It copies the deliveries and windows instead: which subscriptions were active and
    which alerts a window let through is not recorded anywhere else."""
    store = FakeQueue({"erp": {"OrderConfirmed", "LowStock"}}, operations={"ops"})
    store.filters["ops"] = {"LowStock"}
    queue = WebhookQueue(store, deciding=lambda: False)
    alerts = Alerts(store, limit=5, window_s=300, clock=lambda: T0, deciding=lambda: False)
    work = in_memory_unit_of_work()
    await queue.note(work, [_received(OrderConfirmed(order_id="o-1", confirmed_at=T0), "o-1", 1)])
    await queue.queue(work)
    low = LowStock(sku="S-1", location_id="DC", available=1, threshold=5)
    received = _received(low, "S-1@DC", 2)
    await alerts.alerts(
        in_memory_unit_of_work(), [Received(low, received.envelope, received.record)]
    )
    assert (store.deliveries, store.windows) == ({}, {})


# -- alerts ----------------------------------------------------------------------------------


def test_the_alert_window_lets_through_at_most_its_limit() -> None:
    assert [alerts_allowed(sent, 3, 2) for sent in range(5)] == [2, 2, 1, 0, 0]
    assert alerts_allowed(0, 0, 5) == 0
    assert window_start(1000.0, 300.0) == 900.0
    assert window_start(1200.0, 300.0) == 1200.0


async def test_alerts_beyond_the_limit_per_kind_and_window_are_counted_not_sent() -> None:
    store = FakeQueue({"ops": {"LowStock"}}, operations={"ops"})
    now = [T0]
    alerts = Alerts(store, limit=2, window_s=300, clock=lambda: now[0])

    def low(n: int) -> Received[LowStock]:
        payload = LowStock(sku=f"S-{n}", location_id="DC", available=1, threshold=5)
        received = _received(payload, f"S-{n}@DC", n)
        return Received(payload, received.envelope, received.record)

    await alerts.alerts(in_memory_unit_of_work(), [low(1), low(2), low(3)])
    await alerts.alerts(in_memory_unit_of_work(), [low(4)])
    assert len(store.deliveries) == 2
    assert store.windows == {("LowStock", T0): [2, 2]}
    now[0] = T0 + timedelta(seconds=300)  # a new window
    await alerts.alerts(in_memory_unit_of_work(), [low(5)])
    assert len(store.deliveries) == 3


async def test_stuck_orders_and_dead_letters_are_alerts_of_their_own_kind() -> None:
    store = FakeQueue(
        {"ops": {"OrderStuck", "RecordDeadLettered"}, "stock-desk": {"LowStock"}},
        operations={"ops", "stock-desk"},
    )
    alerts = Alerts(store, limit=1, window_s=300, clock=lambda: T0)
    stuck = [
        _received(
            OrderStuck(
                order_id=f"o-{n}", status="CONFIRMED", since=T0, threshold_s=60, detected_at=T0
            ),
            f"o-{n}",
            n,
        )
        for n in (1, 2)
    ]
    dead = _received(
        RecordDeadLettered(
            service="inventory",
            topic="oms.inventory-feed",
            partition=0,
            offset=7,
            reason="invalid_payload",
            attempts=1,
            dead_lettered_at=T0,
        ),
        "oms.inventory-feed:0:7",
        3,
    )
    await alerts.alerts(in_memory_unit_of_work(), stuck)  # type: ignore[arg-type]
    await alerts.alerts(in_memory_unit_of_work(), [dead])  # type: ignore[list-item]
    # One of each kind within the limit of one; only the subscription asking for them gets them.
    assert sorted(store.deliveries) == sorted(
        [("ops", stuck[0].envelope.id), ("ops", dead.envelope.id)]
    )
    assert store.windows == {("OrderStuck", T0): [1, 1], ("RecordDeadLettered", T0): [1, 0]}
    assert decode(store.deliveries[("ops", dead.envelope.id)]).payload == dead.payload


def test_the_new_alert_kinds_are_subscribed_on_their_topics() -> None:
    alerts = Alerts(FakeQueue({}), limit=1, window_s=300)
    messages = CustomerMessages(store=FakeMessageStore())
    found = {s.spec.name: s for s in subscriptions(messages, WebhookQueue(FakeQueue({})), alerts)}
    assert set(found["oms.operations"].handlers) == {"RecordDeadLettered"}
    assert "OrderStuck" in found["oms.orders"].handlers
    assert {"OrderStuck", "RecordDeadLettered"} <= ALERT_EVENT_TYPES


# -- the dispatcher --------------------------------------------------------------------------


@dataclass
class FakeDeliveries:
    """Pending deliveries due at their time; claims and settlements as the table does them."""

    clock: list[datetime]
    due: dict[str, datetime] = field(default_factory=dict)
    claimed: dict[str, Claimed] = field(default_factory=dict)
    outcomes: list[tuple[str, str, int | None]] = field(default_factory=list)

    async def claim_due(
        self, conn: asyncpg.Connection, *, per_subscription: int, limit: int, lease_s: float
    ) -> list[Claimed]:
        found = []
        for delivery_id, at in list(self.due.items()):
            if at <= self.clock[0] and len(found) < limit:
                one = self.claimed[delivery_id]
                one = replace(one, attempts=one.attempts + 1, lease_id=uuid.uuid4())
                self.claimed[delivery_id] = one
                del self.due[delivery_id]
                found.append(one)
        return found

    async def record_delivered(
        self, conn: asyncpg.Connection, claimed: Claimed, status_code: int, at: datetime
    ) -> bool:
        self.outcomes.append(("delivered", claimed.delivery_id, status_code))
        return True

    async def record_retry(
        self,
        conn: asyncpg.Connection,
        claimed: Claimed,
        next_attempt_at: datetime,
        status_code: int | None,
        error: str,
    ) -> bool:
        self.outcomes.append(("retry", error, status_code))
        self.due[claimed.delivery_id] = next_attempt_at
        return True

    async def record_dead(
        self,
        conn: asyncpg.Connection,
        claimed: Claimed,
        at: datetime,
        status_code: int | None,
        error: str,
    ) -> bool:
        self.outcomes.append(("dead", error, status_code))
        return True


@dataclass
class FakeSender:
    answers: list[int | str]
    sent: list[Mapping[str, str]] = field(default_factory=list)

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> int:
        self.sent.append(headers)
        answer = self.answers[min(len(self.sent), len(self.answers)) - 1]
        if answer == "crash":
            raise RuntimeError("the sender failed")
        if isinstance(answer, str):
            raise DeliveryFailed(answer)
        return answer


@dataclass
class FakeUnits:
    committed: list[UnitOfWork] = field(default_factory=list)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        work = in_memory_unit_of_work("notification")
        yield work
        self.committed.append(work)

    def published(self) -> list[str]:
        return [decode(r.payload).envelope.type for w in self.committed for r in w.outbox.records]


async def _run(
    answers: list[int | str], attempts: int = 4
) -> tuple[FakeDeliveries, FakeSender, FakeUnits]:
    clock = [T0]
    store = FakeDeliveries(clock)
    body = encode(
        new_event(
            OrderConfirmed(order_id="o-1", confirmed_at=T0),
            subject="o-1",
            source="oms/order",
            correlation_id="c",
        )
    )
    store.claimed["msg_1"] = Claimed(
        "msg_1",
        uuid.uuid4(),
        "whs_1",
        "https://erp.example/h",
        new_secret(),
        uuid.uuid4(),
        "OrderConfirmed",
        "o-1",
        body,
        0,
    )
    store.due["msg_1"] = T0
    units, sender = FakeUnits(), FakeSender(answers)
    dispatcher = Dispatcher(
        units=units,
        store=store,
        open_sender=lambda: pytest.fail("not opened in this test"),
        policy=RetryPolicy(max_attempts=attempts, first_s=10, max_s=60),
        timeout_s=1,
        per_subscription=1,
        concurrency=4,
        poll_s=1,
        clock=lambda: clock[0],
        jitter=lambda: 1.0,
    )
    for _ in range(attempts + 2):
        for claimed in await dispatcher.claim(4):
            await dispatcher.deliver(sender, claimed)
        clock[0] += timedelta(minutes=5)
    return store, sender, units


async def test_a_delivery_that_fails_twice_is_accepted_once_and_published_once() -> None:
    store, sender, units = await _run([500, "no answer within 1 s", 204])
    assert store.outcomes == [
        ("retry", "answered HTTP 500", 500),
        ("retry", "no answer within 1 s", None),
        ("delivered", "msg_1", 204),
    ]
    assert {h["webhook-id"] for h in sender.sent} == {"msg_1"} and len(sender.sent) == 3
    assert units.published() == ["WebhookDelivered"]


async def test_a_delivery_that_always_fails_is_dead_lettered_after_its_attempts() -> None:
    store, sender, units = await _run([503, "crash", 503], attempts=3)
    assert [o[0] for o in store.outcomes] == ["retry", "retry", "dead"]
    assert store.outcomes[1] == ("retry", "could not send (RuntimeError)", None)
    assert len(sender.sent) == 3
    assert units.published() == ["WebhookDeadLettered"]
    [dead] = [decode(r.payload) for w in units.committed for r in w.outbox.records]
    assert dead.payload.model_dump(include={"attempts", "last_status_code", "order_id"}) == {
        "attempts": 3,
        "last_status_code": 503,
        "order_id": "o-1",
    }
