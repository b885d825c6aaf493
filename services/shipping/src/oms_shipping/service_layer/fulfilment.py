"""Work released to a location, and what its staff do with it.

Released work (``FulfilmentOrderCreated``) is kept a run at a time. Each staff action loads
its fulfilment order, asks the domain whether it fits, and publishes the fact; an action that
does not fit is kept with its reason (``refused_actions``) and the partition moves on. An
action for a fulfilment order this service never received is dead-lettered.
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import structlog

from oms_events.fulfilment import (
    Collected,
    FulfilmentAccepted,
    FulfilmentOrderAccepted,
    FulfilmentOrderRejected,
    FulfilmentRejected,
    HandedOver,
    Packed,
    ParcelPacked,
    PickedUpByCustomer,
    PickStarted,
    ReadyForPickup,
    ReceivedAtStore,
    ShipmentShipped,
    ShippedParcel,
)
from oms_events.sourcing import (
    FulfilmentOrderCanceled,
    FulfilmentOrderCreated,
    FulfilmentOrderLinesCanceled,
)
from oms_events.values import LineQuantity
from oms_runtime import Received, RejectedEvent, UnitOfWork
from oms_shipping.adapters.fulfilment_orders import NewFulfilmentOrder, Refusal
from oms_shipping.adapters.labels import LabelRow
from oms_shipping.domain.boxes import BoxCatalogue
from oms_shipping.domain.fulfilment import (
    ActionRefused,
    FulfilmentOrder,
    FulfilmentStatus,
    Line,
    Parcel,
    Shipment,
)
from oms_shipping.domain.tracking import CarrierCodes
from oms_shipping.service_layer.labelling import Labelling, ready_to_ship
from oms_shipping.service_layer.rate_shopping import shop
from oms_shipping.service_layer.recalled import RecalledDecisions
from oms_shipping.service_layer.stores import FulfilmentOrderStore, ParcelStore

__all__ = [
    "STAFF_API_SOURCE",
    "FulfilmentHandlers",
    "StaffAction",
    "at_counter",
    "new_pickup_code",
    "wire",
]

_log = structlog.get_logger(__name__)

StaffAction = (
    FulfilmentAccepted
    | FulfilmentRejected
    | PickStarted
    | ParcelPacked
    | HandedOver
    | ReceivedAtStore
    | Collected
)


def _start_picking(fo: FulfilmentOrder) -> None:
    fo.start_picking()


STAFF_API_SOURCE = "oms/shipping"
"""The source of the actions the staff API applied and published to ``oms.staff-actions``."""

# Pickup codes are read out and typed at a counter: no 0/O or 1/I to confuse.
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_CODE_LENGTH = 8


def new_pickup_code() -> str:
    """Unguessable (32^8, about 10^12): whoever shows it takes the parcel."""
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))


def _about(fo: FulfilmentOrder) -> dict[str, str]:
    """The ids every event about a fulfilment order carries."""
    return {
        "order_id": fo.order_id,
        "fulfilment_order_id": fo.fulfilment_order_id,
        "location_id": fo.location_id,
    }


def at_counter(fo: FulfilmentOrder) -> dict[str, str]:
    """The ids of an event at the pickup store: where the customer collects the work."""
    return {**_about(fo), "location_id": fo.pickup_store_id or fo.location_id}


def _ready_for_pickup(work: UnitOfWork, fo: FulfilmentOrder, at: datetime) -> None:
    """Set aside for the customer: the order service captures and inventory commits (once
    per shipment: work shipped to the store was when it left), the customer is told the code."""
    assert fo.pickup_code is not None and fo.hold_until is not None
    work.emit(
        ReadyForPickup(
            **at_counter(fo),
            pickup_code=fo.pickup_code,
            hold_until=fo.hold_until,
            shipment_id=fo.shipment_id,
            lines=wire(fo.lines),
            ready_at=at,
        ),
        subject=fo.order_id,
    )


def _lines(lines: Sequence[LineQuantity]) -> tuple[Line, ...]:
    return tuple(Line(line.line_id, line.sku, line.quantity) for line in lines)


def wire(lines: Sequence[Line]) -> tuple[LineQuantity, ...]:
    return tuple(
        LineQuantity(line_id=line.line_id, sku=line.sku, quantity=line.quantity) for line in lines
    )


@dataclass
class FulfilmentHandlers:
    carriers: CarrierCodes
    boxes: BoxCatalogue
    fulfilment_orders: FulfilmentOrderStore
    parcels: ParcelStore
    labelling: Labelling
    pickup_hold: timedelta = timedelta(days=7)
    """How long click & collect work waits at the counter."""
    recalled: RecalledDecisions | None = None
    """A rebuild's: the tracking numbers and pickup codes the live service drew."""

    async def created(
        self, work: UnitOfWork, released: Sequence[Received[FulfilmentOrderCreated]]
    ) -> None:
        """A run of released work kept in one statement; a replayed release changes nothing."""
        new = await self.fulfilment_orders.save_created(
            work.conn,
            [
                NewFulfilmentOrder(
                    fulfilment_order_id=fo.fulfilment_order_id,
                    order_id=fo.order_id,
                    location_id=fo.location_id,
                    location_type=fo.location_type.value,
                    delivery_method=fo.delivery_method.value,
                    lines=[line.model_dump(mode="json") for line in fo.lines],
                    shipping_address=(
                        fo.shipping_address.model_dump(mode="json") if fo.shipping_address else None
                    ),
                    pickup_store_id=fo.pickup_store_id,
                    promised_by=fo.promised_by,
                    accept_by=fo.accept_by,
                )
                for fo in (r.payload for r in released)
            ],
        )
        _log.info("fulfilment_orders_received", new=new, known=len(released) - new)

    async def staff_action(self, work: UnitOfWork, received: Received[StaffAction]) -> None:
        """A staff action from ``oms.staff-actions``; one that does not fit is kept, refused.
        One the staff API took was applied in the transaction that published it: only a
        rebuild applies it again (known by its id, not by the source it claims)."""
        action_id = received.envelope.id
        if (
            received.envelope.source == STAFF_API_SOURCE
            and not work.rebuilding
            and await self.fulfilment_orders.api_actions(work.conn, [action_id])
        ):
            return
        await self.act(work, action_id, received.payload)

    async def act_and_publish(
        self, work: UnitOfWork, action_id: UUID, action: StaffAction
    ) -> FulfilmentOrder | ActionRefused:
        """A staff action taken over the staff API: applied at once (:meth:`act`) and, applied
        or refused, published to ``oms.staff-actions`` under ``action_id``, so that the
        topic is the log of every action (``oms rebuild shipping`` applies them again)."""
        outcome = await self.act(work, action_id, action)
        await self.fulfilment_orders.taken_over_api(work.conn, action_id)
        work.emit(action, subject=action.order_id, event_id=action_id)
        return outcome

    async def act(
        self, work: UnitOfWork, action_id: UUID, action: StaffAction
    ) -> FulfilmentOrder | ActionRefused:
        """Apply one staff action, from the topic or the staff API: the fulfilment order as
        it now is, or the refusal (kept under ``action_id`` in ``refused_actions``, the order
        unchanged). An action for a fulfilment order this service does not have is rejected
        (``RejectedEvent``: dead-lettered from the topic)."""
        match action:
            case FulfilmentAccepted():
                return await self._accept(work, action_id, action)
            case FulfilmentRejected():
                return await self._reject(work, action_id, action)
            case PickStarted():
                return await self._act(work, action_id, action, "start_picking", _start_picking)
            case ParcelPacked():
                return await self._pack(work, action_id, action)
            case HandedOver():
                return await self._hand_over(work, action_id, action)
            case ReceivedAtStore():
                return await self._receive(work, action_id, action)
            case Collected():
                return await self._collect(work, action_id, action)

    async def _accept(
        self, work: UnitOfWork, action_id: UUID, action: FulfilmentAccepted
    ) -> FulfilmentOrder | ActionRefused:
        fo = await self._act(work, action_id, action, "accept", lambda fo: fo.accept())
        if isinstance(fo, FulfilmentOrder):
            work.emit(
                FulfilmentOrderAccepted(**_about(fo), accepted_at=action.performed_at),
                subject=fo.order_id,
            )
        return fo

    async def _reject(
        self, work: UnitOfWork, action_id: UUID, action: FulfilmentRejected
    ) -> FulfilmentOrder | ActionRefused:
        """The location gives (some of) the work back: orchestration sources it elsewhere."""
        given_back: tuple[Line, ...] = ()

        def reject(fo: FulfilmentOrder) -> None:
            nonlocal given_back
            given_back = fo.reject(_lines(action.lines))

        fo = await self._act(work, action_id, action, "reject", reject)
        if isinstance(fo, FulfilmentOrder):
            work.emit(
                FulfilmentOrderRejected(
                    **_about(fo), cause=action.cause, lines=wire(given_back), note=action.note
                ),
                subject=fo.order_id,
            )
        return fo

    async def _pack(
        self, work: UnitOfWork, action_id: UUID, action: ParcelPacked
    ) -> FulfilmentOrder | ActionRefused:
        """Packed work waits at the counter (click & collect) or gets a carrier service and
        a label per parcel (refused, and kept, when no service can take a parcel)."""
        packed = tuple(
            Parcel(p.parcel_id, p.box, p.weight_grams, _lines(p.lines)) for p in action.parcels
        )
        labels: list[LabelRow] = []

        async def pack(fo: FulfilmentOrder) -> None:
            nonlocal labels
            usable = {box.id for box in self.boxes.for_work(fo.for_pickup)}
            for box in sorted({p.box for p in packed} - usable):
                if self.boxes.find(box) is None:
                    raise ActionRefused("unknown_box", f"{box} is not configured")
                raise ActionRefused("counter_only_box", f"{box} stays at the counter")
            fo.pack(packed)
            if fo.for_pickup:
                code = await self._pickup_code(work, action_id)
                fo.set_aside(code, action.performed_at + self.pickup_hold)
            else:
                shopped = shop(self.labelling.dispatch, fo, action.performed_at, self.boxes)
                issued = (
                    await self.recalled.labels(work, action_id)
                    if work.rebuilding and self.recalled
                    else None
                )
                labels = await self.labelling.label_packed(
                    work, fo, shopped, action.performed_at, issued
                )

        fo = await self._act(work, action_id, action, "pack", pack)
        if not isinstance(fo, FulfilmentOrder):
            return fo
        work.emit(
            Packed(**_about(fo), parcels=action.parcels, packed_at=action.performed_at),
            subject=fo.order_id,
        )
        if labels:
            await self.labelling.labels.save_labels(work.conn, labels)
            work.emit(
                ready_to_ship(fo, labels, self.labelling.dispatch.currency, action.performed_at),
                subject=fo.order_id,
            )
            if fo.promise_at_risk:
                _log.warning("promise_at_risk", fulfilment_order_id=fo.fulfilment_order_id)
        if fo.for_pickup:
            _ready_for_pickup(work, fo, action.performed_at)
        return fo

    async def _hand_over(
        self, work: UnitOfWork, action_id: UUID, action: HandedOver
    ) -> FulfilmentOrder | ActionRefused:
        """Parcels left with the carrier (those named, else every one still here): the
        shipment is announced with its parcels and lines (the order service captures their
        value, inventory commits their stock)."""
        in_use = (
            await self.parcels.tracking_numbers_in_use(
                work.conn, action.carrier, action.tracking_numbers
            )
            if action.carrier
            else []
        )
        shipment: Shipment | None = None

        def hand_over(fo: FulfilmentOrder) -> None:
            nonlocal shipment
            if action.carrier and action.carrier not in self.carriers.carriers:
                raise ActionRefused("unknown_carrier", f"{action.carrier} is not configured")
            if in_use and not fo.labels:
                raise ActionRefused(
                    "tracking_number_in_use", f"{len(in_use)} tracking number(s) already taken"
                )
            shipment = fo.hand_over(
                action.carrier, action.tracking_numbers, action.performed_at, action.parcel_ids
            )

        fo = await self._act(work, action_id, action, "hand_over", hand_over)
        if not isinstance(fo, FulfilmentOrder):
            return fo
        assert shipment is not None
        await self.parcels.add_parcels(
            work.conn,
            shipment=shipment,
            fulfilment_order_id=fo.fulfilment_order_id,
            order_id=fo.order_id,
        )
        first = shipment.parcels[0]
        work.emit(
            ShipmentShipped(
                **_about(fo),
                shipment_id=shipment.shipment_id,
                carrier=first.carrier,
                tracking_number=first.tracking_number,
                lines=wire(shipment.lines),
                parcels=tuple(
                    ShippedParcel(
                        parcel_id=p.parcel_id, carrier=p.carrier, tracking_number=p.tracking_number
                    )
                    for p in shipment.parcels
                ),
                shipped_at=shipment.shipped_at,
            ),
            subject=fo.order_id,
        )
        return fo

    async def _receive(
        self, work: UnitOfWork, action_id: UUID, action: ReceivedAtStore
    ) -> FulfilmentOrder | ActionRefused:
        """Ship-to-store: the pickup store received the parcels and sets them aside; the
        customer is told the code (their value was captured, their stock committed, when
        they were handed to the carrier)."""
        code = await self._pickup_code(work, action_id)
        fo = await self._act(
            work,
            action_id,
            action,
            "receive",
            lambda fo: fo.receive_at_store(code, action.performed_at + self.pickup_hold),
            at_counter=True,
        )
        if isinstance(fo, FulfilmentOrder):
            _ready_for_pickup(work, fo, action.performed_at)
        return fo

    async def _collect(
        self, work: UnitOfWork, action_id: UUID, action: Collected
    ) -> FulfilmentOrder | ActionRefused:
        """The customer showed the pickup code and took the work: the order completes."""
        fo = await self._act(
            work,
            action_id,
            action,
            "collect",
            lambda fo: fo.collect(action.pickup_code),
            at_counter=True,
        )
        if isinstance(fo, FulfilmentOrder):
            work.emit(
                PickedUpByCustomer(
                    **at_counter(fo), collected_at=action.performed_at, shipment_id=fo.shipment_id
                ),
                subject=fo.order_id,
            )
        return fo

    async def _pickup_code(self, work: UnitOfWork, action_id: UUID) -> str:
        """A new code; in a rebuild, the one the live service drew for the action (read
        back), or, were it not published, a new one: the comparison then shows it."""
        if work.rebuilding and self.recalled:
            code = await self.recalled.pickup_code(work, action_id)
            if code is not None:
                return code
        return new_pickup_code()

    async def called_off(
        self, work: UnitOfWork, received: Received[FulfilmentOrderCanceled]
    ) -> None:
        """Orchestration took the work away (order canceled, deadline missed): the location
        stops, unless its parcels already left."""
        event = received.payload
        fo = await self.fulfilment_orders.lock(work.conn, event.fulfilment_order_id)
        if fo is None:
            _log.warning("call_off_for_unknown_fulfilment_order", order_id=event.order_id)
            return
        try:
            if not fo.cancel():
                return
        except ActionRefused as refused:
            await self._refuse(work, received.envelope.id, event.location_id, fo, "cancel", refused)
            return
        await self.fulfilment_orders.save(work.conn, fo, received.envelope.time)
        _log.info("fulfilment_order_called_off", fulfilment_order_id=fo.fulfilment_order_id)

    async def lines_canceled(
        self, work: UnitOfWork, received: Received[FulfilmentOrderLinesCanceled]
    ) -> None:
        """Units of the work canceled: the location ships only the rest (packed work is
        unpacked, its labels void), unless its parcels already left; refused and kept then."""
        event = received.payload
        fo = await self.fulfilment_orders.lock(work.conn, event.fulfilment_order_id)
        if fo is None or fo.order_id != event.order_id:
            _log.warning("lines_canceled_for_unknown_fulfilment_order", order_id=event.order_id)
            return
        was_packed = fo.status is FulfilmentStatus.PACKED
        try:
            if not fo.cancel_lines(_lines(event.lines)):
                return
        except ActionRefused as refused:
            await self._refuse(
                work, received.envelope.id, event.location_id, fo, "cancel_lines", refused
            )
            return
        if was_packed:
            await self.labelling.labels.void_labels(work.conn, fo.fulfilment_order_id)
        await self.fulfilment_orders.save(work.conn, fo, received.envelope.time)
        _log.info(
            "fulfilment_lines_canceled",
            fulfilment_order_id=fo.fulfilment_order_id,
            status=fo.status.value,
        )

    async def _act(
        self,
        work: UnitOfWork,
        action_id: UUID,
        payload: StaffAction,
        action: str,
        step: Callable[[FulfilmentOrder], Awaitable[None] | None],
        *,
        at_counter: bool = False,
    ) -> FulfilmentOrder | ActionRefused:
        """``step`` on the action's fulfilment order, saved; or its refusal, kept. A step
        that needs the database (packing draws tracking numbers) is a coroutine. An action
        ``at_counter`` comes from the pickup store, the others from the work's location."""
        fo = await self.fulfilment_orders.lock(work.conn, payload.fulfilment_order_id)
        if fo is None or fo.order_id != payload.order_id:
            raise RejectedEvent(
                "unknown_fulfilment_order",
                f"no fulfilment order {payload.fulfilment_order_id} for order {payload.order_id}",
            )
        try:
            fo.check_location(payload.location_id, at_counter=at_counter)
            stepped = step(fo)
            if inspect.isawaitable(stepped):
                await stepped
        except ActionRefused as refused:
            await self._refuse(work, action_id, payload.location_id, fo, action, refused)
            return refused
        await self.fulfilment_orders.save(work.conn, fo, payload.performed_at)
        _log.info(
            "staff_action_applied",
            action=action,
            fulfilment_order_id=fo.fulfilment_order_id,
            status=fo.status.value,
        )
        return fo

    async def _refuse(
        self,
        work: UnitOfWork,
        action_id: UUID,
        location_id: str,
        fo: FulfilmentOrder,
        action: str,
        refused: ActionRefused,
    ) -> None:
        await self.fulfilment_orders.keep_refusal(
            work.conn,
            Refusal(
                event_id=action_id,
                fulfilment_order_id=fo.fulfilment_order_id,
                order_id=fo.order_id,
                location_id=location_id,
                action=action,
                reason=refused.reason,
                detail=refused.detail,
            ),
        )
        _log.warning(
            "staff_action_refused",
            action=action,
            reason=refused.reason,
            fulfilment_order_id=fo.fulfilment_order_id,
            status=fo.status.value,
        )
