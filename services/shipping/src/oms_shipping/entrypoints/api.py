"""The staff API: a location's devices list their work and act on it over HTTP.

Store and warehouse apps either publish staff actions to ``oms.staff-actions`` or call this
API, which applies the same action at once through the same use case and answers with the
outcome: the fulfilment order as it now is, or ``409`` with the refusal's code (kept in
``refused_actions`` like a refusal from the topic). The API publishes each action it took to
``oms.staff-actions`` too, under the request's id, in the same transaction: the topic is the
log of every action (the consumer skips those, a rebuild applies them). A key belongs to one
location (its devices see and work only that location's fulfilment orders, and the pickup
store also the work on its way to it for its customers; another location's look unknown) or
to an operator.
"""

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field, StringConstraints

from oms_events import StrictModel
from oms_events.fulfilment import (
    Collected,
    FulfilmentAccepted,
    FulfilmentRejected,
    HandedOver,
    Parcel,
    ParcelPacked,
    PickStarted,
    ReceivedAtStore,
    RejectionCause,
)
from oms_events.values import Identifier, LineQuantity
from oms_runtime import ApiRoute, Problem, ServiceRuntime, problem_responses
from oms_shipping.adapters import fulfilment_orders as store
from oms_shipping.domain.fulfilment import ActionRefused, FulfilmentStatus
from oms_shipping.entrypoints.api_auth import Staff, staff_security
from oms_shipping.service_layer.fulfilment import FulfilmentHandlers, StaffAction

__all__ = [
    "ACTION_ERRORS",
    "ERRORS",
    "LOCATION_ERRORS",
    "FoId",
    "FulfilmentOrderView",
    "not_found",
    "register_api",
    "visible_order",
]

MAX_LIST = 200
FoId = Annotated[str, Path(pattern=r"^[^\x00-\x1f\x7f]{1,200}$")]


class _ParcelView(StrictModel):
    parcel_id: str
    box: str
    weight_grams: int
    lines: list[LineQuantity]


class _ShippedParcelView(StrictModel):
    parcel_id: str | None
    """None for work packed without labels."""
    carrier: str
    tracking_number: str


class _ShipmentView(StrictModel):
    """One hand-over: its parcels and the units in them."""

    shipment_id: str
    parcel_ids: list[str]
    parcels: list[_ShippedParcelView]
    lines: list[LineQuantity]
    shipped_at: datetime


class FulfilmentOrderView(StrictModel):
    """A location's work as its staff see it: no address, no pickup code (the customer shows
    it at the counter)."""

    fulfilment_order_id: str
    order_id: str
    location_id: str
    delivery_method: str
    pickup_store_id: str | None
    """Pickup orders: where the customer collects (another location for ship-to-store)."""
    status: FulfilmentStatus
    lines: list[LineQuantity]
    """Still to ship (a rejection takes lines out, a cancellation units)."""
    canceled_lines: list[LineQuantity]
    """Units canceled after release, per line: not to be packed."""
    parcels: list[_ParcelView]
    shipments: list[_ShipmentView]
    """Each hand-over so far: PARTIALLY_SHIPPED while some parcels are still here."""
    carrier: str | None
    tracking_numbers: list[str]
    policy: str | None
    """The rate-shopping policy that chose the labels' carriers (work for a carrier)."""
    promise_at_risk: bool
    """Some parcel's best carrier option arrives after ``promised_by``."""
    accept_by: datetime
    promised_by: datetime | None
    hold_until: datetime | None
    """Click & collect: how long the work waits at the counter."""
    updated_at: datetime


class WorkList(StrictModel):
    fulfilment_orders: list[FulfilmentOrderView]


class _Staffed(StrictModel):
    staff_id: Identifier
    """Who at the location did it (the key names the location, not the person)."""


class AcceptRequest(_Staffed):
    pass


class StartPickingRequest(_Staffed):
    pass


