"""The order service's HTTP API: order capture for sales channels and customer-service
commands, served by the worker's own FastAPI app next to ``/health`` and ``/metrics``.

Every change goes through :class:`~oms_order.service_layer.actions.OrderActions` inside the
runtime's unit of work, exactly as the intake and command topics do: one code path, one
transaction with the outbox, the request's id as the cause in the timeline. Bad input is
answered 4xx as a problem (RFC 9457) with a stable code and the offending fields, never 5xx;
bodies and query strings are never logged.
"""

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
import structlog
from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response, Security
from pydantic import SkipValidation, ValidationError

from oms_events.orders import (
    CancelOrder,
    ChangeShippingAddress,
    HoldOrder,
    OrderCommandRejected,
    OrderSubmitted,
    ReleaseOrder,
)
from oms_events.registry import EventPayload
from oms_events.returns import (
    InspectedUnits,
    InspectReturn,
    ReceiveReturn,
    RequestReturn,
    ReturnedUnits,
    UnitsArrived,
)
from oms_events.values import Actor
from oms_order.adapters import api_queries as store
from oms_order.adapters import returns as return_queries
from oms_order.adapters.payments import ProviderUnavailable
from oms_order.domain.identity import order_id_for
from oms_order.domain.returns import Return
from oms_order.entrypoints.api_auth import ApiKeys, Principal
from oms_order.entrypoints.api_body import (
    MAX_BODY_BYTES,
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
    HoldRequest,
    InspectionRequest,
    OrderLineView,
    OrderList,
    OrderView,
    ReceiptRequest,
    RejectedOrderProblem,
    ReleaseRequest,
    ReturnList,
    ReturnRequest,
    ReturnView,
    ShipmentView,
    SubmitResponse,
    TimelineEntry,
)
from oms_order.service_layer.actions import (
    actor_label,
    unreadable_order_identity,
    unreadable_order_reasons,
)
from oms_order.service_layer.commands import OrderCommand, OrderCommands
from oms_order.service_layer.returns import return_id_for
from oms_order.service_layer.timeline import flush_timeline
from oms_runtime import (
    PROBLEM_MEDIA_TYPE,
    ApiRoute,
    Problem,
    ServiceRuntime,
    UnitOfWork,
    api_key_caller,
    problem_responses,
)

__all__ = ["OrderApi", "register_api"]

_DEFAULT_PAGE = 20
_MAX_PAGE = 100
_Identifier = Annotated[str, Query(min_length=1, max_length=200)]

