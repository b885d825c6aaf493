"""The availability query: ``GET /v1/availability?sku=A&sku=B``, served by the worker's FastAPI
app next to ``/health`` and ``/metrics``.

A channel sees, per SKU, what it may sell: the available units of the active locations that
serve it and their sum (a location short of stock counts as zero). An operator sees every
location with every bucket. Answers come from the database the projection is built from, so
they are never behind the availability topic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import Request

from oms_inventory.adapters.availability import availability_rows, known_skus
from oms_runtime import Caller, Refused, ServiceRuntime, json_endpoint

__all__ = ["MAX_SKUS", "register_api"]

MAX_SKUS = 100
_SKU = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,100}$")


def _requested_skus(request: Request) -> list[str]:
    skus = list(dict.fromkeys(request.query_params.getlist("sku")))
    if not skus:
        raise Refused(422, "invalid_query", "name at least one SKU: ?sku=A&sku=B")
    if len(skus) > MAX_SKUS:
        raise Refused(422, "invalid_query", f"at most {MAX_SKUS} SKUs per query")
    bad = [s for s in skus if not _SKU.match(s)]
    if bad:
        raise Refused(422, "invalid_query", f"not a SKU: {bad[0][:100]!r}")
    return skus


def _location_view(row: Any, caller: Caller) -> dict[str, Any]:
    view: dict[str, Any] = {
        "location_id": row["location_id"],
        "location_type": row["location_type"],
        "available": max(row["available"], 0) if caller.channel else row["available"],
    }
    if caller.channel is None:
        for bucket in ("on_hand", "reserved", "safety_stock", "in_transit", "quarantined"):
            view[bucket] = row[bucket]
    return view


async def _availability(runtime: ServiceRuntime, caller: Caller, request: Request) -> Any:
    skus = _requested_skus(request)
    async with runtime.unit_of_work() as work:
        known = await known_skus(work.conn, skus)
        rows = await availability_rows(work.conn, [s for s in skus if s in known], caller.channel)
    by_sku: dict[str, list[Any]] = {}
    for row in rows:
        by_sku.setdefault(row["sku"], []).append(row)
    return {
        "channel": caller.channel,
        "items": [
            {
                "sku": sku,
                "available": sum(max(r["available"], 0) for r in by_sku.get(sku, [])),
                "locations": [_location_view(r, caller) for r in by_sku.get(sku, [])],
            }
            for sku in skus
            if sku in known
        ],
        "unknown_skus": [sku for sku in skus if sku not in known],
    }


def register_api(runtime: ServiceRuntime, keys: Mapping[str, Caller]) -> None:
    async def availability(caller: Caller, request: Request) -> Any:
        return await _availability(runtime, caller, request)

    json_endpoint(runtime, "/v1/availability", "GET", keys, availability)
