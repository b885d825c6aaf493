"""A realistic stream of order-lifecycle events on every topic the analytics worker reads,
keyed as the services key them: the kill test's and the analytics benchmark's."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta

from aiokafka import AIOKafkaProducer

from oms_events.codec import encode
from oms_events.registry import EventPayload
from oms_events.returns import ReturnReason
from tests.support.analytics import (
    accepted,
    at,
    authorized,
    back_in_stock,
    backordered,
    canceled,
    captured,
    completed,
    envelope,
    fulfilment_created,
    fulfilment_rejected,
    out_of_stock,
    refunded,
    rejected,
    rerouted,
    return_requested,
    shipped,
    stock_committed,
    voided,
)
from tests.support.world import Env

__all__ = ["CHANNELS", "LOCATIONS", "SOURCE_TOPICS", "Timed", "order_stream", "send_keyed"]

CHANNELS = ("web-de", "marketplace", "store-koeln")
LOCATIONS = ("WH-HAMBURG", "ST-MUNICH", "WH-BERLIN")
SOURCE_TOPICS = (
    "oms.orders",
    "oms.payments",
    "oms.shipments",
    "oms.returns",
    "oms.sourcing",
    "oms.inventory",
)

Timed = tuple[EventPayload, datetime]


def order_events(n: int, rng: random.Random) -> list[tuple[str, Timed]]:
    """One order's events per topic: placed, paid, sourced, shipped, completed. Every tenth
    rejected, canceled (voided, or left authorised: an exception), backordered, re-sourced,
    or returned and refunded; some captures delivered twice."""
    order_id = f"O{n:04d}"
    channel = CHANNELS[n % len(CHANNELS)]
    currency = "CHF" if n % 7 == 0 else "EUR"
    amount = 1000 + 50 * rng.randrange(60)
    location, other = rng.sample(LOCATIONS, 2)
    placed = at("06:00") + timedelta(minutes=3 * n, seconds=rng.randrange(60))
    kind = n % 10
    if kind == 0:
        return [("oms.orders", (rejected(order_id, channel), placed))]
    events: list[tuple[str, Timed]] = []

    def emit(name: str, payload: EventPayload, when: datetime) -> None:
        events.append((name, (payload, when)))

    emit("oms.orders", accepted(order_id, channel, amount, currency), placed)
    emit("oms.payments", authorized(order_id, amount, currency), placed + timedelta(minutes=1))
    if kind == 1:
        emit("oms.sourcing", fulfilment_created(order_id, location), placed + timedelta(minutes=2))
        gone = placed + timedelta(minutes=20)
        emit("oms.orders", canceled(order_id, gone), gone)
        if n % 20 != 11:
            emit("oms.payments", voided(order_id, amount, currency), gone + timedelta(minutes=1))
        return events
    promise = placed + timedelta(hours=rng.choice((4, 6)))
    released = placed + timedelta(minutes=2)
    if kind == 2:
        emit("oms.sourcing", backordered(order_id), released)
        released = placed + timedelta(minutes=90)
    emit("oms.sourcing", fulfilment_created(order_id, location, promise), released)
    if kind == 3:
        emit(
            "oms.shipments",
            fulfilment_rejected(order_id, location),
            released + timedelta(minutes=8),
        )
        emit("oms.sourcing", rerouted(order_id, location, other), released + timedelta(minutes=9))
        emit(
            "oms.sourcing",
            fulfilment_created(order_id, other, promise),
            released + timedelta(minutes=10),
        )
        location = other
    shipped_at = released + timedelta(minutes=20 + rng.randrange(120))
    emit("oms.shipments", shipped(order_id, shipped_at, location), shipped_at)
    committed = stock_committed(f"SKU-{n % 5}", location, order_id, 1 + n % 3)
    emit("oms.inventory", committed, shipped_at)
    capture = captured(order_id, f"cap-{order_id}", amount, amount, currency)
    emit("oms.payments", capture, shipped_at + timedelta(minutes=1))
    if n % 4 == 1:
        emit("oms.payments", capture, shipped_at + timedelta(minutes=1))  # delivered twice
    done = placed + timedelta(hours=5, minutes=rng.randrange(60))
    emit("oms.orders", completed(order_id, done), done)
    if kind == 4:
        asked = done + timedelta(hours=2)
        reason = rng.choice(list(ReturnReason))
        where = CHANNELS[(n + 1) % len(CHANNELS)]
        emit(
            "oms.returns", return_requested(order_id, f"ret-{order_id}", where, {reason: 1}), asked
        )
        refund = refunded(order_id, f"ref-{order_id}", amount // 2, amount // 2, currency)
        emit("oms.payments", refund, asked + timedelta(hours=1))
    return events


def order_stream(orders: int = 320, seed: int = 14) -> dict[str, list[Timed]]:
    """Every topic's events for ``orders`` orders placed 3 minutes apart, each topic in event
    time (so nothing is late)."""
    rng = random.Random(seed)
    per_topic: dict[str, list[Timed]] = {name: [] for name in SOURCE_TOPICS}
    for n in range(orders):
        for name, event in order_events(n, rng):
            per_topic[name].append(event)
        if n % 16 == 3:  # a stock-out at a location, back an hour later
            sku, location = f"SKU-{n % 5}", LOCATIONS[n % len(LOCATIONS)]
            since = at("06:00") + timedelta(minutes=3 * n)
            per_topic["oms.inventory"].append((out_of_stock(sku, location, since), since))
            per_topic["oms.inventory"].append(
                (back_in_stock(sku, location), since + timedelta(hours=1))
            )
    for events in per_topic.values():
        events.sort(key=lambda event: event[1])  # stable: an order's own events stay in order
    return per_topic


async def send_keyed(env: Env, stream: dict[str, list[Timed]]) -> None:
    """Each event keyed as its topic says (oms.inventory by ``SKU@location``, even a stock
    commit about an order, as the inventory service sends it; the others by order id), so
    the orders spread over every partition, an order's events on a topic share one, in
    order, and so do a SKU's at a location."""
    producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        sent = []
        for name, events in stream.items():
            for payload, when in events:
                event = envelope(payload, when)
                key = event.subject
                if name == "oms.inventory":
                    key = f"{getattr(payload, 'sku')}@{getattr(payload, 'location_id')}"  # noqa: B009
                sent.append(await producer.send(env.topic(name), encode(event), key=key.encode()))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
