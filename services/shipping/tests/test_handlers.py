"""The shipping use cases on in-memory stores: what each staff action, call-off and carrier
scan publishes, keeps or refuses (no broker, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from oms_events.fulfilment import (
    Collected,
    Delivered,
    FulfilmentAccepted,
    FulfilmentOrderAccepted,
    HandedOver,
    InTransit,
    Packed,
    Parcel,
    ParcelPacked,
    PickedUpByCustomer,
    PickStarted,
    PickupExpired,
    ReadyForPickup,
    ReadyToShip,
    ReceivedAtStore,
    ShipmentShipped,
    TrackingUpdateReceived,
)
from oms_events.sourcing import (
    FulfilmentOrderCanceled,
    FulfilmentOrderCreated,
    FulfilmentOrderLinesCanceled,
)
from oms_events.values import Address, DeliveryMethod, LineQuantity, LocationType
from oms_runtime import RejectedEvent, in_memory_unit_of_work
from oms_shipping.domain.fulfilment import ActionRefused, FulfilmentStatus, Line
from oms_shipping.domain.tracking import CarrierCodes, ParcelStatus
from oms_shipping.service_layer.fulfilment import FulfilmentHandlers
from oms_shipping.service_layer.labelling import Labelling
from oms_shipping.service_layer.tracking import TrackingHandlers
from oms_shipping.service_layer.uncollected import PickupSweep
from services.shipping.tests.dispatch_config import DISPATCH
from services.shipping.tests.fakes import (
    BOXES,
    FakeFulfilmentOrders,
    FakeLabels,
    FakeParcels,
    emitted,
    received,
)

AT = datetime(2026, 12, 1, 9, tzinfo=UTC)
LINES = (LineQuantity(line_id="1", sku="TSHIRT", quantity=2),)
IDS = {"order_id": "ord-1", "fulfilment_order_id": "fo-1", "staff_id": "s-1"}
_CODES = {"PU": {"status": "in_transit"}, "DL": {"status": "delivered"}}
CARRIERS = CarrierCodes.model_validate({"carriers": {"dhl": _CODES, "dpd": _CODES}})
CUSTOMER = Address(
    name="Erika Mustermann",
    line1="Heidestrasse 17",
    city="Koeln",
    postal_code="51147",
    country="DE",
)


class World:
    def __init__(self) -> None:
        self.orders = FakeFulfilmentOrders()
        self.parcels = FakeParcels(self.orders)
        self.labels = FakeLabels(self.orders)
        self.handlers = FulfilmentHandlers(
            CARRIERS,
            BOXES,
            self.orders,
            self.parcels,
            Labelling(DISPATCH, self.labels),
            pickup_hold=timedelta(days=3),
        )
        self.tracking = TrackingHandlers(CARRIERS, self.parcels)

    async def release(self, location: str = "wh-hamburg", pickup_at: str | None = None) -> None:
        """Home delivery; click & collect when ``pickup_at`` is the location, ship-to-store
        when it is another."""
        method = DeliveryMethod.HOME_DELIVERY
        if pickup_at:
            method = (
                DeliveryMethod.CLICK_AND_COLLECT
                if pickup_at == location
                else DeliveryMethod.SHIP_TO_STORE
            )
        created = FulfilmentOrderCreated(
            order_id="ord-1",
            fulfilment_order_id="fo-1",
            location_id=location,
            location_type=LocationType.STORE
            if location.startswith("store")
            else LocationType.WAREHOUSE,
            delivery_method=method,
            pickup_store_id=pickup_at,
            shipping_address=None if pickup_at else CUSTOMER,
            lines=LINES,
            accept_by=AT + timedelta(hours=1),
        )
        await self.handlers.created(in_memory_unit_of_work(), [received(created, "oms.sourcing")])

    async def act(self, *actions: object, location: str = "wh-hamburg") -> list[object]:
        """Each action in its own unit of work, as the topic brings them; what was published."""
        published: list[object] = []
        for action in actions:
            work = in_memory_unit_of_work()
            await self.handlers.act(work, uuid4(), action)  # type: ignore[arg-type]
            published += emitted(work)
        return published

    def status(self) -> FulfilmentStatus:
        return self.orders.orders["fo-1"].status

    async def cancel_one_tshirt(self) -> None:
        """Orchestration tells the location one T-shirt of its work was canceled."""
        canceled = FulfilmentOrderLinesCanceled(
            order_id="ord-1",
            fulfilment_order_id="fo-1",
            location_id="wh-hamburg",
            lines=(LineQuantity(line_id="1", sku="TSHIRT", quantity=1),),
            reason="lines canceled: size",
        )
        await self.handlers.lines_canceled(
            in_memory_unit_of_work(), received(canceled, "oms.sourcing")
        )

    def tracking_number(self) -> str:
        """The label's: the parcel travels under it."""
        return self.labels.labels[("fo-1", "p-1", "outbound")].tracking_number


