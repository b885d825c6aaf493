"""The services' HTTP APIs in FastAPI's idiom: errors as RFC 9457 problem details, routes that
read JSON strictly and log each request, and API keys as a security dependency.

Every answer other than success is ``application/problem+json`` with ``type``, ``title``,
``status``, ``detail``, ``instance``, the project's stable ``code`` and, for bad input, the
offending ``errors``. A failure is answered 503 when a dependency is away and 500 otherwise,
logged with the error's type only (messages can quote personal data); bodies and query strings
are never logged.
"""

import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from http import HTTPStatus
from typing import Annotated, Any, ClassVar, TypeVar

import orjson
import structlog
from fastapi import FastAPI, HTTPException, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from oms_events import StrictModel
from oms_runtime._api_keys import authenticate
from oms_runtime._retry import is_infrastructure_error

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "ApiRoute",
    "FieldError",
    "Problem",
    "ProblemDetails",
    "api_key_caller",
    "install_problem_handlers",
    "problem_responses",
]

_log = structlog.get_logger(__name__)
P = TypeVar("P")
PROBLEM_MEDIA_TYPE = "application/problem+json"
_PROBLEM_TYPE = "urn:oms:problem:{code}"
_STATUSES = frozenset(s.value for s in HTTPStatus)
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    500: "internal_error",
    503: "unavailable",
}


class FieldError(StrictModel):
    field: str | None
    """Dotted path of the offending field or parameter (``lines.0.quantity``), or null for the
    whole body."""
    message: str


class ProblemDetails(StrictModel):
    """An RFC 9457 problem: every answer other than success. It may carry extension members
    (the order API's ``order_id``), which a client that does not know them ignores."""

    model_config = ConfigDict(extra="allow")

    type: str
    """``urn:oms:problem:<code>``."""
    title: str
    """The HTTP status's phrase."""
    status: int
    detail: str
    """What went wrong in this occurrence, for people."""
    instance: str
    """This occurrence: ``urn:uuid:<request id>``, the request's ``X-Request-Id``."""
    code: str
    """Stable, for programs: ``unauthorized``, ``invalid_request``, ``unavailable``, ..."""
    errors: tuple[FieldError, ...] = ()
    """For bad input: each offending field or parameter."""


class Problem(HTTPException):
    """An answer other than success: status, stable code, detail, the offending fields, extra
    headers and extension members (``order_id``...)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: Sequence[tuple[str | None, str]] = (),
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(status, detail, dict(headers) if headers else None)
        self.code = code
        self.errors = tuple(FieldError(field=f or None, message=m) for f, m in errors)
        self.extensions = extensions

    def body(self, request_id: uuid.UUID) -> dict[str, Any]:
        """The problem document answering the request ``request_id``."""
        status = self.status_code
        body = ProblemDetails(
            type=_PROBLEM_TYPE.format(code=self.code),
            title=HTTPStatus(status).phrase if status in _STATUSES else "Error",
            status=status,
            detail=str(self.detail),
            instance=f"urn:uuid:{request_id}",
            code=self.code,
            errors=self.errors,
        ).model_dump(mode="json")
        body.update(self.extensions)
        return body


def _request_id(request: Request) -> uuid.UUID:
    found = getattr(request.state, "request_id", None)
    if not isinstance(found, uuid.UUID):
        found = uuid.uuid4()
        request.state.request_id = found
    return found


def _problem_response(request: Request, problem: Problem) -> Response:
    headers = dict(problem.headers or {})
    if problem.status_code == 503:
        headers.setdefault("Retry-After", "1")
    return Response(
        orjson.dumps(problem.body(_request_id(request))),
        status_code=problem.status_code,
        headers=headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def _as_problem(exc: Exception, body_code: str) -> Problem:
    """Any exception as the problem it is answered with."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, StarletteHTTPException):
        code = _CODES.get(exc.status_code, f"http_{exc.status_code}")
        return Problem(exc.status_code, code, str(exc.detail), headers=exc.headers)
    if isinstance(exc, RequestValidationError):
        errors = [
            (".".join(str(p) for p in error["loc"][1:]), str(error["msg"]))
            for error in exc.errors()
        ]
        in_body = any(error["loc"][:1] == ("body",) for error in exc.errors())
        what = "the body" if in_body else "the query"
        return Problem(
            422,
            body_code if in_body else "invalid_query",
            f"{what} is not valid",
            errors=errors,
        )
    if is_infrastructure_error(exc):
        _log.warning("http_dependency_unavailable", error=type(exc).__name__)
        return Problem(503, "unavailable", "the database is unavailable; retry later")
    # Type and SQLSTATE only: messages can quote the data, and data can be personal.
    _log.error(
        "http_request_failed",
        error=type(exc).__name__,
        sqlstate=getattr(exc, "sqlstate", None) or "",
    )
    return Problem(500, "internal_error", "the request failed")


