"""The order service's HTTP API: order capture for sales channels and customer-service
commands, served by the worker's own FastAPI app next to ``/health`` and ``/metrics``.

Every change goes through :class:`~oms_order.service_layer.actions.OrderActions` inside the
runtime's unit of work, exactly as the intake and command topics do: one code path, one
transaction with the outbox, the request's id as the cause in the timeline. Bad input is
answered 4xx with a stable code and the offending fields, never 5xx; bodies and query strings
are never logged.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from fastapi import Request, Response
from pydantic import BaseModel, ValidationError

from oms_events.orders import OrderSubmitted
from oms_events.values import Actor
from oms_order.adapters import api_queries as store
from oms_order.adapters.payments import ProviderUnavailable
from oms_order.domain.identity import order_id_for
from oms_order.domain.order import Order, TransitionRefused
from oms_order.entrypoints.api_auth import ApiKeys, Principal, authenticate
from oms_order.entrypoints.api_body import (
    MAX_BODY_BYTES,
    BodyError,
    field_errors,
    is_storable_text,
    parse_json,
    request_fingerprint,
    unstorable_values,
    valid_idempotency_key,
)
from oms_order.entrypoints.api_models import (
    AddressChangeRequest,
    CancelRequest,
    ErrorBody,
    ErrorDetail,
    ErrorInfo,
    HoldRequest,
    OrderLineView,
    OrderList,
    OrderView,
    ReleaseRequest,
    SubmitResponse,
    TimelineEntry,
)
from oms_order.entrypoints.api_openapi import render_openapi
from oms_order.service_layer.actions import (
    OrderActions,
    OrderNotFound,
    unreadable_order_identity,
    unreadable_order_reasons,
)
from oms_order.service_layer.timeline import flush_timeline
from oms_runtime import (
    JSON_MEDIA_TYPE,
    ServiceRuntime,
    UnitOfWork,
    is_infrastructure_error,
    read_body,
)

__all__ = ["OrderApi", "register_api"]

_log = structlog.get_logger(__name__)
_M = TypeVar("_M", bound=BaseModel)
_DEFAULT_PAGE = 20
_MAX_PAGE = 100


class HttpError(Exception):
    """An answer other than success, with the error body's code, message and details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[tuple[str | None, str]] | None = None,
        order_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.order_id = order_id
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return ErrorBody(
            error=ErrorInfo(
                code=self.code,
                message=self.message,
                details=[ErrorDetail(field=f, message=m) for f, m in self.details],
                order_id=self.order_id,
            )
        ).model_dump(mode="json")


def _json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        status_code=status,
        headers=headers,
        media_type=JSON_MEDIA_TYPE,
    )


def _clean_identifier(value: str | None) -> bool:
    return value is not None and 0 < len(value) <= 200 and is_storable_text(value)


def _invalid(code: str, message: str, errors: list[tuple[str, str]]) -> HttpError:
    return HttpError(422, code, message, details=[(f or None, m) for f, m in errors])


@dataclass
class _Call:
    """One request: its id (the cause of whatever it changes) and who made it."""

    request: Request
    request_id: uuid.UUID = field(default_factory=uuid.uuid4)
    principal: Principal | None = None


