"""Small JSON HTTP endpoints on a worker's web server, next to ``/health`` and ``/metrics``.

One place decides what every such endpoint answers besides its own result: 503 while the
service starts or when the database is away, 401 without a valid API key, 4xx with a stable
code when the handler refuses, 500 (logged with the error type only: messages can quote
personal data) when it fails.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, cast

import structlog
from aiohttp import web
from faust.web import Request, Response, View

from oms_runtime.api_keys import authenticate
from oms_runtime.consumer import is_infrastructure_error
from oms_runtime.service import ServiceRuntime

__all__ = ["MAX_JSON_BODY", "Refused", "json_body", "json_endpoint", "json_response"]

_log = structlog.get_logger(__name__)
P = TypeVar("P")
MAX_JSON_BODY = 256 * 1024


class Refused(Exception):
    """An answer other than success: status, a stable code and a message for the caller."""

    def __init__(self, status: int, code: str, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


async def json_body(request: web.Request) -> Any:
    """The request's JSON body, refused with 413 or 422 when it is too large or not JSON."""
    if request.content_length is not None and request.content_length > MAX_JSON_BODY:
        raise Refused(413, "too_large", f"bodies are limited to {MAX_JSON_BODY} bytes")
    raw = await request.content.read(MAX_JSON_BODY + 1)
    if len(raw) > MAX_JSON_BODY:
        raise Refused(413, "too_large", f"bodies are limited to {MAX_JSON_BODY} bytes")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise Refused(422, "invalid_json", "the body is not JSON") from None


def json_endpoint(
    runtime: ServiceRuntime,
    path: str,
    method: str,
    keys: Mapping[str, P],
    handle: Callable[[P, web.Request], Awaitable[Any]],
) -> None:
    """Serve ``handle(caller, request)``'s result as JSON at ``method path``."""

    async def serve(request: web.Request) -> web.Response:
        try:
            if not runtime.ready:
                raise Refused(503, "unavailable", "starting; retry later", **{"Retry-After": "1"})
            caller = authenticate(request.headers.get("Authorization"), keys)
            if caller is None:
                raise Refused(
                    401,
                    "unauthorized",
                    "send a valid API key as 'Authorization: Bearer <key>'",
                    **{"WWW-Authenticate": f'Bearer realm="oms-{runtime.name}"'},
                )
            return json_response(200, await handle(caller, request))
        except Refused as refused:
            return json_response(
                refused.status, _error(refused.code, refused.message), refused.headers
            )
        except Exception as exc:
            if is_infrastructure_error(exc):
                return json_response(503, _error("unavailable", "the database is unavailable"))
            _log.error("http_request_failed", path=path, error=type(exc).__name__)
            return json_response(500, _error("internal_error", "the request failed"))

    async def endpoint(self: View, request: Request, **_: Any) -> Response:
        return cast(Response, await serve(cast(web.Request, request)))

    name = "Endpoint" + "".join(part.title() for part in path.replace("-", "/").split("/"))
    view = type(name, (View,), {method.lower(): endpoint})
    runtime.app.page(path)(view)
