"""The staff API's pick lists, pick waves and packing suggestions: read-only advice on the
location's work, with the same keys and the same visibility as the actions (another
location's work looks unknown)."""

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from oms_events import StrictModel
from oms_events.values import Identifier, LineQuantity
from oms_runtime import ApiRoute, Problem, ServiceRuntime, UnitOfWork, problem_responses
from oms_shipping.domain.boxes import Size
from oms_shipping.domain.fulfilment import FulfilmentOrder, FulfilmentStatus, Line
from oms_shipping.domain.packing import Unpackable
from oms_shipping.domain.pick_path import NoBin, PickPath
from oms_shipping.entrypoints.api import ERRORS, LOCATION_ERRORS, FoId, not_found
from oms_shipping.entrypoints.api_auth import Staff, staff_security
from oms_shipping.service_layer.pick_pack import PickPack

__all__ = ["register_pick_pack_api"]

MAX_WAVE = 200


class PickedForView(StrictModel):
    fulfilment_order_id: str
    order_id: str
    line_id: str
    quantity: int


class PickView(StrictModel):
    sku: str
    quantity: int
    bin: str | None
    aisle: str | None
    bay: int | None
    level: int | None
    no_bin: NoBin | None
    """Why the SKU has no bin here (listed after the walk)."""
    lines: list[PickedForView]
    """Which line of which fulfilment order the units are for."""


class PickListView(StrictModel):
    fulfilment_order_id: str
    location_id: str
    status: FulfilmentStatus
    picks: list[PickView]
    """In walking order."""


class PickWaveView(StrictModel):
    location_id: str
    fulfilment_order_ids: list[str]
    """The accepted work in the wave, oldest acceptance deadline first."""
    picks: list[PickView]
    """In walking order, a SKU's units for every order together."""


class SuggestedParcelView(StrictModel):
    box: str
    outer: Size
    lines: list[LineQuantity]
    estimated_weight_g: int
    """The items' catalogue weights and the box's tare."""


class UnpackedLineView(StrictModel):
    line_id: str
    sku: str
    quantity: int
    reason: Unpackable


class PackingSuggestionView(StrictModel):
    fulfilment_order_id: str
    parcels: list[SuggestedParcelView]
    unpacked: list[UnpackedLineView]
    """Lines no box can take, with why."""


def _picks(path: PickPath) -> list[PickView]:
    return [
        PickView(
            sku=pick.sku,
            quantity=pick.quantity,
            bin=pick.bin,
            aisle=pick.place.aisle if pick.place else None,
            bay=pick.place.bay if pick.place else None,
            level=pick.place.level if pick.place else None,
            no_bin=pick.no_bin,
            lines=[
                PickedForView(
                    fulfilment_order_id=line.fulfilment_order_id,
                    order_id=line.order_id,
                    line_id=line.line_id,
                    quantity=line.quantity,
                )
                for line in pick.lines
            ],
        )
        for pick in path.picks
    ]


def _lines(lines: Sequence[Line]) -> list[LineQuantity]:
    return [LineQuantity(line_id=x.line_id, sku=x.sku, quantity=x.quantity) for x in lines]


def register_pick_pack_api(
    runtime: ServiceRuntime, pick_pack: PickPack, keys: Mapping[str, Staff]
) -> None:
    router = APIRouter(route_class=ApiRoute, dependencies=[Depends(runtime.require_ready)])
    Caller = Annotated[Staff, staff_security(keys)]

    async def visible(work: UnitOfWork, who: Staff, fulfilment_order_id: str) -> FulfilmentOrder:
        fo = await pick_pack.fulfilment_orders.find(work.conn, fulfilment_order_id)
        if fo is None or not who.may_work_at(fo.location_id):
            raise not_found(fulfilment_order_id)
        return fo

    def advice_route(path: str, model: type[StrictModel], summary: str) -> Callable[[Any], Any]:
        return router.get(
            f"/v1/fulfilment-orders/{{fulfilment_order_id}}/{path}",
            response_model=model,
            summary=summary,
            responses=problem_responses(ERRORS),
        )

    @advice_route(
        "pick-list", PickListView, "The work's lines in the order a picker walks the bins"
    )
    async def pick_list(who: Caller, fulfilment_order_id: FoId) -> PickListView:
        async with runtime.unit_of_work() as work:
            fo = await visible(work, who, fulfilment_order_id)
        return PickListView(
            fulfilment_order_id=fo.fulfilment_order_id,
            location_id=fo.location_id,
            status=fo.status,
            picks=_picks(pick_pack.pick_list(fo)),
        )

    @router.get(
        "/v1/locations/{location_id}/pick-wave",
        response_model=PickWaveView,
        summary="The location's accepted work picked in one walk",
        responses=problem_responses(LOCATION_ERRORS),
    )
    async def pick_wave(
        who: Caller,
        location_id: Identifier,
        limit: Annotated[int, Query(ge=1, le=MAX_WAVE)] = 20,
    ) -> PickWaveView:
        if not who.may_work_at(location_id):
            raise Problem(403, "forbidden", "a location's key picks its own location only")
        async with runtime.unit_of_work() as work:
            orders, path = await pick_pack.wave(work, location_id, limit)
        return PickWaveView(
            location_id=location_id,
            fulfilment_order_ids=[fo.fulfilment_order_id for fo in orders],
            picks=_picks(path),
        )

    @advice_route(
        "packing-suggestion",
        PackingSuggestionView,
        "Boxes for the work: fewest boxes, then least empty space",
    )
    async def packing_suggestion(who: Caller, fulfilment_order_id: FoId) -> PackingSuggestionView:
        async with runtime.unit_of_work() as work:
            fo = await visible(work, who, fulfilment_order_id)
            suggestion = await pick_pack.packing(work, fo)
        return PackingSuggestionView(
            fulfilment_order_id=fo.fulfilment_order_id,
            parcels=[
                SuggestedParcelView(
                    box=parcel.box.id,
                    outer=parcel.box.outer,
                    lines=_lines(parcel.lines),
                    estimated_weight_g=parcel.weight_g,
                )
                for parcel in suggestion.parcels
            ],
            unpacked=[
                UnpackedLineView(
                    line_id=u.line.line_id,
                    sku=u.line.sku,
                    quantity=u.line.quantity,
                    reason=u.reason,
                )
                for u in suggestion.unpacked
            ],
        )

    runtime.http.include_router(router)