def day(location: str = "wh-hamburg") -> list[object]:
    ids = {**IDS, "location_id": location}
    parcel = Parcel(parcel_id="p-1", box="M-30x20x15", weight_grams=800, lines=LINES)
    return [
        FulfilmentAccepted(**ids, performed_at=AT),
        PickStarted(**ids, performed_at=AT),
        ParcelPacked(**ids, performed_at=AT, parcels=(parcel,)),
        HandedOver(**ids, performed_at=AT),
    ]


async def test_released_work_is_kept_once() -> None:
    world = World()
    await world.release()
    await world.release()  # a replay
    assert list(world.orders.orders) == ["fo-1"] and world.status() is FulfilmentStatus.CREATED


async def test_a_day_of_staff_actions_publishes_each_fact_and_leaves_parcels_to_track() -> None:
    world = World()
    await world.release()
    published = await world.act(*day())
    assert [type(e) for e in published] == [
        FulfilmentOrderAccepted,
        Packed,
        ReadyToShip,
        ShipmentShipped,
    ]
    ready, shipped = published[2:]
    assert isinstance(ready, ReadyToShip) and isinstance(shipped, ShipmentShipped)
    # The cheapest service (no promise to meet) carries the parcel under its label's number.
    [parcel] = ready.parcels
    assert (parcel.carrier, parcel.service, parcel.tracking_number) == (
        "dpd",
        "classic",
        world.tracking_number(),
    )
    assert [(a.carrier, a.lost_because) for a in parcel.alternatives] == [
        ("dhl", "more_expensive"),
        ("ups", "more_expensive"),
    ]
    assert (shipped.shipment_id, shipped.carrier, shipped.tracking_number, shipped.lines) == (
        "shp-fo-1",
        "dpd",
        parcel.tracking_number,
        LINES,
    )
    key = ("dpd", parcel.tracking_number)
    assert world.parcels.parcels[key].status is ParcelStatus.HANDED_OVER


async def test_an_action_out_of_place_is_refused_kept_and_publishes_nothing() -> None:
    world = World()
    await world.release()
    work = in_memory_unit_of_work()
    outcome = await world.handlers.act(work, uuid4(), day()[2])  # packing before accepting
    assert isinstance(outcome, ActionRefused) and outcome.reason == "pack_before_pick"
    assert emitted(work) == [] and world.status() is FulfilmentStatus.CREATED
    assert [r.reason for r in world.orders.refusals.values()] == ["pack_before_pick"]


@pytest.mark.parametrize(
    ("box", "reason", "detail"),
    [
        ("SHOEBOX", "unknown_box", "SHOEBOX is not configured"),
        ("BAG", "counter_only_box", "BAG stays at the counter"),
    ],
)
async def test_a_parcel_in_a_box_the_work_cannot_go_in_is_refused_and_kept(
    box: str, reason: str, detail: str
) -> None:
    world = World()
    await world.release()
    accept, pick, pack, _ = day()
    await world.act(accept, pick)
    assert isinstance(pack, ParcelPacked)
    wrong = pack.model_copy(update={"parcels": (pack.parcels[0].model_copy(update={"box": box}),)})
    work = in_memory_unit_of_work()
    outcome = await world.handlers.act(work, uuid4(), wrong)
    assert isinstance(outcome, ActionRefused)
    assert (outcome.reason, outcome.detail) == (reason, detail)
    assert emitted(work) == [] and world.status() is FulfilmentStatus.PICKING
    assert [r.reason for r in world.orders.refusals.values()] == [reason]