def install_problem_handlers(app: FastAPI) -> None:
    """Answer the app's own refusals (an unknown path, a method not allowed) as problems."""

    async def handle(request: Request, exc: Exception) -> Response:
        return _problem_response(request, _as_problem(exc, "invalid_request"))

    app.add_exception_handler(StarletteHTTPException, handle)
    app.add_exception_handler(RequestValidationError, handle)


def _strict_json(raw: bytes) -> Any:
    """JSON in UTF-8 without NaN or Infinity; ValueError says why, never quoting the body."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the body is not JSON: {exc.msg} at byte {exc.pos}") from None


class _StrictJsonRequest(Request):
    """FastAPI reads a body through ``body()`` and ``json()``: here, never more than the
    route's limit is held in memory, and JSON is read with the route's strict parser."""

    route: "ApiRoute"

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            limit = self.route.max_body_bytes
            too_large = Problem(413, "payload_too_large", f"the body is larger than {limit} bytes")
            declared = self.headers.get("Content-Length", "")
            if declared.isascii() and declared.isdigit() and int(declared) > limit:
                raise too_large
            chunks: list[bytes] = []
            size = 0
            async for chunk in self.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = self.route.parse_json(await self.body())
            except ValueError as exc:
                raise Problem(
                    422, self.route.invalid_body_code, str(exc), errors=[("", str(exc))]
                ) from None
        return self._json


class ApiRoute(APIRoute):
    """A route of a service's API (``APIRouter(route_class=ApiRoute)``).

    Each request gets an id (``X-Request-Id``, the problem's ``instance``), its body is read up
    to :attr:`max_body_bytes` and parsed with :meth:`parse_json` (a subclass may be stricter),
    every exception is answered as a problem, and one ``http_request`` line is logged: method,
    route, status, principal and time, never the body or the query string. A body that cannot
    be read or validated is refused 422 with :attr:`invalid_body_code`.
    """

    invalid_body_code: ClassVar[str] = "invalid_request"
    max_body_bytes: ClassVar[int] = 256 * 1024
    """A larger body is refused 413 (``payload_too_large``) before it is read."""

    @staticmethod
    def parse_json(raw: bytes) -> Any:
        return _strict_json(raw)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(plain: Request) -> Response:
            request = _StrictJsonRequest(plain.scope, plain.receive)
            request.route = self
            request_id = _request_id(request)
            started = time.perf_counter()
            with structlog.contextvars.bound_contextvars(request_id=str(request_id)):
                try:
                    response = await handler(request)
                except Exception as exc:
                    response = _problem_response(request, _as_problem(exc, self.invalid_body_code))
                response.headers["X-Request-Id"] = str(request_id)
                _log.info(
                    "http_request",
                    method=request.method,
                    route=self.path,
                    status=response.status_code,
                    principal=getattr(request.state, "principal", None),
                    ms=round((time.perf_counter() - started) * 1000, 1),
                )
            return response

        return handle


def problem_responses(descriptions: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: each status it may refuse with, as a problem."""
    return {
        status: {"model": ProblemDetails, "description": description}
        for status, description in descriptions.items()
    }


def api_key_caller(
    keys: Mapping[str, P], realm: str, principal_id: Callable[[P], str]
) -> Callable[..., Awaitable[P]]:
    """A security dependency: the principal whose key is sent as ``Authorization: Bearer
    <key>``, else 401. ``keys`` maps the keys' SHA-256 digests to principals;
    ``principal_id`` names one in the request's log line. The scheme (``bearer``) appears in
    the OpenAPI document on every operation that depends on this.
    """
    scheme = HTTPBearer(
        scheme_name="bearer",
        description="A per-caller API key; the service stores only its SHA-256 digest.",
        auto_error=False,
    )

    async def caller(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(scheme)],
    ) -> P:
        key = credentials.credentials if credentials is not None else None
        found = authenticate(key, keys)
        if found is None:
            raise Problem(
                401,
                "unauthorized",
                "send a valid API key as 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": f'Bearer realm="{realm}"'},
            )
        request.state.principal = principal_id(found)
        return found

    return caller