_ERRORS = {
    400: "The request is incomplete: `idempotency_key_required` or `invalid_idempotency_key`.",
    401: "No API key, or an unknown one (`unauthorized`).",
    403: "The key's principal may not do this (`forbidden`, `channel_mismatch`).",
    404: "No such order, or not one of the calling channel's (`order_not_found`); no such"
    " return (`return_not_found`).",
    409: "The order's state refuses the command; nothing changed and the refusal is in the"
    " timeline. `code` is the refusal's (`not_on_hold`, `not_cancelable`, `order_released`,"
    " `return_window_closed`, `quantity_not_returnable`, ...).",
    413: f"The body is larger than {MAX_BODY_BYTES} bytes (`payload_too_large`).",
    422: "The body or query cannot be read (`invalid_order`, `invalid_request`,"
    " `invalid_query`, `idempotency_key_reused`); `errors` names each field.",
    503: "A dependency (database, payment provider) is unavailable, or the service is starting;"
    " retry later (`unavailable`).",
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return problem_responses({status: _ERRORS[status] for status in statuses})


class _IntakeRoute(ApiRoute):
    """Orders: strict JSON (no NaN, UTF-8 only, nothing after the value), refused as
    ``invalid_order``; values no column can keep are the handler's (the order is kept)."""

    invalid_body_code = "invalid_order"
    max_body_bytes = MAX_BODY_BYTES

    @staticmethod
    def parse_json(raw: bytes) -> Any:
        return parse_json(raw)


class _CommandRoute(ApiRoute):
    """Commands: strict JSON holding only values the store can keep."""

    max_body_bytes = MAX_BODY_BYTES

    @staticmethod
    def parse_json(raw: bytes) -> Any:
        document = parse_json(raw)
        problems = unstorable_values(document)
        if problems:
            raise Problem(
                422, "invalid_request", "the body holds values no order can keep", errors=problems
            )
        return document


def _checked_key(key: str | None) -> str:
    if key is None:
        raise Problem(400, "idempotency_key_required", "send an Idempotency-Key header")
    if not valid_idempotency_key(key):
        raise Problem(
            400,
            "invalid_idempotency_key",
            "the Idempotency-Key must be 1-200 printable ASCII characters",
        )
    return key


def _clean_identifier(value: str | None) -> bool:
    return value is not None and 0 < len(value) <= 200 and is_storable_text(value)


def _invalid(code: str, message: str, errors: list[tuple[str, str]]) -> Problem:
    return Problem(422, code, message, errors=errors)


@contextlib.contextmanager
def _payments_available() -> Iterator[None]:
    try:
        yield
    except ProviderUnavailable:
        raise Problem(
            503, "unavailable", "the payment provider is unavailable; retry later"
        ) from None


@dataclass
class _Call:
    """One request: its id (the cause of whatever it changes), its correlation id and who
    made it."""

    principal: Principal
    request_id: uuid.UUID
    correlation_id: str


@dataclass
class OrderApi:
    runtime: ServiceRuntime
    commands: OrderCommands

    def _unit_of_work(self, call: _Call) -> Any:
        return self.runtime.unit_of_work(correlation_id=call.correlation_id, cause=call.request_id)

    # -- capture ---------------------------------------------------------------------------

    async def submit(self, call: _Call, key: str | None, document: Any) -> Response:
        principal = call.principal
        if principal.channel is None:
            raise Problem(403, "forbidden", "only a sales channel submits orders")
        channel = principal.channel
        key = _checked_key(key)
        if not isinstance(document, dict):
            raise Problem(
                422,
                "invalid_order",
                "the body must be a JSON object (OrderSubmitted)",
                order_id=None,
            )
        named = document.get("channel")
        if isinstance(named, str) and named != channel:
            raise Problem(
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
            raise Problem(
                422,
                "invalid_order",
                "the body is not a valid OrderSubmitted",
                errors=errors,
                order_id=None,
            )

        async def run(uow: UnitOfWork) -> tuple[int, dict[str, Any], str]:
            if order is not None:
                with _payments_available():
                    return await self._submit(uow, order)
            assert identity is not None
            return await self._reject(call, uow, identity, errors)

        return await self._once(call, channel, key, document, run)

    async def _once(
        self,
        call: _Call,
        scope: str,
        key: str,
        document: Any,
        run: Callable[[UnitOfWork], Awaitable[tuple[int, dict[str, Any], str | None]]],
    ) -> Response:
        """Run a request once per (``scope``, Idempotency-Key): a retry with the same body
        gets the first answer again, with a different body a 422."""
        fingerprint = request_fingerprint(document)
        async with self._unit_of_work(call) as uow:
            await store.lock_idempotency_key(uow.conn, scope, key)
            stored = await store.find_response(uow.conn, scope, key)
            if stored is not None:
                if stored.request_hash != fingerprint:
                    raise Problem(
                        422,
                        "idempotency_key_reused",
                        "this Idempotency-Key was used for a different request body",
                    )
                return _json_response(
                    stored.status_code, stored.body, {"Idempotent-Replayed": "true"}
                )
            status, body, order_id = await run(uow)
            await store.save_response(
                uow.conn,
                channel=scope,
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
        _published(work, order, key=f"{order.channel}:{order.external_order_id}")
        result = await self.commands.actions.submit(work, order)
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
        self,
        call: _Call,
        work: UnitOfWork,
        identity: tuple[str, str],
        errors: list[tuple[str, str]],
    ) -> tuple[int, dict[str, Any], str]:
        """Kept as REJECTED, as the intake topic keeps an order it cannot read."""
        reasons = unreadable_order_reasons(errors, "the body is not a valid OrderSubmitted")
        order_id = await self.commands.actions.reject_unreadable(work, *identity, reasons)
        await flush_timeline(work)
        problem = Problem(
            422,
            "invalid_order",
            "the body is not a valid OrderSubmitted; the order is kept as REJECTED",
            errors=errors,
            order_id=order_id,
        )
        return 422, problem.body(call.request_id), order_id

    # -- look-ups --------------------------------------------------------------------------

    async def get_order(self, call: _Call, order_id: str) -> OrderView:
        async with self._unit_of_work(call) as uow:
            return await self._view(uow.conn, call.principal, order_id)

    async def find_orders(
        self,
        call: _Call,
        channel: str | None,
        external: str | None,
        email: str | None,
        limit: int,
        cursor: str | None,
    ) -> OrderList:
        principal = call.principal
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
            if not is_storable_text(email):
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
                raise Problem(403, "forbidden", "a channel may only look up its own orders")
            async with self._unit_of_work(call) as uow:
                found = await store.orders_by_id(uow.conn, [order_id_for(channel, external)])
            next_cursor = None
        else:
            raise _invalid(
                "invalid_query",
                "give channel and external_order_id, or customer_email",
                [],
            )
        return OrderList(orders=[_order_view(o) for o in found], next_cursor=next_cursor)

    async def _view(self, conn: Any, principal: Principal, order_id: str) -> OrderView:
        """The order if the principal may see it; 404 otherwise (existence is not revealed)."""
        if _clean_identifier(order_id):
            found = await store.orders_by_id(conn, [order_id])
            if found and principal.may_see(found[0].order["channel"]):
                return _order_view(found[0])
        raise Problem(404, "order_not_found", "no such order")

    # -- customer service ------------------------------------------------------------------

    @staticmethod
    def _customer_service(principal: Principal) -> None:
        if not principal.is_customer_service:
            raise Problem(403, "forbidden", "only customer service may do this")

    async def cancel(self, call: _Call, order_id: str, body: CancelRequest) -> OrderView:
        return await self._command(
            call,
            order_id,
            lambda: CancelOrder(
                order_id=order_id,
                lines=body.lines,
                reason=body.reason,
                requested_by=call.principal.actor,
            ),
        )

    async def hold(self, call: _Call, order_id: str, body: HoldRequest) -> OrderView:
        self._customer_service(call.principal)
        return await self._command(
            call,
            order_id,
            lambda: HoldOrder(
                order_id=order_id,
                reason=body.reason,
                note=body.note,
                requested_by=call.principal.actor,
            ),
        )

    async def release(self, call: _Call, order_id: str, body: ReleaseRequest) -> OrderView:
        self._customer_service(call.principal)
        return await self._command(
            call,
            order_id,
            lambda: ReleaseOrder(
                order_id=order_id, note=body.note, requested_by=call.principal.actor
            ),
        )

    async def change_address(
        self, call: _Call, order_id: str, body: AddressChangeRequest
    ) -> OrderView:
        self._customer_service(call.principal)
        return await self._command(
            call,
            order_id,
            lambda: ChangeShippingAddress(
                order_id=order_id, address=body.address, requested_by=call.principal.actor
            ),
        )

    async def _command(
        self, call: _Call, order_id: str, command: Callable[[], OrderCommand]
    ) -> OrderView:
        """Apply one command to one order the caller may see (404 otherwise: the command is
        made once the order id is known good), published to ``oms.order-commands`` under
        the request's id; a refusal changes nothing, is kept in the timeline (as on the
        command topic) and is answered 409."""
        principal = call.principal
        async with self._unit_of_work(call) as uow:
            await self._view(uow.conn, principal, order_id)
            with structlog.contextvars.bound_contextvars(order_id=order_id), _payments_available():
                refusal = await self._apply(uow, command())
            await flush_timeline(uow)
            view = await self._view(uow.conn, principal, order_id)
        if refusal is not None:
            raise Problem(409, refusal.code, refusal.message, order_id=order_id)
        return view

    async def _apply(self, work: UnitOfWork, command: OrderCommand) -> OrderCommandRejected | None:
        """The command published under the request's id, then applied at its time."""
        _published(work, command)
        return await self.commands.apply(work, command)

    # -- returns ---------------------------------------------------------------------------

    async def request_return(
        self, call: _Call, key: str | None, order_id: str, body: ReturnRequest
    ) -> Response:
        """Customer service for any order, a channel for its own, staff for any order
        brought to their location (omnichannel returns)."""
        principal = call.principal
        key = _checked_key(key)
        if principal.channel is not None and body.channel not in (None, principal.channel):
            raise Problem(403, "channel_mismatch", "a channel asks returns on its own channel")

        async def run(uow: UnitOfWork) -> tuple[int, dict[str, Any], str]:
            sold_on = await _order_channel(uow.conn, order_id)
            if sold_on is None or not (principal.may_see(sold_on) or principal.is_staff):
                raise Problem(404, "order_not_found", "no such order")
            command = RequestReturn(
                order_id=order_id,
                channel=principal.channel or principal.location_id or body.channel or sold_on,
                lines=tuple(
                    ReturnedUnits(
                        line_id=line.line_id,
                        quantity=line.quantity,
                        reason=line.reason,
                        comment=line.comment,
                    )
                    for line in body.lines
                ),
                drop_off_location_id=body.drop_off_location_id or principal.location_id,
                requested_by=principal.actor,
            )
            return await self._return_command(
                call, uow, command, return_id_for(call.request_id), 201
            )

        return await self._once(call, _scope(call), key, body.model_dump(mode="json"), run)

    async def receive_return(
        self, call: _Call, key: str | None, return_id: str, body: ReceiptRequest
    ) -> Response:
        location = _location(call.principal, body.location_id)
        return await self._change_return(
            call,
            key,
            return_id,
            body.model_dump(mode="json"),
            lambda order_id: ReceiveReturn(
                order_id=order_id,
                return_id=return_id,
                location_id=location,
                lines=tuple(
                    UnitsArrived(line_id=line.line_id, quantity=line.quantity)
                    for line in body.lines
                ),
                received_by=call.principal.actor,
            ),
        )

    async def inspect_return(
        self, call: _Call, key: str | None, return_id: str, body: InspectionRequest
    ) -> Response:
        location = _location(call.principal, body.location_id)
        return await self._change_return(
            call,
            key,
            return_id,
            body.model_dump(mode="json"),
            lambda order_id: InspectReturn(
                order_id=order_id,
                return_id=return_id,
                location_id=location,
                lines=tuple(
                    InspectedUnits(
                        line_id=line.line_id,
                        quantity=line.quantity,
                        disposition=line.disposition,
                        note=line.note,
                    )
                    for line in body.lines
                ),
                refund_minor=body.refund_minor,
                inspected_by=call.principal.actor,
            ),
        )

    async def get_return(self, call: _Call, return_id: str) -> ReturnView:
        async with self._unit_of_work(call) as uow:
            found = await self._visible_return(uow.conn, call.principal, return_id)
            return await self._return_view(uow.conn, found)

    async def order_returns(self, call: _Call, order_id: str) -> ReturnList:
        async with self._unit_of_work(call) as uow:
            sold_on = await _order_channel(uow.conn, order_id)
            if sold_on is None or not (call.principal.may_see(sold_on) or call.principal.is_staff):
                raise Problem(404, "order_not_found", "no such order")
            ids = await return_queries.return_ids_of_order(uow.conn, order_id)
            rows = await return_queries.returns_of(uow.conn, ids)
        return ReturnList(returns=[_return_view(row) for row in rows])

    async def _change_return(
        self,
        call: _Call,
        key: str | None,
        return_id: str,
        document: Any,
        command: Callable[[str], ReceiveReturn | InspectReturn],
    ) -> Response:
        """A command on a return the caller may see (404 otherwise), made for its order."""
        key = _checked_key(key)

        async def run(uow: UnitOfWork) -> tuple[int, dict[str, Any], str]:
            found = await self._visible_return(uow.conn, call.principal, return_id)
            return await self._return_command(call, uow, command(found.order_id), return_id, 200)

        return await self._once(call, _scope(call), key, document, run)

    async def _return_command(
        self,
        call: _Call,
        uow: UnitOfWork,
        command: RequestReturn | ReceiveReturn | InspectReturn,
        return_id: str,
        status: int,
    ) -> tuple[int, dict[str, Any], str]:
        """The answer to a change of a return: ``status`` with the return, or 409 when the
        order's or the return's state refuses it. A refusal changes nothing but the timeline
        (as every order command's); either answer is kept for the Idempotency-Key."""
        order_id = command.order_id
        with structlog.contextvars.bound_contextvars(order_id=order_id), _payments_available():
            refusal = await self._apply(uow, command)
        await flush_timeline(uow)
        if refusal is not None:
            problem = Problem(409, refusal.code, refusal.message, order_id=order_id)
            return 409, problem.body(call.request_id), order_id
        [row] = await return_queries.returns_of(uow.conn, [return_id])
        return status, _return_view(row).model_dump(mode="json"), order_id

    async def _visible_return(self, conn: Any, principal: Principal, return_id: str) -> Return:
        """The return if the principal may see it (staff and customer service see every
        one, a channel those of its own orders); 404 otherwise."""
        if _clean_identifier(return_id):
            found = await return_queries.load_return(conn, return_id)
            if found is not None:
                sold_on = await _order_channel(conn, found.order_id)
                if principal.is_staff or principal.may_see(sold_on):
                    return found
        raise Problem(404, "return_not_found", "no such return")

    async def _return_view(self, conn: Any, ret: Return) -> ReturnView:
        rows = await return_queries.returns_of(conn, [ret.return_id])
        return _return_view(rows[0])


def _published(work: UnitOfWork, taken: EventPayload, *, key: str | None = None) -> None:
    """What the request takes, published under its id to the topic that carries it (the live
    consumer skips it, ``oms rebuild order`` applies it again); what the request changes
    happens at that event's time, which a rebuild takes again."""
    subject = getattr(taken, "order_id", None) or (
        order_id_for(taken.channel, taken.external_order_id)
        if isinstance(taken, OrderSubmitted)
        else None
    )
    assert subject is not None, "an order's request names its order"
    work.at = work.emit(taken, subject=subject, key=key, event_id=work.cause).time


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    media_type = PROBLEM_MEDIA_TYPE if status >= 400 else "application/json"
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type=media_type)


async def _order_channel(conn: Any, order_id: str) -> str | None:
    """The channel that sold the order; None when there is no such order."""
    return await store.order_channel(conn, order_id) if _clean_identifier(order_id) else None


def _scope(call: _Call) -> str:
    """Whose Idempotency-Keys these are: the caller's, named by role and id."""
    return actor_label(call.principal.actor)


def _location(principal: Principal, named: str | None) -> str:
    """Where staff work, or the location customer service names; channels never receive."""
    if principal.is_staff:
        if named not in (None, principal.location_id):
            raise Problem(403, "location_mismatch", "staff act at their own location only")
        assert principal.location_id is not None
        return principal.location_id
    if not principal.is_customer_service:
        raise Problem(403, "forbidden", "only staff or customer service receive returns")
    if named is None:
        raise _invalid(
            "invalid_request", "customer service names the location_id", [("location_id", "")]
        )
    return named


def _return_view(row: dict[str, Any]) -> ReturnView:
    shown = (
        "return_id",
        "order_id",
        "rma_number",
        "status",
        "channel",
        "drop_off_location_id",
        "locations",
        "currency",
        "refunded_minor",
        "requested_at",
        "updated_at",
        "lines",
    )
    return ReturnView.model_validate({name: row[name] for name in shown})


def _actor(call: _Call) -> Actor:
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
        promised_by=order["promised_by"],
        created_at=order["created_at"],
        updated_at=order["updated_at"],
        lines=[OrderLineView.model_validate(line) for line in stored.lines],
        shipments=[_shipment_view(shipment) for shipment in stored.shipments],
        shipping_address=order["shipping_address"],
        rejection_reasons=order["rejection_reasons"] or [],
        timeline=[TimelineEntry.model_validate(entry) for entry in stored.timeline],
    )