class RejectRequest(_Staffed):
    cause: RejectionCause
    lines: tuple[LineQuantity, ...] = ()
    """Whole lines given back; none = all of them."""
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None


class PackRequest(_Staffed):
    parcels: Annotated[tuple[Parcel, ...], Field(min_length=1, max_length=100)]


class HandOverRequest(_Staffed):
    carrier: Identifier | None = None
    """Labelled work: none, or the labels' carrier. Work without labels: required."""
    tracking_numbers: Annotated[tuple[Identifier, ...], Field(max_length=100)] = ()
    """Labelled work: none, or exactly the numbers of the leaving parcels' labels (scanned
    off them). Work without labels: one per parcel, required."""
    parcel_ids: Annotated[tuple[Identifier, ...], Field(max_length=100)] = ()
    """The packed parcels leaving now, the others later; none = every one still here."""


class ReceiveRequest(_Staffed):
    pass


class CollectRequest(_Staffed):
    pickup_code: Identifier


ERRORS = {
    401: "No API key, or an unknown one (`unauthorized`).",
    404: "No such fulfilment order at the caller's location (`not_found`).",
    503: "The service is starting or the database is away (`unavailable`).",
}
LOCATION_ERRORS = {
    **ERRORS,
    403: "A location's key asks for another location (`forbidden`).",
}
ACTION_ERRORS = {
    **ERRORS,
    409: "The action does not fit the fulfilment order: the code is the refusal's"
    " (`already_accepted`, `pack_before_pick`, `wrong_pickup_code`, ... see"
    " docs/shipping-service.md); the refusal is kept, the order unchanged.",
    413: f"The body is larger than {ApiRoute.max_body_bytes} bytes (`payload_too_large`).",
    422: "The body is not a valid request (`invalid_request`); `errors` names each field.",
}


def not_found(fulfilment_order_id: str) -> Problem:
    return Problem(404, "not_found", f"no fulfilment order {fulfilment_order_id!r} here")


async def visible_order(
    runtime: ServiceRuntime, who: Staff, fulfilment_order_id: str
) -> dict[str, Any]:
    """The fulfilment order as its staff see it (the location doing the work, and for a pickup
    order the store it is collected at); 404 when there is none at their location."""
    async with runtime.unit_of_work() as work:
        found = await store.view(work.conn, fulfilment_order_id)
    if found is None or not (
        who.may_work_at(found["location_id"]) or who.may_work_at(found["pickup_store_id"])
    ):
        raise not_found(fulfilment_order_id)
    return found