@pytest.mark.parametrize(
    ("named", "reason"),
    [
        ({"carrier": "ups"}, "unknown_carrier"),
        ({"carrier": "dhl"}, "not_the_labels"),
        ({"tracking_numbers": ("T-1",)}, "not_the_labels"),
    ],
)
async def test_a_hand_over_that_is_not_the_labels_is_refused(
    named: dict[str, object], reason: str
) -> None:
    world = World()
    await world.release()
    *before, hand_over = day()
    await world.act(*before)
    published = await world.act(hand_over.model_copy(update=named))
    assert published == [] and world.status() is FulfilmentStatus.PACKED
    assert [r.reason for r in world.orders.refusals.values()] == [reason]


async def test_a_hand_over_naming_the_labels_own_numbers_ships() -> None:
    world = World()
    await world.release()
    *before, hand_over = day()
    await world.act(*before)
    named = {"carrier": "dpd", "tracking_numbers": (world.tracking_number(),)}
    published = await world.act(hand_over.model_copy(update=named))
    assert [type(e) for e in published] == [ShipmentShipped]


async def test_packing_no_service_can_take_is_refused_and_kept() -> None:
    world = World()
    await world.release()
    heavy = day()[2].model_copy(  # every band ends at 5 kg
        update={"parcels": (Parcel(parcel_id="p-1", box="L", weight_grams=9000, lines=LINES),)}
    )
    published = await world.act(*day()[:2], heavy)
    assert [type(e) for e in published] == [FulfilmentOrderAccepted]
    assert world.status() is FulfilmentStatus.PICKING and world.labels.labels == {}
    [refusal] = world.orders.refusals.values()
    assert (refusal.reason, refusal.detail) == (
        "no_carrier_service",
        "parcel p-1: no service takes it (overweight)",
    )


async def test_packing_where_no_address_is_configured_is_refused_and_kept() -> None:
    world = World()
    await world.release("wh-nowhere")
    published = await world.act(*day("wh-nowhere")[:3], location="wh-nowhere")
    assert [type(e) for e in published] == [FulfilmentOrderAccepted]
    assert [r.reason for r in world.orders.refusals.values()] == ["no_ship_from_address"]


async def test_a_shipped_parcel_gets_one_return_label_back_to_its_location() -> None:
    world = World()
    await world.release()
    await world.act(*day()[:3])
    labelling = world.handlers.labelling

    async def ask(parcel_id: str = "p-1") -> bool | ActionRefused:
        return await labelling.return_label(
            in_memory_unit_of_work(), uuid4(), "fo-1", parcel_id, AT
        )

    early = await ask()
    assert isinstance(early, ActionRefused) and early.reason == "not_shipped"
    assert [(r.action, r.reason) for r in world.orders.refusals.values()] == [
        ("return_label", "not_shipped")
    ]
    await world.act(day()[3])
    assert await ask() is True and await ask() is True  # asked twice, issued once
    assert await ask("p-9") is False
    back = world.labels.labels[("fo-1", "p-1", "return")]
    assert (back.carrier, back.service, back.cost_minor) == ("dpd", "classic", None)
    assert back.tracking_number != world.tracking_number()
    assert world.labels.counters == {"dpd": 2}
    assert "Erika Mustermann" in back.zpl.split("^FDTO")[0]  # the customer sends it


async def test_an_action_for_work_this_service_never_received_is_rejected() -> None:
    world = World()
    with pytest.raises(RejectedEvent) as caught:
        await world.act(day()[0])
    assert caught.value.reason == "unknown_fulfilment_order"