def _shipment_view(shipment: dict[str, Any]) -> ShipmentView:
    pickup, arrived = shipment["for_pickup"], shipment["delivered_at"] is not None
    statuses = {
        (False, False): "shipped",
        (False, True): "delivered",
        (True, False): "ready_for_pickup",
        (True, True): "collected",
    }
    shown = (
        "shipment_id",
        "carrier",
        "tracking_number",
        "tracking_numbers",
        "shipped_at",
        "delivered_at",
        "lines",
    )
    return ShipmentView.model_validate(
        {
            **{k: shipment[k] for k in shown},
            "kind": "pickup" if pickup else "carrier",
            "status": "uncollected"
            if shipment["uncollected_at"] is not None
            else statuses[(pickup, arrived)],
        }
    )


# -- routes ----------------------------------------------------------------------------------


def register_api(runtime: ServiceRuntime, commands: OrderCommands, keys: ApiKeys) -> OrderApi:
    """Add the API's routes to the runtime's FastAPI app."""
    api = OrderApi(runtime=runtime, commands=commands)
    caller = api_key_caller(keys, "oms-order", lambda p: p.actor_id)

    async def call(
        request: Request,
        principal: Annotated[Principal, Security(caller)],
        x_correlation_id: Annotated[
            str | None,
            Header(description="Carried by the events this request causes; default: its id."),
        ] = None,
    ) -> _Call:
        request_id: uuid.UUID = request.state.request_id
        correlation = x_correlation_id
        if not (correlation and _clean_identifier(correlation)):
            correlation = str(request_id)
        return _Call(principal=principal, request_id=request_id, correlation_id=correlation)

    Call = Annotated[_Call, Depends(call)]
    ready = [Depends(runtime.require_ready)]
    intake = APIRouter(route_class=_IntakeRoute, dependencies=ready, tags=["capture"])
    service = APIRouter(route_class=_CommandRoute, dependencies=ready, tags=["customer service"])
    by_id = "/v1/orders/{order_id}"
    who = "The actor in the order's timeline is the key's principal."

    @intake.post(
        "/v1/orders",
        operation_id="submitOrder",
        summary="Submit an order (sales channels)",
        status_code=201,
        response_model=SubmitResponse,
        responses={
            200: {"model": SubmitResponse, "description": "The order was already known."},
            201: {
                "description": "A new order; status REJECTED with `reasons` if it failed"
                " validation."
            },
            **_errors(400, 401, 403, 413, 503),
            422: {"model": RejectedOrderProblem, "description": _ERRORS[422]},
        },
    )
    async def submit(
        call: Call,
        document: Annotated[
            OrderSubmitted,
            SkipValidation,
            Body(description="An OrderSubmitted v3 payload, exactly as on the intake topic."),
        ],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                description="Required: unique per intended order submission; a retry with"
                " the same key and body gets the first answer again (`Idempotent-Replayed:"
                " true`).",
            ),
        ] = None,
    ) -> Response:
        """`channel` must be the key's channel. One order per (channel, external_order_id),
        whichever path it came by. An order the contract cannot read is answered 422 and,
        when its channel and external_order_id are readable, kept as REJECTED with the
        reasons."""
        raw: Any = document  # as sent: validated here, so an unreadable order can be kept
        return await api.submit(call, idempotency_key, raw)

    @service.get(
        "/v1/orders",
        operation_id="findOrders",
        summary="Find orders by (channel, external_order_id) or by customer e-mail",
        response_model=OrderList,
        responses=_errors(401, 403, 422, 503),
    )
    async def find_orders(
        call: Call,
        channel: Annotated[str | None, _Identifier] = None,
        external_order_id: Annotated[str | None, _Identifier] = None,
        customer_email: Annotated[str | None, Query(min_length=1, max_length=320)] = None,
        limit: Annotated[int, Query(ge=1, le=_MAX_PAGE)] = _DEFAULT_PAGE,
        cursor: Annotated[str | None, _Identifier] = None,
    ) -> OrderList:
        """Give `channel` and `external_order_id` (a channel only its own), or
        `customer_email` (customer service only; compared without case). Pages are in order
        id order; pass `next_cursor` as `cursor` for the next one."""
        return await api.find_orders(
            call, channel, external_order_id, customer_email, limit, cursor
        )

    @service.get(
        by_id,
        operation_id="getOrder",
        summary="One order with its lines and timeline",
        response_model=OrderView,
        responses=_errors(401, 404, 503),
    )
    async def get_order(call: Call, order_id: str) -> OrderView:
        """Customer service sees every order, a channel its own."""
        return await api.get_order(call, order_id)

    command_errors = _errors(401, 403, 404, 409, 413, 422, 503)

    @service.post(
        f"{by_id}/cancel",
        operation_id="cancelOrder",
        summary="Cancel the whole order or some units of some lines",
        description=f"Customer service, or the order's own channel. {who}",
        response_model=OrderView,
        responses=command_errors,
    )
    async def cancel(call: Call, order_id: str, body: CancelRequest) -> OrderView:
        return await api.cancel(call, order_id, body)

    @service.post(
        f"{by_id}/hold",
        operation_id="holdOrder",
        summary="Put the order on hold",
        description=f"Customer service only. {who}",
        response_model=OrderView,
        responses=command_errors,
    )
    async def hold(call: Call, order_id: str, body: HoldRequest) -> OrderView:
        return await api.hold(call, order_id, body)

    @service.post(
        f"{by_id}/release",
        operation_id="releaseOrder",
        summary="Lift the hold",
        description=f"Customer service only; the body may be left out. {who}",
        response_model=OrderView,
        responses=command_errors,
    )
    async def release(
        call: Call, order_id: str, body: Annotated[ReleaseRequest | None, Body()] = None
    ) -> OrderView:
        return await api.release(call, order_id, body or ReleaseRequest())

    @service.put(
        f"{by_id}/shipping-address",
        operation_id="changeShippingAddress",
        summary="Change the shipping address before the order is released",
        description=f"Customer service only. {who}",
        response_model=OrderView,
        responses=command_errors,
    )
    async def change_address(call: Call, order_id: str, body: AddressChangeRequest) -> OrderView:
        return await api.change_address(call, order_id, body)

    returns_router = APIRouter(route_class=_CommandRoute, dependencies=ready, tags=["returns"])
    return_errors = _errors(400, 401, 403, 404, 409, 413, 422, 503)
    key_header = Header(
        alias="Idempotency-Key",
        description="Required: unique per intended change; a retry with the same key and"
        " body gets the first answer again (`Idempotent-Replayed: true`).",
    )

    @returns_router.post(
        f"{by_id}/returns",
        operation_id="requestReturn",
        summary="Open a return of delivered units (authorised at once, with its RMA number)",
        description="Customer service for any order, a channel for its own, staff for any"
        " order brought to their location. Refused (409) when nothing was delivered, the"
        " return window has closed or a line asks back more than was delivered and is not"
        f" in a return yet. {who}",
        status_code=201,
        response_model=ReturnView,
        responses=return_errors,
    )
    async def request_return(
        call: Call,
        order_id: str,
        body: ReturnRequest,
        idempotency_key: Annotated[str | None, key_header] = None,
    ) -> Response:
        return await api.request_return(call, idempotency_key, order_id, body)

    @returns_router.get(
        f"{by_id}/returns",
        operation_id="listOrderReturns",
        summary="The order's returns",
        response_model=ReturnList,
        responses=_errors(401, 404, 503),
    )
    async def order_returns(call: Call, order_id: str) -> ReturnList:
        return await api.order_returns(call, order_id)

    @returns_router.get(
        "/v1/returns/{return_id}",
        operation_id="getReturn",
        summary="One return with its lines' buckets",
        response_model=ReturnView,
        responses=_errors(401, 404, 503),
    )
    async def get_return(call: Call, return_id: str) -> ReturnView:
        return await api.get_return(call, return_id)

    @returns_router.post(
        "/v1/returns/{return_id}/receipt",
        operation_id="receiveReturn",
        summary="Units of the return arrived at a location",
        description="Staff at their location, or customer service naming it. Publishes"
        f" ReturnReceived. {who}",
        response_model=ReturnView,
        responses=return_errors,
    )
    async def receive_return(
        call: Call,
        return_id: str,
        body: ReceiptRequest,
        idempotency_key: Annotated[str | None, key_header] = None,
    ) -> Response:
        return await api.receive_return(call, idempotency_key, return_id, body)

    @returns_router.post(
        "/v1/returns/{return_id}/inspection",
        operation_id="inspectReturn",
        summary="Received units inspected into restock, quarantine or disposal, and refunded",
        description="Staff at their location, or customer service naming it. Publishes"
        " ReturnInspected (inventory restocks or quarantines the units) and RefundIssued"
        f" for each capture the refund draws on. {who}",
        response_model=ReturnView,
        responses=return_errors,
    )
    async def inspect_return(
        call: Call,
        return_id: str,
        body: InspectionRequest,
        idempotency_key: Annotated[str | None, key_header] = None,
    ) -> Response:
        return await api.inspect_return(call, idempotency_key, return_id, body)

    runtime.http.title = "OMS order service"
    runtime.http.description = (
        "Order capture for sales channels, customer-service commands and returns."
        " Authenticate with `Authorization: Bearer <API key>`; each key belongs to one sales"
        " channel, one customer-service desk or the staff of one location. Errors are problem"
        " details (RFC 9457)."
    )
    runtime.http.include_router(intake)
    runtime.http.include_router(service)
    runtime.http.include_router(returns_router)
    return api