@dataclass
class OrderApi:
    runtime: ServiceRuntime
    actions: OrderActions
    keys: ApiKeys
    openapi: bytes = field(default_factory=lambda: render_openapi().encode())

    # -- plumbing --------------------------------------------------------------------------

    async def serve(
        self,
        route: str,
        request: Request,
        handler: Callable[[_Call], Awaitable[Response]],
    ) -> Response:
        """Run a handler; map refusals to 4xx and outages to 503, log the outcome."""
        call = _Call(request)
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=str(call.request_id)):
            try:
                response = await handler(call)
            except HttpError as error:
                response = _json_response(error.status, error.body(), error.headers)
            except ProviderUnavailable:
                response = self._unavailable("the payment provider is unavailable")
            except Exception as exc:
                if not is_infrastructure_error(exc):
                    # Type and SQLSTATE only: messages can quote the data, and data can be
                    # personal.
                    _log.error(
                        "http_request_failed",
                        route=route,
                        error=type(exc).__name__,
                        sqlstate=getattr(exc, "sqlstate", None) or "",
                    )
                    response = _json_response(
                        500,
                        HttpError(500, "internal_error", "the request failed").body(),
                    )
                else:
                    _log.warning("http_dependency_unavailable", error=type(exc).__name__)
                    response = self._unavailable("the database is unavailable")
            response.headers["X-Request-Id"] = str(call.request_id)
            _log.info(
                "http_request",
                method=request.method,
                route=route,
                status=response.status_code,
                principal=call.principal.actor_id if call.principal else None,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )
        return response

    @staticmethod
    def _unavailable(message: str) -> Response:
        error = HttpError(503, "unavailable", f"{message}; retry later")
        return _json_response(503, error.body(), {"Retry-After": "1"})

    def _authenticate(self, call: _Call) -> Principal:
        principal = authenticate(call.request.headers.get("Authorization"), self.keys)
        if principal is None:
            raise HttpError(
                401,
                "unauthorized",
                "send a valid API key as 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": 'Bearer realm="oms-order"'},
            )
        call.principal = principal
        return principal

    @staticmethod
    def _customer_service(principal: Principal) -> None:
        if not principal.is_customer_service:
            raise HttpError(403, "forbidden", "only customer service may do this")

    @staticmethod
    async def _read_body(request: Request) -> bytes:
        raw = await read_body(request, MAX_BODY_BYTES)
        if raw is None:
            raise HttpError(
                413, "payload_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes"
            )
        return raw

    async def _command_body(
        self, request: Request, model: type[_M], *, empty_ok: bool = False
    ) -> _M:
        raw = await self._read_body(request)
        if empty_ok and not raw.strip():
            return model.model_validate({})
        try:
            document = parse_json(raw)
        except BodyError as exc:
            raise _invalid("invalid_request", str(exc), [("", str(exc))]) from None
        if not isinstance(document, dict):
            raise _invalid("invalid_request", "the body must be a JSON object", [])
        problems = unstorable_values(document)
        if problems:
            raise _invalid("invalid_request", "the body holds values no order can keep", problems)
        try:
            return model.model_validate(document)
        except ValidationError as exc:
            raise _invalid(
                "invalid_request", f"the body is not a valid {model.__name__}", field_errors(exc)
            ) from None

    def _unit_of_work(self, call: _Call) -> Any:
        if not self.runtime.ready:  # the web server answers before the database is ready
            raise HttpError(503, "unavailable", "the service is starting; retry later")
        correlation = call.request.headers.get("X-Correlation-Id")
        if not (correlation and _clean_identifier(correlation)):
            correlation = str(call.request_id)
        return self.runtime.unit_of_work(correlation_id=correlation, cause=call.request_id)

    # -- capture ---------------------------------------------------------------------------

    async def submit(self, call: _Call) -> Response:
        principal = self._authenticate(call)
        if principal.channel is None:
            raise HttpError(403, "forbidden", "only a sales channel submits orders")
        channel = principal.channel
        key = call.request.headers.get("Idempotency-Key")
        if key is None:
            raise HttpError(400, "idempotency_key_required", "send an Idempotency-Key header")
        if not valid_idempotency_key(key):
            raise HttpError(
                400,
                "invalid_idempotency_key",
                "the Idempotency-Key must be 1-200 printable ASCII characters",
            )
        raw = await self._read_body(call.request)
        try:
            document = parse_json(raw)
        except BodyError as exc:
            raise _invalid("invalid_order", str(exc), [("", str(exc))]) from None
        if not isinstance(document, dict):
            raise _invalid("invalid_order", "the body must be a JSON object (OrderSubmitted)", [])
        named = document.get("channel")
        if isinstance(named, str) and named != channel:
            raise HttpError(
                403, "channel_mismatch", "the order's channel is not the API key's channel"
            )

        errors = unstorable_values(document)
        order: OrderSubmitted | None = None
        if not errors:
            try:
                order = OrderSubmitted.model_validate(document)
            except ValidationError as exc:
                errors = field_errors(exc)
        identity = unreadable_order_identity(document) if order is None else None
        if order is None and identity is None:
            raise _invalid("invalid_order", "the body is not a valid OrderSubmitted", errors)

        fingerprint = request_fingerprint(document)
        async with self._unit_of_work(call) as uow:
            await store.lock_idempotency_key(uow.conn, channel, key)
            stored = await store.find_response(uow.conn, channel, key)
            if stored is not None:
                if stored.request_hash != fingerprint:
                    raise HttpError(
                        422,
                        "idempotency_key_reused",
                        "this Idempotency-Key was used for a different request body",
                    )
                return _json_response(
                    stored.status_code, stored.body, {"Idempotent-Replayed": "true"}
                )
            if order is not None:
                status, body, order_id = await self._submit(uow, order)
            else:
                assert identity is not None
                status, body, order_id = await self._reject(uow, identity, errors)
            await store.save_response(
                uow.conn,
                channel=channel,
                key=key,
                request_hash=fingerprint,
                status_code=status,
                body=body,
                order_id=order_id,
            )
        return _json_response(status, body)

    async def _submit(
        self, work: UnitOfWork, order: OrderSubmitted
    ) -> tuple[int, dict[str, Any], str]:
        result = await self.actions.submit(work, order)
        await flush_timeline(work)
        outcome = await store.order_outcome(work.conn, result.order_id)
        status, reasons = outcome if outcome else (result.status, [])
        body = SubmitResponse.model_validate(
            {
                "order_id": result.order_id,
                "status": status,
                "created": result.created,
                "reasons": reasons,
            }
        ).model_dump(mode="json")
        return (201 if result.created else 200), body, result.order_id

    async def _reject(
        self, work: UnitOfWork, identity: tuple[str, str], errors: list[tuple[str, str]]
    ) -> tuple[int, dict[str, Any], str]:
        """Kept as REJECTED, as the intake topic keeps an order it cannot read."""
        reasons = unreadable_order_reasons(errors, "the body is not a valid OrderSubmitted")
        order_id = await self.actions.reject_unreadable(work, *identity, reasons)
        await flush_timeline(work)
        error = _invalid(
            "invalid_order",
            "the body is not a valid OrderSubmitted; the order is kept as REJECTED",
            errors,
        )
        error.order_id = order_id
        return 422, error.body(), order_id

    # -- look-ups --------------------------------------------------------------------------

    async def get_order(self, call: _Call) -> Response:
        principal = self._authenticate(call)
        order_id = call.request.path_params.get("order_id")
        async with self._unit_of_work(call) as uow:
            view = await self._view(uow.conn, principal, order_id)
        return _json_response(200, view.model_dump(mode="json"))

    async def find_orders(self, call: _Call) -> Response:
        principal = self._authenticate(call)
        channel, external = _query(call, "channel"), _query(call, "external_order_id")
        email = _query(call, "customer_email")
        limit = self._limit(_query(call, "limit"))
        cursor = _query(call, "cursor")
        if cursor is not None and not _clean_identifier(cursor):
            raise _invalid("invalid_query", "cursor is not one this API gave", [("cursor", "")])
        if email is not None:
            if channel is not None or external is not None:
                raise _invalid(
                    "invalid_query",
                    "look up by customer_email or by channel and external_order_id, not both",
                    [],
                )
            self._customer_service(principal)
            if not (0 < len(email) <= 320 and is_storable_text(email)):
                raise _invalid(
                    "invalid_query",
                    "customer_email must be 1-320 characters",
                    [("customer_email", "invalid")],
                )
            async with self._unit_of_work(call) as uow:
                ids = await store.order_ids_by_email(uow.conn, email, after=cursor, limit=limit + 1)
                found = await store.orders_by_id(uow.conn, ids[:limit])
            next_cursor = ids[limit - 1] if len(ids) > limit else None
        elif channel is not None and external is not None:
            for name, value in (("channel", channel), ("external_order_id", external)):
                if not _clean_identifier(value):
                    raise _invalid(
                        "invalid_query", f"{name} must be 1-200 characters", [(name, "invalid")]
                    )
            if not principal.may_see(channel):
                raise HttpError(403, "forbidden", "a channel may only look up its own orders")
            async with self._unit_of_work(call) as uow:
                found = await store.orders_by_id(uow.conn, [order_id_for(channel, external)])
            next_cursor = None
        else:
            raise _invalid(
                "invalid_query",
                "give channel and external_order_id, or customer_email",
                [],
            )
        views = [_order_view(o) for o in found]
        body = OrderList(orders=views, next_cursor=next_cursor).model_dump(mode="json")
        return _json_response(200, body)

    @staticmethod
    def _limit(value: str | None) -> int:
        if value is None:
            return _DEFAULT_PAGE
        if not (value.isascii() and value.isdigit() and 1 <= int(value) <= _MAX_PAGE):
            raise _invalid(
                "invalid_query",
                f"limit must be an integer from 1 to {_MAX_PAGE}",
                [("limit", "invalid")],
            )
        return int(value)

    async def _view(self, conn: Any, principal: Principal, order_id: str | None) -> OrderView:
        """The order if the principal may see it; 404 otherwise (existence is not revealed)."""
        if _clean_identifier(order_id):
            assert order_id is not None
            found = await store.orders_by_id(conn, [order_id])
            if found and principal.may_see(found[0].order["channel"]):
                return _order_view(found[0])
        raise HttpError(404, "order_not_found", "no such order")

    # -- customer service ------------------------------------------------------------------

    async def cancel(self, call: _Call) -> Response:
        principal = self._authenticate(call)
        body = await self._command_body(call.request, CancelRequest)
        return await self._command(
            call,
            "CancelOrder",
            lambda work, order_id: self.actions.cancel(
                work, order_id, lines=body.lines, reason=body.reason, actor=principal.actor
            ),
        )

    async def hold(self, call: _Call) -> Response:
        self._customer_service(self._authenticate(call))
        body = await self._command_body(call.request, HoldRequest)
        return await self._command(
            call,
            "HoldOrder",
            lambda work, order_id: self.actions.hold(
                work, order_id, reason=body.reason, note=body.note, actor=_actor(call)
            ),
        )

    async def release(self, call: _Call) -> Response:
        self._customer_service(self._authenticate(call))
        body = await self._command_body(call.request, ReleaseRequest, empty_ok=True)
        return await self._command(
            call,
            "ReleaseOrder",
            lambda work, order_id: self.actions.release(
                work, order_id, note=body.note, actor=_actor(call)
            ),
        )

    async def change_address(self, call: _Call) -> Response:
        self._customer_service(self._authenticate(call))
        body = await self._command_body(call.request, AddressChangeRequest)
        return await self._command(
            call,
            "ChangeShippingAddress",
            lambda work, order_id: self.actions.change_shipping_address(
                work, order_id, address=body.address, actor=_actor(call)
            ),
        )

    async def _command(
        self,
        call: _Call,
        command_type: str,
        action: Callable[[UnitOfWork, str], Awaitable[Order]],
    ) -> Response:
        """Run one action on one order; a refusal changes nothing, is kept in the timeline
        (as on the command topic) and is answered 409."""
        assert call.principal is not None
        principal = call.principal
        order_id = call.request.path_params.get("order_id")
        refusal: TransitionRefused | None = None
        async with self._unit_of_work(call) as uow:
            await self._view(uow.conn, principal, order_id)  # 404 unless it may see the order
            assert order_id is not None
            with structlog.contextvars.bound_contextvars(order_id=order_id):
                try:
                    await action(uow, order_id)
                except OrderNotFound:
                    raise HttpError(404, "order_not_found", "no such order") from None
                except TransitionRefused as refused:
                    refusal = refused
                    await self.actions.refused(
                        uow,
                        refused,
                        order_id=order_id,
                        command_type=command_type,
                        command_id=str(call.request_id),
                        actor=principal.actor,
                    )
            await flush_timeline(uow)
            view = await self._view(uow.conn, principal, order_id)
        if refusal is not None:
            raise HttpError(409, refusal.code, refusal.message, order_id=order_id)
        return _json_response(200, view.model_dump(mode="json"))

    async def openapi_json(self, call: _Call) -> Response:
        return Response(self.openapi, media_type=JSON_MEDIA_TYPE)