async def test_click_and_collect_is_set_aside_with_a_code_and_collected_with_it() -> None:
    world = World()
    await world.release("store-berlin", pickup_at="store-berlin")
    packed = await world.act(*day("store-berlin")[:3], location="store-berlin")
    ready = packed[-1]
    assert isinstance(ready, ReadyForPickup)
    assert (ready.hold_until, ready.lines, ready.shipment_id) == (
        AT + timedelta(days=3),
        LINES,
        "shp-fo-1",
    )
    assert len(ready.pickup_code) == 8 and world.status() is FulfilmentStatus.READY_FOR_PICKUP
    ids = {**IDS, "location_id": "store-berlin"}
    wrong = Collected(**ids, performed_at=AT, pickup_code="AAAAAAAA")
    right = Collected(**ids, performed_at=AT, pickup_code=ready.pickup_code)
    published = await world.act(wrong, right)
    assert [type(e) for e in published] == [PickedUpByCustomer]
    assert [r.reason for r in world.orders.refusals.values()] == ["wrong_pickup_code"]


async def test_work_shipped_to_a_store_is_received_there_then_collected() -> None:
    world = World()
    await world.release("wh-hamburg", pickup_at="store-berlin")
    await world.act(*day())
    # The carrier delivers to the store: the customer is not told yet, nothing completes.
    delivered = in_memory_unit_of_work()
    await world.tracking.updates(
        delivered,
        [
            received(
                # Ship-to-store's policy (best score within the budget) chose DHL.
                scan("DL", AT + timedelta(hours=5), world.tracking_number(), carrier="dhl"),
                "oms.carrier-tracking",
            )
        ],
    )
    assert emitted(delivered) == [] and world.status() is FulfilmentStatus.SHIPPED

    at_store = {**IDS, "location_id": "store-berlin"}
    elsewhere = ReceivedAtStore(**IDS, location_id="store-munich", performed_at=AT)
    receipt = ReceivedAtStore(**at_store, performed_at=AT + timedelta(days=1))
    [ready] = await world.act(elsewhere, receipt, receipt)
    assert isinstance(ready, ReadyForPickup)
    assert (ready.location_id, ready.fulfilment_order_id, ready.shipment_id, ready.lines) == (
        "store-berlin",
        "fo-1",
        "shp-fo-1",
        LINES,
    )
    assert ready.hold_until == AT + timedelta(days=4), "held from the store's receipt"
    collected = Collected(**at_store, performed_at=AT, pickup_code=ready.pickup_code)
    [picked_up] = await world.act(collected)
    assert isinstance(picked_up, PickedUpByCustomer) and picked_up.location_id == "store-berlin"
    assert [r.reason for r in world.orders.refusals.values()] == [
        "wrong_location",
        "already_received",
    ]


async def test_a_pickup_nobody_collects_by_its_hold_ends_uncollected_once() -> None:
    world = World()
    await world.release("store-berlin", pickup_at="store-berlin")
    await world.act(*day("store-berlin")[:3], location="store-berlin")
    sweep = PickupSweep(world.orders, limit=10)
    hold_until = AT + timedelta(days=3)

    early = in_memory_unit_of_work()
    assert await sweep.expire(early, hold_until - timedelta(seconds=1)) == 0
    due = in_memory_unit_of_work()
    assert await sweep.expire(due, hold_until) == 1
    assert await sweep.expire(in_memory_unit_of_work(), hold_until + timedelta(days=1)) == 0

    assert emitted(early) == []
    [expired] = emitted(due)
    assert isinstance(expired, PickupExpired)
    assert (expired.location_id, expired.shipment_id, expired.lines) == (
        "store-berlin",
        "shp-fo-1",
        LINES,
    )
    assert (expired.hold_until, expired.expired_at) == (hold_until, hold_until)
    assert world.status() is FulfilmentStatus.UNCOLLECTED
    # Too late at the counter; orchestration calling it off finds nothing to do.
    ids = {**IDS, "location_id": "store-berlin"}
    late = Collected(**ids, performed_at=AT, pickup_code="AAAAAAAA")
    assert await world.act(late) == []
    call_off = FulfilmentOrderCanceled(
        order_id="ord-1", fulfilment_order_id="fo-1", location_id="store-berlin", reason="x"
    )
    await world.handlers.called_off(in_memory_unit_of_work(), received(call_off, "oms.sourcing"))
    assert [r.reason for r in world.orders.refusals.values()] == ["pickup_expired"]


