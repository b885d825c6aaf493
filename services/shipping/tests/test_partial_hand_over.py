"""Partial hand-overs on in-memory stores: each publishes its own shipment with its parcels
and units, its parcels are tracked and delivered as that shipment, and a hand-over of a
parcel that left or was never packed is refused and kept."""

from __future__ import annotations

from datetime import timedelta

from oms_events.fulfilment import (
    Delivered,
    HandedOver,
    Parcel,
    ParcelPacked,
    ShipmentShipped,
    ShippedParcel,
)
from oms_events.sourcing import FulfilmentOrderCanceled
from oms_events.values import LineQuantity
from oms_runtime import in_memory_unit_of_work
from oms_shipping.domain.fulfilment import FulfilmentStatus
from services.shipping.tests.fakes import emitted, received
from services.shipping.tests.test_handlers import AT, IDS, World, day, scan

S = FulfilmentStatus
ONE = (LineQuantity(line_id="1", sku="TSHIRT", quantity=1),)
HERE = {**IDS, "location_id": "wh-hamburg"}


async def _packed_in_two(world: World) -> None:
    """The two T-shirts packed one per parcel."""
    await world.release()
    accept, pick, _, _ = day()
    parcels = tuple(
        Parcel(parcel_id=p, box="M-30x20x15", weight_grams=400, lines=ONE) for p in ("p-1", "p-2")
    )
    await world.act(accept, pick, ParcelPacked(**HERE, performed_at=AT, parcels=parcels))


def _hand_over(*parcel_ids: str, minutes: int = 10) -> HandedOver:
    return HandedOver(**HERE, performed_at=AT + timedelta(minutes=minutes), parcel_ids=parcel_ids)


def _label(world: World, parcel_id: str) -> str:
    return world.labels.labels[("fo-1", parcel_id, "outbound")].tracking_number


async def _delivered(world: World, tracking_number: str, hours: int) -> str:
    """The carrier's delivery scan of a parcel: the shipment it delivered."""
    work = in_memory_unit_of_work()
    at = AT + timedelta(hours=hours)
    await world.tracking.updates(
        work, [received(scan("DL", at, tracking_number), "oms.carrier-tracking")]
    )
    [delivered] = emitted(work)
    assert isinstance(delivered, Delivered)
    return delivered.shipment_id


async def test_each_hand_over_is_a_shipment_tracked_and_delivered_on_its_own() -> None:
    world = World()
    await _packed_in_two(world)
    first, second = _label(world, "p-1"), _label(world, "p-2")

    [shipped] = await world.act(_hand_over("p-2"))
    assert isinstance(shipped, ShipmentShipped)
    assert (shipped.shipment_id, shipped.tracking_number, shipped.lines) == (
        "shp-fo-1",
        second,
        ONE,
    )
    assert shipped.parcels == (
        ShippedParcel(parcel_id="p-2", carrier="dpd", tracking_number=second),
    )
    assert world.status() is S.PARTIALLY_SHIPPED

    # The first shipment is delivered while the other parcel is still at the location.
    assert await _delivered(world, second, hours=5) == "shp-fo-1"
    assert world.status() is S.PARTIALLY_SHIPPED

    [rest] = await world.act(_hand_over(minutes=60 * 6))  # none named: what is left
    assert isinstance(rest, ShipmentShipped)
    assert (rest.shipment_id, rest.lines) == ("shp-fo-1-2", ONE)
    assert [p.tracking_number for p in rest.parcels] == [first]
    assert world.status() is S.SHIPPED

    assert await _delivered(world, first, hours=24) == "shp-fo-1-2"
    assert world.status() is S.DELIVERED


async def test_a_parcel_that_left_or_was_never_packed_is_refused_and_kept() -> None:
    world = World()
    await _packed_in_two(world)
    await world.act(_hand_over("p-1"))
    published = await world.act(_hand_over("p-1"), _hand_over("p-9"), _hand_over("p-2", "p-2"))
    assert published == [] and world.status() is S.PARTIALLY_SHIPPED
    assert [(r.action, r.reason) for r in world.orders.refusals.values()] == [
        ("hand_over", "parcel_already_shipped"),
        ("hand_over", "unknown_parcel"),
        ("hand_over", "duplicate_parcel"),
    ]
    assert len(world.parcels.parcels) == 1


async def test_work_partly_shipped_is_not_called_off() -> None:
    world = World()
    await _packed_in_two(world)
    await world.act(_hand_over("p-1"))
    call_off = FulfilmentOrderCanceled(
        order_id="ord-1", fulfilment_order_id="fo-1", location_id="wh-hamburg", reason="x"
    )
    await world.handlers.called_off(in_memory_unit_of_work(), received(call_off, "oms.sourcing"))
    assert world.status() is S.PARTIALLY_SHIPPED
    assert [r.reason for r in world.orders.refusals.values()] == ["partially_shipped"]
