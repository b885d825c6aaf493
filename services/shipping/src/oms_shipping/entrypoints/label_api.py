"""Labels and manifests over the staff API: each parcel's carrier choice, its label as PDF
(office printers) or ZPL (thermal printers), a return label on request, and the end-of-day
manifest of what a location handed to a carrier. Same keys as the rest of the staff API."""

import csv
import io
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from oms_events import StrictModel
from oms_events.values import Identifier
from oms_runtime import ApiRoute, Problem, ServiceRuntime, problem_responses
from oms_shipping.adapters import labels as store
from oms_shipping.domain.fulfilment import ActionRefused
from oms_shipping.domain.labels import LabelKind
from oms_shipping.entrypoints.api import ACTION_ERRORS, ERRORS, FoId, visible_order
from oms_shipping.entrypoints.api_auth import Staff, staff_security
from oms_shipping.service_layer.labelling import Labelling

__all__ = ["register_label_api"]

_ParcelId = Annotated[str, Path(pattern=r"^[^\x00-\x1f\x7f/]{1,200}$")]
_MEDIA = {"pdf": "application/pdf", "zpl": "application/zpl"}


class AlternativeView(StrictModel):
    carrier: str
    service: str
    lost_because: str
    cost_minor: int | None
    estimated_delivery: date | None


class LabelView(StrictModel):
    """A parcel's label: for an outbound one, the carrier choice that made it."""

    parcel_id: str
    kind: LabelKind
    carrier: str
    service: str
    tracking_number: str
    weight_grams: int
    billable_grams: int
    cost_minor: int | None
    """None for a return label (billed when used)."""
    currency: str
    estimated_delivery: date | None
    meets_promise: bool | None
    alternatives: list[AlternativeView]
    """Every service not chosen, and why it lost."""
    created_at: datetime


class Labels(StrictModel):
    labels: list[LabelView]


class ManifestParcel(StrictModel):
    tracking_number: str
    service: str | None
    """None for a parcel handed over under a staff-typed number (no label)."""
    parcel_id: str | None
    weight_grams: int | None
    order_id: str
    fulfilment_order_id: str
    handed_over_at: datetime


class Manifest(StrictModel):
    """What a location handed to a carrier on one day (the location's calendar day)."""

    location_id: str
    carrier: str
    date: date
    parcels: list[ManifestParcel]
    total_weight_grams: int


def _csv(manifest: Manifest) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    fields = list(ManifestParcel.model_fields)
    writer.writerow(fields)
    for parcel in manifest.parcels:
        row = parcel.model_dump(mode="json")
        writer.writerow([row[f] if row[f] is not None else "" for f in fields])
    return out.getvalue()