async def test_a_call_off_cancels_open_work_and_is_refused_once_it_left() -> None:
    world = World()
    await world.release()
    call_off = FulfilmentOrderCanceled(
        order_id="ord-1", fulfilment_order_id="fo-1", location_id="wh-hamburg", reason="x"
    )
    await world.handlers.called_off(in_memory_unit_of_work(), received(call_off, "oms.sourcing"))
    assert world.status() is FulfilmentStatus.CANCELED

    world = World()
    await world.release()
    await world.act(*day())
    await world.handlers.called_off(in_memory_unit_of_work(), received(call_off, "oms.sourcing"))
    assert world.status() is FulfilmentStatus.SHIPPED
    assert [r.reason for r in world.orders.refusals.values()] == ["already_shipped"]


async def test_units_canceled_of_packed_work_unpack_it_and_void_its_labels() -> None:
    world = World()
    await world.release()
    await world.act(*day()[:3])  # packed and labelled
    assert world.status() is FulfilmentStatus.PACKED and world.labels.labels
    await world.cancel_one_tshirt()

    fo = world.orders.orders["fo-1"]
    assert (fo.status, fo.parcels, fo.lines) == (
        FulfilmentStatus.PICKING,
        (),
        (Line("1", "TSHIRT", 1),),
    )
    assert world.labels.labels == {}, "the labels of the undone packing are void"
    [packing, hand_over] = day()[2:]
    assert await world.act(packing, hand_over) == []
    assert [r.reason for r in world.orders.refusals.values()] == [
        "units_canceled",
        "hand_over_before_pack",
    ]


async def test_units_canceled_after_the_hand_over_are_refused_and_kept() -> None:
    world = World()
    await world.release()
    await world.act(*day())
    await world.cancel_one_tshirt()
    assert world.status() is FulfilmentStatus.SHIPPED
    assert world.orders.orders["fo-1"].lines == (Line("1", "TSHIRT", 2),)
    assert [(r.action, r.reason) for r in world.orders.refusals.values()] == [
        ("cancel_lines", "already_shipped")
    ]


def scan(code: str, at: datetime, tracking: str, carrier: str = "dpd") -> TrackingUpdateReceived:
    """A scan of the home delivery's parcel (its policy chooses DPD in the test dispatch)."""
    return TrackingUpdateReceived(
        carrier=carrier, tracking_number=tracking, carrier_status_code=code, occurred_at=at
    )


async def test_scans_move_the_parcel_forward_only_and_delivery_completes_the_work() -> None:
    world = World()
    await world.release()
    await world.act(*day())
    work = in_memory_unit_of_work()
    number = world.tracking_number()
    await world.tracking.updates(
        work,
        [
            received(scan("PU", AT + timedelta(hours=1), number), "oms.carrier-tracking"),
            received(scan("DL", AT + timedelta(hours=5), number), "oms.carrier-tracking"),
            received(scan("PU", AT + timedelta(hours=2), number), "oms.carrier-tracking"),  # older
        ],
    )
    assert [type(e) for e in emitted(work)] == [InTransit, Delivered]
    assert [s.applied for s in world.parcels.scans] == [True, True, False]
    assert world.status() is FulfilmentStatus.DELIVERED


async def test_a_scan_nobody_can_read_is_rejected() -> None:
    world = World()
    await world.release()
    await world.act(*day())
    for bad, reason in ((scan("ZZ", AT, world.tracking_number()), "unknown_carrier_status_code"),):
        with pytest.raises(RejectedEvent) as caught:
            await world.tracking.updates(
                in_memory_unit_of_work(), [received(bad, "oms.carrier-tracking")]
            )
        assert caught.value.reason == reason
    unknown = scan("PU", AT, "T-404")
    with pytest.raises(RejectedEvent) as caught:
        await world.tracking.updates(
            in_memory_unit_of_work(), [received(unknown, "oms.carrier-tracking")]
        )
    assert caught.value.reason == "unknown_tracking_number"