def _query(call: _Call, name: str) -> str | None:
    """A query parameter's first value (a repeated parameter's later values are ignored)."""
    values = call.request.query_params.getlist(name)
    return values[0] if values else None


def _actor(call: _Call) -> Actor:
    assert call.principal is not None
    return call.principal.actor


def _order_view(stored: store.StoredOrder) -> OrderView:
    order = stored.order
    return OrderView(
        order_id=order["order_id"],
        channel=order["channel"],
        external_order_id=order["external_order_id"],
        status=order["status"],
        payment_status=order["payment_status"],
        on_hold=order["on_hold"],
        hold_reason=order["hold_reason"],
        delivery_method=order["delivery_method"],
        currency=order["currency"],
        grand_total_minor=order["grand_total_minor"],
        placed_at=order["placed_at"],
        created_at=order["created_at"],
        updated_at=order["updated_at"],
        lines=[OrderLineView.model_validate(line) for line in stored.lines],
        shipping_address=order["shipping_address"],
        rejection_reasons=order["rejection_reasons"] or [],
        timeline=[TimelineEntry.model_validate(entry) for entry in stored.timeline],
    )


# -- registration ----------------------------------------------------------------------------

_Handler = Callable[[OrderApi, _Call], Awaitable[Response]]

_ROUTES: tuple[tuple[str, str, _Handler], ...] = (
    ("POST", "/v1/orders", OrderApi.submit),
    ("GET", "/v1/orders", OrderApi.find_orders),
    ("GET", "/v1/orders/{order_id}", OrderApi.get_order),
    ("POST", "/v1/orders/{order_id}/cancel", OrderApi.cancel),
    ("POST", "/v1/orders/{order_id}/hold", OrderApi.hold),
    ("POST", "/v1/orders/{order_id}/release", OrderApi.release),
    ("PUT", "/v1/orders/{order_id}/shipping-address", OrderApi.change_address),
    ("GET", "/openapi.json", OrderApi.openapi_json),
)


def _endpoint(
    api: OrderApi, route: str, handler: _Handler
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await api.serve(route, request, lambda call: handler(api, call))

    return endpoint


def register_api(runtime: ServiceRuntime, actions: OrderActions, keys: ApiKeys) -> OrderApi:
    """Add the API's routes to the runtime's FastAPI app."""
    api = OrderApi(runtime=runtime, actions=actions, keys=keys)
    for method, route, handler in _ROUTES:
        runtime.http.add_api_route(route, _endpoint(api, route, handler), methods=[method])
    return api
