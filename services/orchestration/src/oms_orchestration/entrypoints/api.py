"""Availability to promise over HTTP: ``POST /v1/promise`` with a cart and where it goes.

A channel asks for its own customers (an operator names the channel in the body). The answer
lists every delivery option that can be kept now, earliest first, with the locations that
would fulfil it, its promised date (or ready-by time for click & collect) and its cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Request
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
    Caller,
    DocumentError,
    Refused,
    ServiceRuntime,
    json_body,
    json_endpoint,
    validated,
)

__all__ = ["PromiseRequest", "register_api"]


class _CartLine(StrictModel):
    sku: Sku
    quantity: Annotated[int, Field(strict=True, gt=0, le=10_000)]


class _Destination(StrictModel):
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=20)]


class PromiseRequest(StrictModel):
    lines: Annotated[tuple[_CartLine, ...], Field(min_length=1, max_length=100)]
    destination: _Destination | None = None
    pickup_store_id: Identifier | None = None
    channel: Identifier | None = None
    """Operators only: the channel whose customers ask."""


def register_api(
    runtime: ServiceRuntime, config: SourcingConfig, keys: Mapping[str, Caller]
) -> None:
    async def answer(caller: Caller, request: Request) -> Any:
        try:
            asked = validated(PromiseRequest, await json_body(request), "promise request")
        except DocumentError as exc:
            raise Refused(422, "invalid_request", "; ".join(exc.errors)) from None
        channel = caller.channel or asked.channel
        if channel is None:
            raise Refused(422, "invalid_request", "channel: name the channel to promise for")
        if caller.channel and asked.channel and asked.channel != caller.channel:
            raise Refused(403, "forbidden", "a channel promises only to its own customers")
        if asked.destination is None and asked.pickup_store_id is None:
            raise Refused(422, "invalid_request", "give a destination or a pickup_store_id")
        if asked.pickup_store_id and config.location(asked.pickup_store_id) is None:
            raise Refused(422, "invalid_request", f"unknown store {asked.pickup_store_id!r}")
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
        return {
            "channel": channel,
            "options": [
                {
                    "delivery_method": o.delivery_method.value,
                    "service_id": o.service_id,
                    "carrier": o.carrier,
                    "locations": list(o.locations),
                    "parcels": o.parcels,
                    "promised_date": o.promised_date.isoformat() if o.promised_date else None,
                    "ready_by": o.ready_by.isoformat() if o.ready_by else None,
                    "cost": {"amount_minor": o.cost_minor, "currency": o.currency},
                    "explanation": o.explanation,
                }
                for o in options
            ],
        }

    json_endpoint(runtime, "/v1/promise", "POST", keys, answer)