def register_label_api(
    runtime: ServiceRuntime, labelling: Labelling, keys: Mapping[str, Staff]
) -> None:
    router = APIRouter(route_class=ApiRoute, dependencies=[Depends(runtime.require_ready)])
    Caller = Annotated[Staff, staff_security(keys)]

    async def labels_of(fulfilment_order_id: str) -> list[LabelView]:
        async with runtime.unit_of_work() as work:
            rows = await store.label_views(work.conn, fulfilment_order_id)
        return [LabelView.model_validate(r) for r in rows]

    @router.get(
        "/v1/fulfilment-orders/{fulfilment_order_id}/labels",
        response_model=Labels,
        summary="Each parcel's labels and the carrier choice behind them",
        responses=problem_responses(ERRORS),
    )
    async def labels(who: Caller, fulfilment_order_id: FoId) -> Labels:
        await visible_order(runtime, who, fulfilment_order_id)
        return Labels(labels=await labels_of(fulfilment_order_id))

    @router.get(
        "/v1/fulfilment-orders/{fulfilment_order_id}/parcels/{parcel_id}/{kind}.{fmt}",
        summary="A parcel's label (kind `label` or `return-label`) as PDF or ZPL",
        response_class=Response,
        responses={
            200: {"content": {media: {} for media in _MEDIA.values()}},
            **problem_responses(ERRORS),
        },
    )
    async def document(
        who: Caller,
        fulfilment_order_id: FoId,
        parcel_id: _ParcelId,
        kind: Literal["label", "return-label"],
        fmt: Literal["pdf", "zpl"],
    ) -> Response:
        await visible_order(runtime, who, fulfilment_order_id)
        wanted = LabelKind.OUTBOUND if kind == "label" else LabelKind.RETURN
        async with runtime.unit_of_work() as work:
            found = await store.label_document(
                work.conn, fulfilment_order_id, parcel_id, wanted.value
            )
        if found is None:
            raise Problem(404, "not_found", f"parcel {parcel_id!r} has no {kind}")
        pdf, zpl, tracking = found
        return Response(
            content=pdf if fmt == "pdf" else zpl.encode(),
            media_type=_MEDIA[fmt],
            headers={"Content-Disposition": f'attachment; filename="{tracking}.{fmt}"'},
        )

    @router.post(
        "/v1/fulfilment-orders/{fulfilment_order_id}/parcels/{parcel_id}/return-label",
        response_model=LabelView,
        summary="Issue a shipped parcel's return label (once; asked again, the same one)",
        responses=problem_responses(ACTION_ERRORS),
    )
    async def return_label(
        who: Caller, fulfilment_order_id: FoId, parcel_id: _ParcelId
    ) -> LabelView:
        found = await visible_order(runtime, who, fulfilment_order_id)
        request_id = uuid.uuid4()
        async with runtime.unit_of_work(correlation_id=found["order_id"], cause=request_id) as work:
            issued = await labelling.return_label(
                work, request_id, fulfilment_order_id, parcel_id, datetime.now(UTC)
            )
        if isinstance(issued, ActionRefused):
            raise Problem(409, issued.reason, issued.detail)
        if not issued:
            raise Problem(404, "not_found", f"parcel {parcel_id!r} has no label")
        views = await labels_of(fulfilment_order_id)
        return next(v for v in views if v.parcel_id == parcel_id and v.kind is LabelKind.RETURN)

    @router.get(
        "/v1/manifests/{location_id}/{carrier}",
        response_model=Manifest,
        summary="The end-of-day manifest: what a location handed to a carrier on a day",
        responses={
            200: {"content": {"text/csv": {}}},
            **problem_responses(
                {**ERRORS, 403: "A location's key asks for another location (`forbidden`)."}
            ),
        },
    )
    async def manifest(
        who: Caller,
        location_id: Annotated[Identifier, Path()],
        carrier: Annotated[Identifier, Path()],
        day: Annotated[date | None, Query(alias="date")] = None,
        fmt: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
    ) -> Manifest | Response:
        """``date`` is the location's calendar day (default: today there); ``format=csv``
        gives the same list as CSV for the driver to sign."""
        if not who.may_work_at(location_id):
            raise Problem(403, "forbidden", "a location's key sees its own manifests only")
        place = labelling.dispatch.locations.get(location_id)
        if place is None:
            raise Problem(404, "not_found", f"no location {location_id!r} is configured")
        zone = ZoneInfo(place.timezone)
        day = day or datetime.now(zone).date()
        start = datetime.combine(day, time(0), zone)
        end = datetime.combine(day + timedelta(days=1), time(0), zone)
        async with runtime.unit_of_work() as work:
            rows = await store.manifest(work.conn, location_id, carrier, start, end)
        parcels = [ManifestParcel.model_validate(r) for r in rows]
        found = Manifest(
            location_id=location_id,
            carrier=carrier,
            date=day,
            parcels=parcels,
            total_weight_grams=sum(p.weight_grams or 0 for p in parcels),
        )
        if fmt == "csv":
            return Response(content=_csv(found), media_type="text/csv")
        return found

    runtime.http.include_router(router)
