"""Reservations on the real broker and database: hold, fail, release, expire, commit at
shipment, idempotency, and no oversell with two instances under 1,000 concurrent requests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from oms_events.fulfilment import ShipmentShipped, ShippedParcel
from oms_events.inventory import ReduceReservations, ReleaseReservations, ReservationKept
from oms_events.values import LineQuantity
from tests.support.inventory import (
    BERLIN,
    HAMBURG,
    MUG,
    TSHIRT,
    event,
    events_until,
    feed,
    import_catalogue,
    receipt,
    request,
    reserve,
    send,
    stock,
)
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration


async def statuses(env: Env) -> dict[str, str]:
    rows = await env.fetch("inventory", "SELECT reservation_id, status FROM reservations")
    return {r["reservation_id"]: r["status"] for r in rows}


async def settled(env: Env, count: int) -> dict[str, str]:
    """Reservation statuses once ``count`` reservations are decided."""

    async def probe() -> dict[str, str]:
        found = await statuses(env)
        return found if len(found) >= count else {}

    return await wait_for(probe, what=f"{count} reservations decided")


async def test_hold_fail_release_expire_and_commit_at_shipment(env: Env, tmp_path: Path) -> None:
    await import_catalogue(env, tmp_path)
    inventory = await env.service("inventory", OMS_RESERVATION_SWEEP_S="0.2")
    await inventory.wait_ready()
    await feed(env, receipt("rcv-1", TSHIRT, HAMBURG, 10), receipt("rcv-2", MUG, HAMBURG, 1))
    await wait_for(lambda: stock(env, MUG, HAMBURG), what="the receipts")

    await request(env, reserve("ord-a", (TSHIRT, HAMBURG, 3), (MUG, HAMBURG, 1)))
    await settled(env, 2)  # requests of different orders may be decided in any order
    await request(
        env,
        # all or nothing: the mug is gone after ord-a, so the T-shirts are not held either
        reserve("ord-b", (TSHIRT, HAMBURG, 2), (MUG, HAMBURG, 1), all_or_nothing=True),
        reserve("ord-c", (TSHIRT, HAMBURG, 4), hold_for_s=1),
        reserve("ord-d", (TSHIRT, "wh-nowhere", 1), ("SKU-UNKNOWN", HAMBURG, 1)),
    )
    assert await settled(env, 7)
    await wait_for(lambda: _status_is(env, "res-ord-c-1", "expired"), what="ord-c's hold to expire")
    found = await statuses(env)
    assert found == {
        "res-ord-a-1": "held",
        "res-ord-a-2": "held",
        "res-ord-b-1": "failed",
        "res-ord-b-2": "failed",
        "res-ord-c-1": "expired",
        "res-ord-d-1": "failed",
        "res-ord-d-2": "failed",
    }
    assert await stock(env, TSHIRT, HAMBURG) == {
        "on_hand": 10,
        "reserved": 3,
        "safety_stock": 0,
        "in_transit": 0,
        "quarantined": 0,
    }
    failures = {
        e.payload.reservation_id: e.payload.reason
        for e in await events_until(env, "oms.inventory", 4, "ReservationFailed")
    }
    assert failures["res-ord-b-2"] == "out_of_stock"
    assert failures["res-ord-b-1"].startswith("all_or_nothing")
    assert failures["res-ord-d-1"] == "unknown_location"
    assert failures["res-ord-d-2"] == "unknown_sku"

    # Shipped: 2 of the 3 held T-shirts leave; then the rest of the hold is released.
    shipped = _shipped("a-1", TSHIRT, 2, "00340434161234567890")
    shipped_bytes = event(shipped, "ord-a", "oms/shipping")
    await send(env, "oms.shipments", [("ord-a", shipped_bytes), ("ord-a", shipped_bytes)])
    await wait_for(
        lambda: _stock_is(env, TSHIRT, HAMBURG, on_hand=8, reserved=1), what="the commit"
    )
    await request(env, ReleaseReservations(order_id="ord-a", reason="rest canceled"))
    await wait_for(
        lambda: _stock_is(env, TSHIRT, HAMBURG, on_hand=8, reserved=0), what="the release"
    )
    assert (await stock(env, MUG, HAMBURG))["reserved"] == 0
    committed = await events_until(env, "oms.inventory", 1, "StockCommitted")
    assert [(e.payload.reservation_id, e.payload.quantity) for e in committed] == [
        ("res-ord-a-1", 2)
    ]
    released = await events_until(env, "oms.inventory", 2, "ReservationReleased")
    assert sorted((e.payload.reservation_id, e.payload.quantity) for e in released) == [
        ("res-ord-a-1", 1),
        ("res-ord-a-2", 1),
    ]
    expired = await events_until(env, "oms.inventory", 1, "ReservationExpired")
    assert [e.payload.reservation_id for e in expired] == ["res-ord-c-1"]

    # The same requests again, with new event ids: nothing is held twice.
    await request(env, reserve("ord-a", (TSHIRT, HAMBURG, 3), (MUG, HAMBURG, 1)))
    await request(env, reserve("ord-e", (MUG, HAMBURG, 1)))

    async def all_requests_consumed() -> bool:
        rows = await env.fetch(
            "inventory",
            "SELECT count(*) AS n FROM oms_inbox WHERE topic = $1",
            env.topic("oms.reservation-requests"),
        )
        return bool(rows[0]["n"] == 7)  # a; b, c, d; the release; a again, e

    await wait_for(all_requests_consumed, what="every request consumed")
    found = await statuses(env)
    assert (found["res-ord-a-1"], found["res-ord-a-2"], found["res-ord-e-1"]) == (
        "released",
        "released",
        "held",
    )
    assert await _stock_is(env, MUG, HAMBURG, on_hand=1, reserved=1)
    assert await _stock_is(env, TSHIRT, HAMBURG, on_hand=8, reserved=0)


async def test_a_reduced_hold_gives_back_its_canceled_units_once_never_committed_ones(
    env: Env, tmp_path: Path
) -> None:
    await import_catalogue(env, tmp_path)
    inventory = await env.service("inventory")
    await inventory.wait_ready()
    await feed(env, receipt("rcv-1", TSHIRT, HAMBURG, 5))
    await wait_for(lambda: stock(env, TSHIRT, HAMBURG), what="the receipt")
    await request(env, reserve("ord-a", (TSHIRT, HAMBURG, 3)))
    await settled(env, 1)

    # 1 of the 3 canceled, the request redelivered as it was and sent again with a new id.
    reduce = ReduceReservations(
        order_id="ord-a",
        reservations=(ReservationKept(reservation_id="res-ord-a-1", keep=2),),
        reason="lines canceled: size",
    )
    [sent] = await request(env, reduce)
    await send(env, "oms.reservation-requests", [("ord-a", sent)])
    await request(env, reduce)
    await wait_for(lambda: _stock_is(env, TSHIRT, HAMBURG, on_hand=5, reserved=2), what="reduce")

    # 2 shipped, then a late request to keep 1: the committed units are not given back.
    shipped = _shipped("a-1", TSHIRT, 2, "00340434161234567890")
    await send(env, "oms.shipments", [("ord-a", event(shipped, "ord-a", "oms/shipping"))])
    await wait_for(lambda: _status_is(env, "res-ord-a-1", "committed"), what="the commit")
    late = ReduceReservations(
        order_id="ord-a",
        reservations=(ReservationKept(reservation_id="res-ord-a-1", keep=1),),
        reason="too late",
    )
    # Behind it on the order's partition: its first line again (changing nothing), a second.
    await request(env, late, reserve("ord-a", (TSHIRT, HAMBURG, 3), (TSHIRT, HAMBURG, 1)))
    await settled(env, 2)
    await wait_for(lambda: _stock_is(env, TSHIRT, HAMBURG, on_hand=3, reserved=1), what="line 2")
    released = await events_until(env, "oms.inventory", 1, "ReservationReleased")
    assert [(e.payload.reservation_id, e.payload.quantity) for e in released] == [
        ("res-ord-a-1", 1)
    ]
    [row] = await env.fetch(
        "inventory",
        "SELECT quantity, committed FROM reservations WHERE reservation_id = $1",
        "res-ord-a-1",
    )
    assert (row["quantity"], row["committed"]) == (2, 2)


def _shipped(suffix: str, sku: str, quantity: int, tracking_number: str) -> ShipmentShipped:
    """ord-a's shipment ``shp-<suffix>`` of ``quantity`` units of its line 1 from Hamburg."""
    return ShipmentShipped(
        order_id="ord-a",
        fulfilment_order_id=f"fo-{suffix}",
        location_id=HAMBURG,
        shipment_id=f"shp-{suffix}",
        carrier="dhl",
        tracking_number=tracking_number,
        parcels=(ShippedParcel(carrier="dhl", tracking_number=tracking_number),),
        lines=(LineQuantity(line_id="1", sku=sku, quantity=quantity),),
        shipped_at=datetime.now(UTC),
    )


