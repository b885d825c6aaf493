"""An order taken from release to completion by its staff's actions and its carrier's scans,
with the order, inventory, orchestration and shipping services running as OS processes on the
real broker and database (the shipping service's own tests are beside it)."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from oms_events.fulfilment import Collected, ReadyForPickup, ReceivedAtStore
from oms_events.inventory import StockReceived
from oms_events.values import DeliveryMethod, LineQuantity
from oms_order.domain.identity import order_id_for
from oms_runtime import key_digest
from tests.support.http import call_api
from tests.support.inventory import (
    BERLIN,
    HAMBURG,
    TSHIRT,
    events_of,
    events_until,
    feed,
    import_catalogue,
    receipt,
    request,
    reserve,
    send,
)
from tests.support.orchestration import SOURCING, write_sourcing
from tests.support.orders import CHANNEL, encoded, order_submitted
from tests.support.processes import ServiceProcess
from tests.support.shipping import (
    fulfilment_order,
    label_tracking_number,
    now,
    scan,
    send_scans,
    send_staff,
    work_through,
)
from tests.support.smtp import SmtpServer, text_of
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

STAFF_KEY = "test-key-staff-berlin-counter"
STAFF_KEYS = json.dumps(
    {
        key_digest(STAFF_KEY): {
            "role": "staff",
            "actor_id": "counter-1",
            "location_id": BERLIN,
        }
    }
)


async def _place(env: Env, external: str, quantity: int) -> str:
    submitted = order_submitted(external, lines=[(TSHIRT, quantity)])
    await send(env, "oms.channel-order-intake", [(f"{CHANNEL}:{external}", encoded(submitted))])
    return order_id_for(CHANNEL, external)


async def _order(env: Env, order_id: str, status: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        rows = await env.fetch(
            "order", "SELECT status, payment_status FROM orders WHERE order_id = $1", order_id
        )
        return dict(rows[0]) if rows and rows[0]["status"] == status else None

    return await wait_for(probe, timeout=60, what=f"{order_id} to be {status}")


async def _orchestration_fulfilment(env: Env, order_id: str) -> list[tuple[str, str]]:
    rows = await env.fetch(
        "orchestration",
        "SELECT location_id, status FROM fulfilment_orders WHERE order_id = $1",
        order_id,
    )
    return [(r["location_id"], r["status"]) for r in rows]


async def test_staff_and_carrier_take_a_released_order_to_completed_never_rerouted(
    env: Env, tmp_path: Path
) -> None:
    config = copy.deepcopy(SOURCING)
    config["profiles"][0]["accept_within_s"] = 10  # the shortest deadline a profile may set
    await import_catalogue(env, tmp_path)
    services = [
        await env.service("order"),
        await env.service("inventory"),
        await env.service(
            "orchestration",
            OMS_SOURCING_CONFIG=write_sourcing(tmp_path, config),
            OMS_DEADLINE_SWEEP_S="0.5",
        ),
        await env.service("shipping"),
    ]
    for service in services:
        await service.wait_ready()
    await feed(
        env,
        StockReceived(
            sku=TSHIRT,
            location_id=HAMBURG,
            receipt_id="rcv-1",
            quantity=10,
            received_at=now(),
        ),
    )

    await _stock_seen(env, HAMBURG, 10)

    # A home-delivery order placed on the intake topic is released to Hamburg.
    order_id = await _place(env, "E2E-1", 2)
    await _order(env, order_id, "RELEASED")
    fo = await fulfilment_order(env, order_id, "CREATED")
    assert fo["location_id"] == HAMBURG
    start = now() - timedelta(minutes=30)
    accept, pick, pack, hand_over = work_through(
        fo, (LineQuantity(line_id="1", sku=TSHIRT, quantity=2),), start
    )
    await send_staff(env, accept)

    async def accepted_by_orchestration() -> bool:
        return await _orchestration_fulfilment(env, order_id) == [(HAMBURG, "accepted")]

    await wait_for(accepted_by_orchestration, what="orchestration to hear of the acceptance")

    # A second order, released later, is not accepted: once its later deadline has been
    # swept (it is called off at Hamburg), the first one's deadline has passed too.
    control = await _place(env, "E2E-2", 1)
    await fulfilment_order(env, control, "CREATED")
    await fulfilment_order(env, control, "CANCELED")
    assert await _orchestration_fulfilment(env, order_id) == [(HAMBURG, "accepted")]
    assert (await fulfilment_order(env, order_id))["status"] == "ACCEPTED"

    # The rest of the staff's day, then the carrier's scans.
    await send_staff(env, pick, pack, hand_over)
    await fulfilment_order(env, order_id, "SHIPPED")
    tracking = await label_tracking_number(env, fo["fulfilment_order_id"])
    await send_scans(
        env,
        scan(tracking, "PU", start + timedelta(minutes=10)),
        scan(tracking, "OD", start + timedelta(minutes=20)),
        scan(tracking, "DL", start + timedelta(minutes=25)),
    )
    completed = await _order(env, order_id, "COMPLETED")
    assert completed["payment_status"] == "CAPTURED"
    await fulfilment_order(env, order_id, "DELIVERED")

    async def committed() -> list[Any]:
        rows = await env.fetch(
            "inventory",
            "SELECT status, quantity FROM reservations WHERE order_id = $1",
            order_id,
        )
        return [tuple(r) for r in rows] if rows and rows[0]["status"] == "committed" else []

    assert await wait_for(committed, what="the stock committed") == [("committed", 2)]
    published = await events_until(env, "oms.shipments", 7)
    assert [e.envelope.type for e in published if e.envelope.subject == order_id] == [
        "FulfilmentOrderAccepted",
        "Packed",
        "ReadyToShip",
        "ShipmentShipped",
        "InTransit",
        "OutForDelivery",
        "Delivered",
    ]
    # Never rerouted: the one fulfilment order, accepted, no reroute on oms.sourcing.
    sourcing = await events_until(env, "oms.sourcing", 1, "FulfilmentOrderCreated")
    assert [e.payload.order_id for e in sourcing].count(order_id) == 1
    assert await _orchestration_fulfilment(env, order_id) == [(HAMBURG, "accepted")]


async def _stock_seen(env: Env, location: str, available: int) -> None:
    """Until orchestration sees ``available`` T-shirts at ``location``: an order placed before
    would be sourced without them (the receipt and the order are on different topics) and
    backordered first."""

    async def seen() -> bool:
        rows = await env.fetch(
            "orchestration",
            "SELECT available FROM availability WHERE sku = $1 AND location_id = $2",
            TSHIRT,
            location,
        )
        return bool(rows) and rows[0]["available"] == available

    await wait_for(seen, what=f"orchestration to see {available} T-shirts at {location}")


async def _pickup_world(
    env: Env, smtp: SmtpServer, tmp_path: Path, hold_for_s: int | None = None, **shipping: str
) -> ServiceProcess:
    """Every service a pickup order meets, ready; pickup holds of ``hold_for_s`` if given,
    the shipping service with the ``shipping`` settings, Berlin Mitte's name and hours for
    the e-mails. Returns the order service (its API takes the Berlin staff's key)."""
    config = copy.deepcopy(SOURCING)
    if hold_for_s is not None:
        config["profiles"][1]["hold_for_s"] = hold_for_s
    await import_catalogue(env, tmp_path)
    stores = json.dumps({BERLIN: {"name": "Berlin Mitte", "hours": "Mo-Sa 10-20"}})
    services = [
        await env.service("order", OMS_ORDER_API_KEYS=STAFF_KEYS),
        await env.service("inventory", OMS_RESERVATION_SWEEP_S="0.2"),
        await env.service("orchestration", OMS_SOURCING_CONFIG=write_sourcing(tmp_path, config)),
        await env.service("shipping", **shipping),
        await env.service("notification", **smtp.env(), OMS_PICKUP_STORES=stores),
    ]
    for service in services:
        await service.wait_ready()
    return services[0]


async def _place_for_pickup(env: Env, external: str, method: DeliveryMethod) -> str:
    """Two T-shirts to collect in Berlin, placed on the intake topic: the order id."""
    submitted = order_submitted(external, lines=[(TSHIRT, 2)]).model_copy(
        update={"delivery_method": method, "pickup_store_id": BERLIN, "shipping_address": None}
    )
    await send(env, "oms.channel-order-intake", [(f"{CHANNEL}:{external}", encoded(submitted))])
    return order_id_for(CHANNEL, external)


async def _reservations(env: Env, order_id: str) -> list[tuple[Any, ...]]:
    rows = await env.fetch(
        "inventory",
        "SELECT status, fulfilment_order_id, expires_at < now() AS past FROM reservations"
        " WHERE order_id = $1",
        order_id,
    )
    return [tuple(r) for r in rows]


async def test_click_and_collect_is_collected_with_its_code_and_returned_at_the_store(
    env: Env, smtp: SmtpServer, tmp_path: Path
) -> None:
    """Its hold outlives its time while the store works on it (10 s here, a day by default):
    released to the store, it waits for the work. Collected, it comes back over the store's
    counter: one unit restocked, one quarantined, both refunded, the customer told."""
    # Long enough for the order to be released under a loaded machine's latency (6 s was
    # not, once: the hold expired first and the order was backordered).
    order = await _pickup_world(env, smtp, tmp_path, hold_for_s=10)
    await feed(env, receipt("rcv-b", TSHIRT, BERLIN, 5))
    await _stock_seen(env, BERLIN, 3)  # 5 received, 2 kept as the store's safety stock
    order_id = await _place_for_pickup(env, "CC-1", DeliveryMethod.CLICK_AND_COLLECT)
    fo = await fulfilment_order(env, order_id, "CREATED")
    assert fo["location_id"] == BERLIN

    # A hold asked for later, for longer, and never released: once it has expired, the
    # sweep has passed the order's own hold time.
    await request(env, reserve("ord-unreleased", (TSHIRT, BERLIN, 1), hold_for_s=11))

    async def unreleased_expired() -> bool:
        return [r[0] for r in await _reservations(env, "ord-unreleased")] == ["expired"]

    await wait_for(unreleased_expired, what="the unreleased hold to expire")
    assert await _reservations(env, order_id) == [("held", fo["fulfilment_order_id"], True)]

    start = now() - timedelta(minutes=30)
    lines = (LineQuantity(line_id="1", sku=TSHIRT, quantity=2),)
    accept, pick, pack, hand_over = work_through(fo, lines, start)
    await send_staff(env, accept, pick, pack, hand_over)  # no carrier takes pickup work
    await fulfilment_order(env, order_id, "READY_FOR_PICKUP")
    ready = [
        e.payload
        for e in await events_until(env, "oms.shipments", 1, "ReadyForPickup")
        if e.envelope.subject == order_id
    ]
    assert len(ready) == 1 and isinstance(ready[0], ReadyForPickup)
    assert ready[0].lines == lines and ready[0].hold_until > start + timedelta(days=6)
    fulfilled = await _order(env, order_id, "FULFILLED")
    assert fulfilled["payment_status"] == "CAPTURED"  # the value is taken once set aside

    ids = {k: fo[k] for k in ("order_id", "fulfilment_order_id", "location_id")}
    wrong = Collected(**ids, staff_id="counter-1", performed_at=now(), pickup_code="AAAAAAAA")
    right = Collected(
        **ids, staff_id="counter-1", performed_at=now(), pickup_code=ready[0].pickup_code
    )
    await send_staff(env, wrong, right)
    await _order(env, order_id, "COMPLETED")
    await fulfilment_order(env, order_id, "COLLECTED")
    timeline = await env.fetch(
        "order",
        "SELECT event_type FROM order_timeline WHERE order_id = $1 ORDER BY sequence",
        order_id,
    )
    assert [r["event_type"] for r in timeline][-3:] == [
        "PaymentCaptured",
        "ReadyForPickup",
        "OrderCompleted",
    ]
    refusals = await env.fetch(
        "shipping",
        "SELECT action, reason FROM refused_actions WHERE order_id = $1 ORDER BY taken",
        order_id,
    )
    assert [tuple(r) for r in refusals] == [
        ("hand_over", "collected_at_store"),
        ("collect", "wrong_pickup_code"),
    ]
    stock = await env.fetch(
        "inventory",
        "SELECT on_hand, reserved FROM stock WHERE sku = $1 AND location_id = $2",
        TSHIRT,
        BERLIN,
    )
    assert tuple(stock[0]) == (3, 0)  # committed when set aside: off the shelf and the hold
    assert await _reservations(env, order_id) == [("committed", fo["fulfilment_order_id"], True)]
    await events_until(env, "oms.shipments", 1, "PickedUpByCustomer")
    types = [
        e.envelope.type
        for e in await events_of(env, "oms.shipments", 1)
        if e.envelope.subject == order_id
    ]
    assert types == ["FulfilmentOrderAccepted", "Packed", "ReadyForPickup", "PickedUpByCustomer"]

    # The customer heard each step once, the pickup code and the store's hours among them.
    collected = "Sie haben Ihre Bestellung CC-1 abgeholt"

    async def collected_told() -> bool:
        return collected in smtp.sink.subjects()

    await wait_for(collected_told, what="the collected e-mail")
    mine = [m for m in smtp.sink.received() if "CC-1" in str(m["Subject"])]
    subjects = [str(m["Subject"]) for m in mine]
    assert subjects[0] == "Ihre Bestellung CC-1 ist bestätigt"
    assert subjects[-2:] == ["Ihre Bestellung CC-1 liegt zur Abholung bereit", collected]
    assert set(subjects[1:-2]) <= {"Wir bereiten Ihre Bestellung CC-1 vor"}  # unless overtaken
    assert len(subjects) == len(set(subjects))
    ready_mail = text_of(mine[-2])
    assert f"Ihr Abholcode: {ready[0].pickup_code}" in ready_mail
    assert "Berlin Mitte" in ready_mail and "Öffnungszeiten: Mo-Sa 10-20" in ready_mail

    await _returned_at_the_store(env, smtp, order, order_id)


async def _returned_at_the_store(
    env: Env, smtp: SmtpServer, order: ServiceProcess, order_id: str
) -> None:
    """The store's staff take both units back over HTTP: one goes back on the shelf, one
    into quarantine with 10.00 of its 29.75 refunded."""
    units = [{"line_id": "1", "quantity": 2}]
    opened = await call_api(
        order,
        "POST",
        f"/v1/orders/{order_id}/returns",
        body={"lines": [{**units[0], "reason": "size_or_fit"}]},
        idempotency_key="return-1",
        key=STAFF_KEY,
    )
    assert (opened.status, opened.body["channel"]) == (201, BERLIN), opened
    path = f"/v1/returns/{opened.body['return_id']}"
    received = await call_api(
        order,
        "POST",
        f"{path}/receipt",
        body={"lines": units},
        idempotency_key="rcv",
        key=STAFF_KEY,
    )
    assert received.body["status"] == "RECEIVED", received
    for key, disposition, refund in (("i1", "restock", None), ("i2", "quarantine", 1000)):
        inspected = await call_api(
            order,
            "POST",
            f"{path}/inspection",
            body={
                "lines": [{"line_id": "1", "quantity": 1, "disposition": disposition}],
                "refund_minor": refund,
            },
            idempotency_key=key,
            key=STAFF_KEY,
        )
        assert inspected.status == 200, inspected
    assert (inspected.body["status"], inspected.body["refunded_minor"]) == ("REFUNDED", 3975)

    async def back_in_stock() -> tuple[Any, ...] | None:
        rows = await env.fetch(
            "inventory",
            "SELECT on_hand, quarantined FROM stock WHERE sku = $1 AND location_id = $2",
            TSHIRT,
            BERLIN,
        )
        return tuple(rows[0]) if rows and rows[0]["quarantined"] == 1 else None

    assert await wait_for(back_in_stock, what="the return in stock") == (4, 1)
    adjusted = await events_until(env, "oms.inventory", 1, "StockAdjusted")
    assert [(e.payload.delta, e.payload.reason) for e in adjusted if e.payload.sku == TSHIRT][
        -1:
    ] == [(1, "return_restocked")]

    told = [
        f"Ihre Rücksendung zur Bestellung CC-1: {opened.body['rma_number']}",
        "Ihre Rücksendung zur Bestellung CC-1 ist angekommen",
        "Erstattung zu Ihrer Bestellung CC-1",
    ]

    async def return_told() -> list[str] | None:
        subjects = [s for s in smtp.sink.subjects() if s in told]
        return subjects if len(subjects) == 4 else None

    # Once each (a refund per inspection); the topics are read side by side, so in any order.
    told_once = await wait_for(return_told, what="the return's e-mails")
    assert sorted(told_once) == sorted([*told, told[-1]])


async def test_ship_to_store_arrives_at_the_store_and_is_collected(
    env: Env, smtp: SmtpServer, tmp_path: Path
) -> None:
    await _pickup_world(env, smtp, tmp_path)
    await feed(env, receipt("rcv-h", TSHIRT, HAMBURG, 10))
    await _stock_seen(env, HAMBURG, 10)
    order_id = await _place_for_pickup(env, "STS-1", DeliveryMethod.SHIP_TO_STORE)
    fo = await fulfilment_order(env, order_id, "CREATED")
    assert fo["location_id"] == HAMBURG  # the warehouse ships it to the store

    start = now() - timedelta(hours=30)
    lines = (LineQuantity(line_id="1", sku=TSHIRT, quantity=2),)
    await send_staff(env, *work_through(fo, lines, start))
    await fulfilment_order(env, order_id, "SHIPPED")
    tracking = await label_tracking_number(env, fo["fulfilment_order_id"])
    shipped = await _order(env, order_id, "FULFILLED")
    assert shipped["payment_status"] == "CAPTURED"  # when it left Hamburg
    # The carrier delivers to the store: the customer's order is not complete for that.
    await send_scans(
        env,
        scan(tracking, "PU", start + timedelta(hours=1)),
        scan(tracking, "DL", start + timedelta(hours=20)),
    )

    async def parcel_delivered() -> bool:
        rows = await env.fetch(
            "shipping", "SELECT status FROM parcels WHERE tracking_number = $1", tracking
        )
        return [r["status"] for r in rows] == ["delivered"]

    await wait_for(parcel_delivered, what="the store's delivery scan")
    assert (await fulfilment_order(env, order_id))["status"] == "SHIPPED"

    # The store scans the parcel in (once; Hamburg cannot), the customer gets a code.
    ids = {k: fo[k] for k in ("order_id", "fulfilment_order_id")}
    at_hamburg = ReceivedAtStore(**ids, location_id=HAMBURG, staff_id="s-1", performed_at=now())
    at_store = ReceivedAtStore(**ids, location_id=BERLIN, staff_id="s-2", performed_at=now())
    await send_staff(env, at_hamburg, at_store, at_store)
    await fulfilment_order(env, order_id, "READY_FOR_PICKUP")
    [ready] = [
        e.payload
        for e in await events_until(env, "oms.shipments", 1, "ReadyForPickup")
        if e.envelope.subject == order_id
    ]
    assert isinstance(ready, ReadyForPickup)
    assert (ready.location_id, ready.lines) == (BERLIN, lines)
    assert ready.hold_until > now() + timedelta(days=6)
    collected = Collected(
        **ids, location_id=BERLIN, staff_id="s-2", performed_at=now(), pickup_code=ready.pickup_code
    )
    await send_staff(env, collected)
    completed = await _order(env, order_id, "COMPLETED")
    assert completed["payment_status"] == "CAPTURED"
    await fulfilment_order(env, order_id, "COLLECTED")
    refusals = await env.fetch(
        "shipping",
        "SELECT action, reason FROM refused_actions WHERE order_id = $1 ORDER BY taken",
        order_id,
    )
    assert [tuple(r) for r in refusals] == [
        ("receive", "wrong_location"),
        ("receive", "already_received"),
    ]
    captures = await env.fetch(
        "order", "SELECT count(*) AS n FROM order_shipments WHERE order_id = $1", order_id
    )
    assert captures[0]["n"] == 1, "captured once, at hand-over"
    stock = await env.fetch(
        "inventory",
        "SELECT location_id, on_hand, reserved FROM stock WHERE sku = $1 ORDER BY location_id",
        TSHIRT,
    )
    levels = {r["location_id"]: (r["on_hand"], r["reserved"]) for r in stock}
    assert levels[HAMBURG] == (8, 0), "committed where it left"
    assert levels.get(BERLIN, (0, 0)) == (0, 0), "and not again at the store"

    # The customer is told at the store's receipt, with the store and the code.
    picked_up = "Sie haben Ihre Bestellung STS-1 abgeholt"

    async def collected_told() -> bool:
        return picked_up in smtp.sink.subjects()

    await wait_for(collected_told, what="the collected e-mail")
    mine = [m for m in smtp.sink.received() if "STS-1" in str(m["Subject"])]
    assert [str(m["Subject"]) for m in mine][-2:] == [
        "Ihre Bestellung STS-1 liegt zur Abholung bereit",
        picked_up,
    ]
    ready_mail = text_of(mine[-2])
    assert f"Ihr Abholcode: {ready.pickup_code}" in ready_mail and "Berlin Mitte" in ready_mail


async def test_a_click_and_collect_order_never_collected_is_canceled_refunded_and_restocked(
    env: Env, smtp: SmtpServer, tmp_path: Path
) -> None:
    await _pickup_world(env, smtp, tmp_path, OMS_PICKUP_HOLD="PT2S", OMS_PICKUP_SWEEP_S="0.3")
    await feed(env, receipt("rcv-b", TSHIRT, BERLIN, 5))
    await _stock_seen(env, BERLIN, 3)  # 5 received, 2 kept as the store's safety stock
    order_id = await _place_for_pickup(env, "CC-2", DeliveryMethod.CLICK_AND_COLLECT)
    fo = await fulfilment_order(env, order_id, "CREATED")
    lines = (LineQuantity(line_id="1", sku=TSHIRT, quantity=2),)
    # Packed now (the staff's day began two minutes ago): set aside for two seconds.
    accept, pick, pack, _ = work_through(fo, lines, now() - timedelta(minutes=2))
    await send_staff(env, accept, pick, pack)
    [ready] = [
        e.payload
        for e in await events_until(env, "oms.shipments", 1, "ReadyForPickup")
        if e.envelope.subject == order_id
    ]
    assert ready.hold_until - ready.ready_at == timedelta(seconds=2)

    # Nobody comes: canceled, refunded, back on the shelf.
    await fulfilment_order(env, order_id, "UNCOLLECTED")
    canceled = await _order(env, order_id, "CANCELED")
    assert canceled["payment_status"] == "REFUNDED"
    [expired] = [
        e.payload
        for e in await events_until(env, "oms.shipments", 1, "PickupExpired")
        if e.envelope.subject == order_id
    ]
    assert (expired.location_id, expired.lines) == (BERLIN, lines)

    async def back_on_the_shelf() -> tuple[Any, ...] | None:
        rows = await env.fetch(
            "inventory",
            "SELECT on_hand, reserved FROM stock WHERE sku = $1 AND location_id = $2",
            TSHIRT,
            BERLIN,
        )
        return tuple(rows[0]) if rows and rows[0]["on_hand"] == 5 else None

    assert await wait_for(back_on_the_shelf, what="the units back at the store") == (5, 0)
    timeline = await env.fetch(
        "order",
        "SELECT event_type FROM order_timeline WHERE order_id = $1 ORDER BY sequence",
        order_id,
    )
    assert [r["event_type"] for r in timeline][-4:] == [
        "PaymentCaptured",
        "ReadyForPickup",
        "OrderCanceled",
        "RefundIssued",
    ]
    payments = await env.fetch(
        "order",
        "SELECT captured_minor, refunded_minor FROM orders WHERE order_id = $1",
        order_id,
    )
    captured, refunded = tuple(payments[0])
    assert refunded == captured > 0

    # The customer comes too late: refused and kept; the customer was told once.
    ids = {k: fo[k] for k in ("order_id", "fulfilment_order_id", "location_id")}
    late = Collected(**ids, staff_id="counter-1", performed_at=now(), pickup_code="AAAAAAAA")
    await send_staff(env, late)

    async def refused() -> list[tuple[Any, ...]]:
        rows = await env.fetch(
            "shipping", "SELECT action, reason FROM refused_actions WHERE order_id = $1", order_id
        )
        return [tuple(r) for r in rows]

    assert await wait_for(refused, what="the late collection refused") == [
        ("collect", "pickup_expired")
    ]
    told = "Ihre Bestellung CC-2 wurde storniert"

    async def canceled_told() -> bool:
        return told in smtp.sink.subjects()

    await wait_for(canceled_told, what="the canceled e-mail")
    [mail] = [m for m in smtp.sink.received() if str(m["Subject"]) == told]
    assert "Wir erstatten" in text_of(mail)  # what was captured when it was set aside
