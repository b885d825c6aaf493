"""The availability query: ``GET /v1/availability?sku=A&sku=B``, served by the worker's web
server next to ``/health`` and ``/metrics``.

A channel sees, per SKU, what it may sell: the available units of the active locations that
serve it and their sum (a location short of stock counts as zero). An operator sees every
location with every bucket. Answers come from the database the projection is built from, so
they are never behind the availability topic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, cast

import structlog
from aiohttp import web
from faust.web import Request, Response, View

from oms_inventory.api_keys import Caller
from oms_inventory.store.availability import availability_rows, known_skus
from oms_runtime import ServiceRuntime
from oms_runtime.api_keys import authenticate
from oms_runtime.consumer import is_infrastructure_error

__all__ = ["MAX_SKUS", "register_api"]

_log = structlog.get_logger(__name__)
MAX_SKUS = 100
_SKU = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,100}$")


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _requested_skus(request: web.Request) -> list[str]:
    skus = list(dict.fromkeys(request.query.getall("sku", [])))
    if not skus:
        raise _Refused(422, "invalid_query", "name at least one SKU: ?sku=A&sku=B")
    if len(skus) > MAX_SKUS:
        raise _Refused(422, "invalid_query", f"at most {MAX_SKUS} SKUs per query")
    bad = [s for s in skus if not _SKU.match(s)]
    if bad:
        raise _Refused(422, "invalid_query", f"not a SKU: {bad[0][:100]!r}")
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


async def _availability(runtime: ServiceRuntime, caller: Caller, request: web.Request) -> Any:
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
    async def serve(request: web.Request) -> web.Response:
        try:
            if not runtime.ready:
                raise _Refused(503, "unavailable", "starting; retry later", **{"Retry-After": "1"})
            caller = authenticate(request.headers.get("Authorization"), keys)
            if caller is None:
                raise _Refused(
                    401,
                    "unauthorized",
                    "send a valid API key as 'Authorization: Bearer <key>'",
                    **{"WWW-Authenticate": 'Bearer realm="oms-inventory"'},
                )
            return _json(200, await _availability(runtime, caller, request))
        except _Refused as refused:
            return _json(
                refused.status,
                _error(refused.code, refused.message),
                refused.headers,
            )
        except Exception as exc:
            if is_infrastructure_error(exc):
                return _json(503, _error("unavailable", "the database is unavailable"))
            _log.error("http_request_failed", error=type(exc).__name__)
            return _json(500, _error("internal_error", "the request failed"))

    class Availability(View):
        async def get(self, request: Request, **_: Any) -> Response:
            return cast(Response, await serve(cast(web.Request, request)))

    runtime.app.page("/v1/availability")(Availability)