async def _status_is(env: Env, reservation_id: str, status: str) -> bool:
    return (await statuses(env)).get(reservation_id) == status


async def _stock_is(env: Env, sku: str, location: str, **expected: int) -> bool:
    levels = await stock(env, sku, location)
    return all(levels.get(k) == v for k, v in expected.items())


async def test_no_oversell_with_two_instances_and_1000_concurrent_requests(
    env: Env, tmp_path: Path
) -> None:
    units = 100
    await import_catalogue(env, tmp_path)
    first = await env.service("inventory")
    second = await env.service("inventory")
    await first.wait_ready()
    await second.wait_ready()
    await feed(env, receipt("rcv-hot", TSHIRT, BERLIN, units + 2))  # 2 are safety stock
    await wait_for(lambda: _stock_is(env, TSHIRT, BERLIN, on_hand=units + 2), what="stock")

    requests = [reserve(f"hot-{n:04d}", (TSHIRT, BERLIN, 1)) for n in range(1000)]
    sent = await request(env, *requests)
    found = await settled(env, 1000)
    held = [r for r, s in found.items() if s == "held"]
    assert len(held) == units
    assert sum(1 for s in found.values() if s == "failed") == 1000 - units
    assert await _stock_is(env, TSHIRT, BERLIN, on_hand=units + 2, reserved=units)
    both_worked = [
        await p.metric("oms_events_in_total", outcome="processed") for p in (first, second)
    ]
    assert all(count > 0 for count in both_worked), both_worked

    answers = await events_until(env, "oms.inventory", 1000, "StockReserved", "ReservationFailed")
    assert sum(1 for a in answers if a.envelope.type == "StockReserved") == units
    assert {a.payload.reason for a in answers if a.envelope.type == "ReservationFailed"} == {
        "out_of_stock"
    }

    # Redelivery: the very same records, and the same requests with new event ids.
    await send(
        env,
        "oms.reservation-requests",
        [(r.order_id, v) for r, v in zip(requests, sent, strict=True)],
    )
    await request(env, *requests)
    await wait_for(lambda: _processed(env, [first, second], 3000), what="every copy processed")
    after = await statuses(env)
    assert sorted(r for r, s in after.items() if s == "held") == sorted(held)
    assert await _stock_is(env, TSHIRT, BERLIN, on_hand=units + 2, reserved=units)
    ledger = await env.fetch(
        "inventory", "SELECT sum(reserved_delta) AS reserved FROM stock_movements"
    )
    assert ledger[0]["reserved"] == units


