"""The availability query: ``GET /v1/availability?sku=A&sku=B``, served by the worker's FastAPI
app next to ``/health`` and ``/metrics``.

A channel sees, per SKU, what it may sell: the available units of the active locations that
serve it and their sum (a location short of stock counts as zero). An operator sees every
location with every bucket. Answers come from the database the projection is built from, so
they are never behind the availability topic.
"""

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Security
from pydantic import StringConstraints

from oms_events import StrictModel
from oms_inventory.adapters.availability import availability_rows, known_skus
from oms_runtime import ApiRoute, Caller, ServiceRuntime, api_key_caller, problem_responses

__all__ = ["MAX_SKUS", "Availability", "register_api"]

MAX_SKUS = 100
_Sku = Annotated[str, StringConstraints(pattern=r"^[^@\s\x00-\x1f\x7f]{1,100}$")]


class LocationAvailability(StrictModel):
    """One location's stock of a SKU; the buckets are shown to operators only."""

    location_id: str
    location_type: str
    available: int
    """For a channel, never below zero."""
    on_hand: int | None = None
    reserved: int | None = None
    safety_stock: int | None = None
    in_transit: int | None = None
    quarantined: int | None = None


class ItemAvailability(StrictModel):
    sku: str
    available: int
    """The sum over the locations, each short location counted as zero."""
    locations: list[LocationAvailability]


class Availability(StrictModel):
    channel: str | None
    """The calling channel; null for an operator, who sees every location."""
    items: list[ItemAvailability]
    unknown_skus: list[str]


def _location_view(row: Any, caller: Caller) -> LocationAvailability:
    view: dict[str, Any] = {
        "location_id": row["location_id"],
        "location_type": row["location_type"],
        "available": max(row["available"], 0) if caller.channel else row["available"],
    }
    if caller.channel is None:
        for bucket in ("on_hand", "reserved", "safety_stock", "in_transit", "quarantined"):
            view[bucket] = row[bucket]
    return LocationAvailability(**view)


def register_api(runtime: ServiceRuntime, keys: Mapping[str, Caller]) -> None:
    caller = api_key_caller(keys, "oms-inventory", lambda c: c.actor_id)
    router = APIRouter(route_class=ApiRoute, dependencies=[Depends(runtime.require_ready)])

    @router.get(
        "/v1/availability",
        response_model=Availability,
        response_model_exclude_unset=True,
        summary="Available units per SKU, per location",
        responses=problem_responses(
            {
                401: "No API key, or an unknown one (`unauthorized`).",
                422: f"No SKU, more than {MAX_SKUS}, or one that is not a SKU (`invalid_query`).",
                503: "The service is starting or the database is away (`unavailable`).",
            }
        ),
    )
    async def availability(
        who: Annotated[Caller, Security(caller)],
        sku: Annotated[list[_Sku], Query(min_length=1, max_length=MAX_SKUS)],
    ) -> Availability:
        """A channel sees the locations that serve it, an operator every location with every
        bucket. A SKU the catalogue does not know is listed in ``unknown_skus``."""
        skus = list(dict.fromkeys(sku))
        async with runtime.unit_of_work() as work:
            known = await known_skus(work.conn, skus)
            rows = await availability_rows(work.conn, [s for s in skus if s in known], who.channel)
        by_sku: dict[str, list[Any]] = {}
        for row in rows:
            by_sku.setdefault(row["sku"], []).append(row)
        return Availability(
            channel=who.channel,
            items=[
                ItemAvailability(
                    sku=s,
                    available=sum(max(r["available"], 0) for r in by_sku.get(s, [])),
                    locations=[_location_view(r, who) for r in by_sku.get(s, [])],
                )
                for s in skus
                if s in known
            ],
            unknown_skus=[s for s in skus if s not in known],
        )

    runtime.http.include_router(router)
