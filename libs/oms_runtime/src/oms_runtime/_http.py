"""Small JSON HTTP endpoints on a worker's FastAPI app, next to ``/health`` and ``/metrics``.

One place decides what every such endpoint answers besides its own result: 503 while the
service starts or when the database is away, 401 without a valid API key, 4xx with a stable
code when the handler refuses, 500 (logged with the error type only: messages can quote
personal data) when it fails.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson
import structlog
from fastapi import Request, Response

from oms_runtime._api_keys import authenticate
from oms_runtime._retry import is_infrastructure_error
from oms_runtime._service import ServiceRuntime

__all__ = [
    "JSON_MEDIA_TYPE",
    "MAX_JSON_BODY",
    "Refused",
    "json_body",
    "json_endpoint",
    "json_response",
    "read_body",
]

_log = structlog.get_logger(__name__)
P = TypeVar("P")
MAX_JSON_BODY = 256 * 1024
JSON_MEDIA_TYPE = "application/json; charset=utf-8"


class Refused(Exception):
    """An answer other than success: status, a stable code and a message for the caller."""

    def __init__(self, status: int, code: str, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")).encode(),
        status_code=status,
        headers=headers,
        media_type=JSON_MEDIA_TYPE,
    )


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request's body, or None as soon as it (or its declared length) exceeds ``limit``
    bytes: no more than that is ever held in memory."""
    declared = request.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request) -> Any:
    """The request's JSON body, refused with 413 or 422 when it is too large or not JSON."""
    raw = await read_body(request, MAX_JSON_BODY)
    if raw is None:
        raise Refused(413, "too_large", f"bodies are limited to {MAX_JSON_BODY} bytes")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Refused(422, "invalid_json", "the body is not JSON") from None


def json_endpoint(
    runtime: ServiceRuntime,
    path: str,
    method: str,
    keys: Mapping[str, P],
    handle: Callable[[P, Request], Awaitable[Any]],
) -> None:
    """Serve ``handle(caller, request)``'s result as JSON at ``method path``."""

    async def serve(request: Request) -> Response:
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

    runtime.http.add_api_route(path, serve, methods=[method])
