"""What ``oms rebuild shipping`` relies on, on in-memory stores: the staff API's actions
published and skipped live, the tracking numbers and pickup codes the live service drew taken
again from its own events, the sweep's expiries applied as recorded (no broker, no
database)."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

from oms_events.fulfilment import (
    FulfilmentAccepted,
    FulfilmentOrderAccepted,
    PickupExpired,
    ReadyForPickup,
    ReadyToShip,
)
from oms_runtime import Received, UnitOfWork, in_memory_unit_of_work
from oms_shipping.domain.fulfilment import FulfilmentStatus
from oms_shipping.domain.tracking_numbers import serial_of, tracking_number
from oms_shipping.service_layer.fulfilment import STAFF_API_SOURCE
from oms_shipping.service_layer.recalled import RecalledDecisions
from oms_shipping.service_layer.uncollected import RecordedExpiries
from services.shipping.tests.fakes import FakeDecisions, emitted, received
from services.shipping.tests.test_handlers import AT, LINES, World, day

BERLIN = "store-berlin"


def _rebuilding() -> UnitOfWork:
    work = in_memory_unit_of_work()
    work.rebuilding = True
    return work


def _caused_by(event: ReadyToShip | ReadyForPickup, action_id: UUID) -> Received[object]:
    """The event as the live service published it for the staff action ``action_id``."""
    r = received(event, "oms.shipments")
    return Received(
        r.payload, r.envelope.model_copy(update={"causationid": str(action_id)}), r.record
    )


async def _pack(world: World, work: UnitOfWork, action_id: UUID, location: str) -> list[object]:
    """Accept and pick the work, then pack it in ``work`` as the action ``action_id``."""
    accept, pick, pack = day(location)[:3]
    await world.act(accept, pick)
    await world.handlers.act(work, action_id, pack)  # type: ignore[arg-type]
    return emitted(work)


def _rebuild_world() -> tuple[World, RecalledDecisions]:
    world = World()
    world.handlers.recalled = RecalledDecisions(FakeDecisions())
    return world, world.handlers.recalled


def test_a_serial_is_read_back_only_from_a_number_the_oms_issued() -> None:
    assert serial_of(tracking_number("DPD", 42)) == 42
    assert serial_of("DPD000000000420") is None  # the check digit is wrong
    assert serial_of("1Z999AA10123456784") is None  # a carrier's own


async def test_a_rebuild_labels_parcels_with_the_numbers_they_got_live() -> None:
    pack_id = uuid4()
    live = World()
    await live.release()
    [ready] = (await _pack(live, in_memory_unit_of_work(), pack_id, "wh-hamburg"))[-1:]
    assert isinstance(ready, ReadyToShip)
    # Live, other packings drew first: this parcel got serial 42.
    issued = tracking_number("DPD", 42)
    parcel = ready.parcels[0].model_copy(update={"tracking_number": issued})
    recorded = ready.model_copy(update={"parcels": (parcel,)})

    world, decisions = _rebuild_world()
    await decisions.labels_issued(_rebuilding(), [_caused_by(recorded, pack_id)])  # type: ignore[list-item]
    await world.release()
    [again] = (await _pack(world, _rebuilding(), pack_id, "wh-hamburg"))[-1:]
    assert isinstance(again, ReadyToShip)
    assert [(p.carrier, p.tracking_number) for p in again.parcels] == [("dpd", issued)]
    assert world.tracking_number() == issued
    # The counter moved past it: a label printed after a swap takes the next serial.
    assert world.labels.counters == {"dpd": 42}
    # A packing the live service never published draws as live does.
    world2, _ = _rebuild_world()
    await world2.release()
    await _pack(world2, _rebuilding(), uuid4(), "wh-hamburg")
    assert world2.labels.counters == {"dpd": 1}


async def test_a_rebuild_sets_work_aside_under_the_code_drawn_live() -> None:
    pack_id = uuid4()
    live = World()
    await live.release(BERLIN, pickup_at=BERLIN)
    [ready] = (await _pack(live, in_memory_unit_of_work(), pack_id, BERLIN))[-1:]
    assert isinstance(ready, ReadyForPickup)

    world, decisions = _rebuild_world()
    await decisions.codes_drawn(_rebuilding(), [_caused_by(ready, pack_id)])  # type: ignore[list-item]
    await world.release(BERLIN, pickup_at=BERLIN)
    [again] = (await _pack(world, _rebuilding(), pack_id, BERLIN))[-1:]
    assert isinstance(again, ReadyForPickup)
    assert again.pickup_code == ready.pickup_code
    assert world.orders.orders["fo-1"].pickup_code == ready.pickup_code
    # Live, the same world draws a code of its own.
    drawn = World()
    drawn.handlers.recalled = world.handlers.recalled
    await drawn.release(BERLIN, pickup_at=BERLIN)
    [fresh] = (await _pack(drawn, in_memory_unit_of_work(), pack_id, BERLIN))[-1:]
    assert isinstance(fresh, ReadyForPickup) and fresh.pickup_code != ready.pickup_code


async def test_an_action_over_the_api_is_published_skipped_live_and_applied_in_a_rebuild() -> None:
    action_id = uuid4()
    accept = day()[0]
    assert isinstance(accept, FulfilmentAccepted)
    world = World()
    await world.release()
    work = in_memory_unit_of_work()
    await world.handlers.act_and_publish(work, action_id, accept)
    assert [type(e) for e in emitted(work)] == [FulfilmentOrderAccepted, FulfilmentAccepted]
    published = work.outbox.records[-1]
    assert (published.event_id, published.key) == (action_id, b"ord-1")

    # Read back from oms.staff-actions: live, already applied; in a rebuild, applied.
    r = received(accept, "oms.staff-actions")
    ours = Received(
        r.payload,
        r.envelope.model_copy(update={"source": STAFF_API_SOURCE, "id": action_id}),
        r.record,
    )
    live = in_memory_unit_of_work()
    await world.handlers.staff_action(live, ours)
    assert emitted(live) == [] and not world.orders.refusals  # not refused as already_accepted
    # One that only claims the API's source is applied live (here refused: accepted already).
    claims = Received(r.payload, ours.envelope.model_copy(update={"id": uuid4()}), r.record)
    await world.handlers.staff_action(in_memory_unit_of_work(), claims)
    assert [f.reason for f in world.orders.refusals.values()] == ["already_accepted"]
    rebuilt = World()
    await rebuilt.release()
    work = _rebuilding()
    await rebuilt.handlers.staff_action(work, ours)
    assert [type(e) for e in emitted(work)] == [FulfilmentOrderAccepted]
    assert rebuilt.status() is FulfilmentStatus.ACCEPTED


async def test_a_recorded_expiry_expires_that_pickup_at_its_recorded_time() -> None:
    world = World()
    await world.release(BERLIN, pickup_at=BERLIN)
    await world.act(*day(BERLIN)[:3], location=BERLIN)
    expiries = RecordedExpiries(world.orders)
    expired = PickupExpired(
        order_id="ord-1",
        fulfilment_order_id="fo-other",
        location_id=BERLIN,
        shipment_id="shp-fo-other",
        lines=LINES,
        hold_until=AT + timedelta(days=3),
        expired_at=AT + timedelta(days=3, minutes=1),
    )
    await expiries.expired(_rebuilding(), received(expired, "oms.shipments"))
    assert world.status() is FulfilmentStatus.READY_FOR_PICKUP
    mine = expired.model_copy(update={"fulfilment_order_id": "fo-1", "shipment_id": "shp-fo-1"})
    await expiries.expired(_rebuilding(), received(mine, "oms.shipments"))
    assert world.status() is FulfilmentStatus.UNCOLLECTED
