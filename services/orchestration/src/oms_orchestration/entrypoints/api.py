"""Availability to promise over HTTP: ``POST /v1/promise`` with a cart and where it goes.

A channel asks for its own customers (an operator names the channel in the body). The answer
lists every delivery option that can be kept now, earliest first, with the locations that
would fulfil it, its promised date (or ready-by time for click & collect) and its cost.
"""

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Security
from pydantic import Field, StringConstraints

from oms_events import StrictModel
from oms_events.values import Identifier, Sku
from oms_orchestration.adapters.orders import availability_of
from oms_orchestration.adapters.sagas import capacity_used
from oms_orchestration.domain.config import SourcingConfig
from oms_orchestration.domain.geo import locate
from oms_orchestration.domain.promise import promise
from oms_orchestration.domain.sourcing import Line
from oms_runtime import (
    ApiRoute,
    Caller,
    Problem,
    ServiceRuntime,
    api_key_caller,
    problem_responses,
)

__all__ = ["Promise", "PromiseRequest", "register_api"]


class _CartLine(StrictModel):
    sku: Sku
    quantity: Annotated[int, Field(strict=True, gt=0, le=10_000)]


class _Destination(StrictModel):
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=20)]


class PromiseRequest(StrictModel):
    """A cart and where it goes: a destination (home delivery) or a pickup store."""

    lines: Annotated[tuple[_CartLine, ...], Field(min_length=1, max_length=100)]
    destination: _Destination | None = None
    pickup_store_id: Identifier | None = None
    channel: Identifier | None = None
    """Operators only: the channel whose customers ask."""


class _Cost(StrictModel):
    amount_minor: int
    currency: str


class PromiseOption(StrictModel):
    delivery_method: str
    service_id: str | None
    carrier: str | None
    locations: list[str]
    """The locations that would fulfil it."""
    parcels: int
    promised_date: date | None
    """Home delivery: the day it arrives."""
    ready_by: datetime | None
    """Click & collect: when it is ready at the store."""
    cost: _Cost
    explanation: str


class Promise(StrictModel):
    channel: str
    options: list[PromiseOption]
    """Every option that can be kept now, earliest first; empty when none can."""


def register_api(
    runtime: ServiceRuntime, config: SourcingConfig, keys: Mapping[str, Caller]
) -> None:
    caller = api_key_caller(keys, "oms-orchestration", lambda c: c.actor_id)
    router = APIRouter(route_class=ApiRoute, dependencies=[Depends(runtime.require_ready)])

    @router.post(
        "/v1/promise",
        response_model=Promise,
        summary="Delivery options that can be kept for a cart",
        responses=problem_responses(
            {
                401: "No API key, or an unknown one (`unauthorized`).",
                403: "A channel promises only to its own customers (`forbidden`).",
                413: f"The body is larger than {ApiRoute.max_body_bytes} bytes"
                " (`payload_too_large`).",
                422: "The body is not a valid request, names no destination or pickup store,"
                " or an unknown store (`invalid_request`); `errors` names each field.",
                503: "The service is starting or the database is away (`unavailable`).",
            }
        ),
    )
    async def answer(who: Annotated[Caller, Security(caller)], asked: PromiseRequest) -> Promise:
        """A channel asks for its own customers; an operator names the channel in the body."""
        channel = who.channel or asked.channel
        if channel is None:
            raise _invalid("channel", "name the channel to promise for")
        if who.channel and asked.channel and asked.channel != who.channel:
            raise Problem(403, "forbidden", "a channel promises only to its own customers")
        if asked.destination is None and asked.pickup_store_id is None:
            raise _invalid(None, "give a destination or a pickup_store_id")
        if asked.pickup_store_id and config.location(asked.pickup_store_id) is None:
            raise _invalid("pickup_store_id", f"unknown store {asked.pickup_store_id!r}")
        destination = (
            locate(config.zones(), asked.destination.country, asked.destination.postal_code)
            if asked.destination
            else None
        )
        lines = tuple(Line(str(n), ln.sku, ln.quantity) for n, ln in enumerate(asked.lines, 1))
        now = datetime.now(UTC)
        async with runtime.unit_of_work() as work:
            stock = await availability_of(work.conn, sorted({ln.sku for ln in lines}))
            used = await capacity_used(
                work.conn, now.astimezone(ZoneInfo(config.delivery.timezone)).date()
            )
        options = promise(
            config,
            channel=channel,
            lines=lines,
            destination=destination,
            pickup_store_id=asked.pickup_store_id,
            now=now,
            available=stock,
            capacity_used=used,
        )
        return Promise(
            channel=channel,
            options=[
                PromiseOption(
                    delivery_method=o.delivery_method.value,
                    service_id=o.service_id,
                    carrier=o.carrier,
                    locations=list(o.locations),
                    parcels=o.parcels,
                    promised_date=o.promised_date,
                    ready_by=o.ready_by,
                    cost=_Cost(amount_minor=o.cost_minor, currency=o.currency),
                    explanation=o.explanation,
                )
                for o in options
            ],
        )

    runtime.http.include_router(router)


def _invalid(field: str | None, message: str) -> Problem:
    return Problem(422, "invalid_request", message, errors=[(field, message)])