def register_api(
    runtime: ServiceRuntime, handlers: FulfilmentHandlers, keys: Mapping[str, Staff]
) -> None:
    router = APIRouter(route_class=ApiRoute, dependencies=[Depends(runtime.require_ready)])
    Caller = Annotated[Staff, staff_security(keys)]

    async def visible(who: Staff, fulfilment_order_id: str) -> dict[str, Any]:
        return await visible_order(runtime, who, fulfilment_order_id)

    async def apply(
        who: Staff, fulfilment_order_id: str, action: Callable[..., StaffAction], body: _Staffed
    ) -> FulfilmentOrderView:
        """The action with the body's fields, applied in one transaction: from the caller's
        location (the domain refuses it elsewhere than its place); an operator acts where
        the action belongs, at the counter for receiving and collection."""
        found = await visible(who, fulfilment_order_id)
        at_counter = action in (ReceivedAtStore, Collected) and found["pickup_store_id"]
        taken = action(
            order_id=found["order_id"],
            fulfilment_order_id=fulfilment_order_id,
            location_id=who.location_id
            or (found["pickup_store_id"] if at_counter else found["location_id"]),
            performed_at=datetime.now(UTC),
            **dict(body),
        )
        action_id = uuid.uuid4()
        async with runtime.unit_of_work(correlation_id=found["order_id"], cause=action_id) as work:
            outcome = await handlers.act_and_publish(work, action_id, taken)
            now = await store.view(work.conn, fulfilment_order_id)
        if isinstance(outcome, ActionRefused):
            raise Problem(409, outcome.reason, outcome.detail)
        return FulfilmentOrderView.model_validate(now)

    @router.get(
        "/v1/fulfilment-orders",
        response_model=WorkList,
        summary="The location's work, oldest acceptance deadline first",
        responses=problem_responses(LOCATION_ERRORS),
    )
    async def work_list(
        who: Caller,
        location_id: Annotated[Identifier | None, Query()] = None,
        status: Annotated[FulfilmentStatus | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 50,
    ) -> WorkList:
        """A location's key lists its own location; an operator names one or sees all."""
        if who.location_id and location_id and location_id != who.location_id:
            raise Problem(403, "forbidden", "a location's key lists its own location only")
        async with runtime.unit_of_work() as work:
            rows = await store.work_list(
                work.conn, who.location_id or location_id, status.value if status else None, limit
            )
        return WorkList(fulfilment_orders=[FulfilmentOrderView.model_validate(r) for r in rows])

    @router.get(
        "/v1/fulfilment-orders/{fulfilment_order_id}",
        response_model=FulfilmentOrderView,
        summary="One fulfilment order",
        responses=problem_responses(ERRORS),
    )
    async def one(who: Caller, fulfilment_order_id: FoId) -> FulfilmentOrderView:
        return FulfilmentOrderView.model_validate(await visible(who, fulfilment_order_id))

    def action_route(path: str, summary: str) -> Callable[[Any], Any]:
        return router.post(
            f"/v1/fulfilment-orders/{{fulfilment_order_id}}/{path}",
            response_model=FulfilmentOrderView,
            summary=summary,
            responses=problem_responses(ACTION_ERRORS),
        )

    # Each body carries exactly the action's own fields: the ids and the time come from here.
    @action_route("accept", "Accept the work")
    async def accept(
        who: Caller, fulfilment_order_id: FoId, body: AcceptRequest
    ) -> FulfilmentOrderView:
        return await apply(who, fulfilment_order_id, FulfilmentAccepted, body)

    @action_route("reject", "Give (some of) the work back; orchestration sources it again")
    async def reject(
        who: Caller, fulfilment_order_id: FoId, body: RejectRequest
    ) -> FulfilmentOrderView:
        return await apply(who, fulfilment_order_id, FulfilmentRejected, body)

    @action_route("start-picking", "Start picking")
    async def pick(
        who: Caller, fulfilment_order_id: FoId, body: StartPickingRequest
    ) -> FulfilmentOrderView:
        return await apply(who, fulfilment_order_id, PickStarted, body)

    @action_route("pack", "Pack every unit into parcels; click & collect work is set aside")
    async def pack(
        who: Caller, fulfilment_order_id: FoId, body: PackRequest
    ) -> FulfilmentOrderView:
        return await apply(who, fulfilment_order_id, ParcelPacked, body)

    @action_route("hand-over", "Hand the parcels (all, or those named) to a carrier")
    async def hand_over(
        who: Caller, fulfilment_order_id: FoId, body: HandOverRequest
    ) -> FulfilmentOrderView:
        return await apply(who, fulfilment_order_id, HandedOver, body)

    @action_route("receive", "Ship-to-store: the pickup store received the parcels")
    async def receive(
        who: Caller, fulfilment_order_id: FoId, body: ReceiveRequest
    ) -> FulfilmentOrderView:
        return await apply(who, fulfilment_order_id, ReceivedAtStore, body)

    @action_route("collect", "The customer collects pickup work with its code")
    async def collect(
        who: Caller, fulfilment_order_id: FoId, body: CollectRequest
    ) -> FulfilmentOrderView:
        return await apply(who, fulfilment_order_id, Collected, body)

    runtime.http.include_router(router)