async def _processed(env: Env, processes: list[ServiceProcess], expected: int) -> bool:
    """Every request record consumed, applied or dropped as a duplicate, by either worker."""
    total = 0.0
    for process in processes:
        for outcome in ("processed", "duplicate"):
            total += await process.metric(
                "oms_events_in_total", topic=env.topic("oms.reservation-requests"), outcome=outcome
            )
    return total >= expected


async def test_every_request_is_answered_and_shipments_always_leave_on_hand(
    env: Env, tmp_path: Path
) -> None:
    await import_catalogue(env, tmp_path)
    inventory = await env.service("inventory")
    await inventory.wait_ready()
    await feed(env, receipt("rcv-1", MUG, HAMBURG, 10))
    await wait_for(lambda: _stock_is(env, MUG, HAMBURG, on_hand=10), what="the receipt")
    first = reserve("ord-a", (MUG, HAMBURG, 2))
    await request(env, first)
    await settled(env, 1)
    # The same request again (new event id): answered again with the hold it has.
    # Another order naming ord-a's reservation id: refused, ord-a's hold untouched.
    thief = first.model_copy(update={"order_id": "ord-z", "request_id": "req-z"})
    duplicated = reserve("ord-d", (MUG, HAMBURG, 1), (MUG, HAMBURG, 1))
    bad = event(duplicated, "ord-d", "oms/orchestration").replace(b"res-ord-d-2", b"res-ord-d-1")
    await request(env, first, thief)
    await send(env, "oms.reservation-requests", [("ord-d", bad)])
    answers = await events_until(env, "oms.inventory", 3, "StockReserved", "ReservationFailed")
    # Requests of different orders travel on different partitions: any order between them.
    assert sorted((a.envelope.type, a.payload.order_id) for a in answers) == [
        ("ReservationFailed", "ord-z"),
        ("StockReserved", "ord-a"),
        ("StockReserved", "ord-a"),
    ]
    refused = [a.payload for a in answers if a.envelope.type == "ReservationFailed"]
    assert refused[0].reason == "reservation_id_in_use"
    dead = await wait_for(
        lambda: env.fetch("inventory", "SELECT reason, detail FROM oms_dead_letters"),
        what="the request with a repeated reservation id",
    )
    assert [d["reason"] for d in dead] == ["invalid_payload"]
    assert "own reservation_id" in dead[0]["detail"]

    # Released before the shipment is heard of (different topics): the shipped units still
    # leave on hand.
    await request(env, ReleaseReservations(order_id="ord-a", reason="re-sourced"))
    await wait_for(lambda: _stock_is(env, MUG, HAMBURG, reserved=0), what="the release")
    shipped = _shipped("a", MUG, 2, "00340434161234567891")
    await send(env, "oms.shipments", [("ord-a", event(shipped, "ord-a", "oms/shipping"))])
    assert await wait_for(
        lambda: _stock_is(env, MUG, HAMBURG, on_hand=8, reserved=0), what="units leaving"
    )
