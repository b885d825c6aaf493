"""Webhook subscriptions over HTTP (operators only), served by the worker's FastAPI app next
to ``/health`` and ``/metrics``:

- ``POST /v1/webhooks/subscriptions``: a subscription; its signing secret is in this answer
  and never again.
- ``GET /v1/webhooks/subscriptions``, ``GET|PATCH|DELETE /v1/webhooks/subscriptions/{id}``.
- ``GET /v1/webhooks/subscriptions/{id}/deliveries``: the delivery log, newest first.
- ``POST /v1/webhooks/subscriptions/{id}/deliveries/{delivery_id}/resend`` and
  ``POST /v1/webhooks/subscriptions/{id}/resend-dead-letters``: send again, keeping who asked.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request, Response, Security
from pydantic import Field, StringConstraints

from oms_events import StrictModel
from oms_notification.adapters import webhooks as store
from oms_notification.adapters.webhooks import DeliveryRow, SubscriptionRow
from oms_notification.domain.webhooks import DeliveryStatus
from oms_notification.service_layer.webhooks import InvalidSubscription, create_subscription
from oms_runtime import (
    ApiRoute,
    Caller,
    Problem,
    ServiceRuntime,
    Wakeup,
    api_key_caller,
    problem_responses,
)

__all__ = ["register_webhooks_api"]

_EventType = Annotated[str, StringConstraints(min_length=1, max_length=100)]
_Id = Annotated[str, Path(min_length=1, max_length=100)]
_LOG_LIMIT = 500


class SubscriptionRequest(StrictModel):
    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    """Where deliveries are POSTed: http or https, without credentials."""
    event_types: Annotated[tuple[_EventType, ...], Field(min_length=1, max_length=100)]
    """Event types of the contract to deliver: those of the order-lifecycle topics, or for an
    operations subscription the alert kinds (``LowStock``, ``OutOfStock``, ``OrderStuck``,
    ``RecordDeadLettered``)."""
    operations: bool = False
    """An operations subscription gets operations alerts, rate-limited."""
    active: bool = True
    description: Annotated[str, StringConstraints(max_length=500)] | None = None


class ActiveChange(StrictModel):
    active: bool


class SubscriptionView(StrictModel):
    subscription_id: str
    url: str
    event_types: list[str]
    operations: bool
    active: bool
    description: str | None
    created_by: str
    created_at: datetime


class CreatedSubscription(SubscriptionView):
    secret: str
    """The signing secret (``whsec_<base64>``): shown in this answer only."""


class Subscriptions(StrictModel):
    subscriptions: list[SubscriptionView]


class DeliveryView(StrictModel):
    delivery_id: str
    """Sent as ``webhook-id``; the same on every attempt and re-send."""
    event_id: UUID
    event_type: str
    subject: str
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    next_attempt_at: datetime | None
    """When a pending delivery is tried next."""
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    dead_lettered_at: datetime | None
    created_at: datetime


class DeliveryLog(StrictModel):
    subscription_id: str
    deliveries: list[DeliveryView]


class Resent(StrictModel):
    subscription_id: str
    delivery_ids: list[str]
    requested_by: str


def _subscription_view(row: SubscriptionRow) -> SubscriptionView:
    return SubscriptionView(
        subscription_id=row.subscription_id,
        url=row.url,
        event_types=list(row.event_types),
        operations=row.operations,
        active=row.active,
        description=row.description,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _delivery_view(row: DeliveryRow) -> DeliveryView:
    pending = row.status == DeliveryStatus.PENDING
    return DeliveryView(
        delivery_id=row.delivery_id,
        event_id=row.event_id,
        event_type=row.event_type,
        subject=row.subject,
        status=DeliveryStatus(row.status).value,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if pending else None,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        dead_lettered_at=row.dead_lettered_at,
        created_at=row.created_at,
    )


_NOT_FOUND = "No such subscription (`not_found`)."
_COMMON = {
    401: "No API key, or an unknown one (`unauthorized`).",
    403: "Only operators manage webhooks (`forbidden`).",
    503: "The service is starting or the database is away (`unavailable`).",
}


def _unknown_subscription(subscription_id: str) -> Problem:
    return Problem(
        404, "not_found", f"no subscription {subscription_id!r}", subscription_id=subscription_id
    )


def _found(row: SubscriptionRow | None, subscription_id: str) -> SubscriptionView:
    if row is None:
        raise _unknown_subscription(subscription_id)
    return _subscription_view(row)


def _request_id(request: Request) -> UUID | None:
    found = getattr(request.state, "request_id", None)
    return found if isinstance(found, UUID) else None


def register_webhooks_api(
    runtime: ServiceRuntime, keys: Mapping[str, Caller], deliveries_due: Wakeup
) -> None:
    caller = api_key_caller(keys, "oms-notification", lambda c: c.actor_id)
    router = APIRouter(
        prefix="/v1/webhooks",
        route_class=ApiRoute,
        dependencies=[Depends(runtime.require_ready)],
    )

    async def operator(who: Annotated[Caller, Security(caller)]) -> str:
        """The operator's id; a channel's key is refused."""
        if who.channel is not None:
            raise Problem(403, "forbidden", "only operators manage webhooks")
        return who.actor_id

    Operator = Annotated[str, Depends(operator)]

    @router.post(
        "/subscriptions",
        status_code=201,
        response_model=CreatedSubscription,
        summary="Subscribe an endpoint to event types",
        responses=problem_responses(
            {
                **_COMMON,
                413: f"The body is larger than {ApiRoute.max_body_bytes} bytes"
                " (`payload_too_large`).",
                422: "Not a valid request: a URL that is not http(s) or carries credentials, an"
                " event type the contract does not have or this service does not offer"
                " (`invalid_request`); `errors` names each field.",
            }
        ),
    )
    async def subscribe(actor: Operator, asked: SubscriptionRequest) -> CreatedSubscription:
        """The answer carries the signing secret, the only time it is shown."""
        try:
            async with runtime.unit_of_work() as work:
                row, secret = await create_subscription(
                    work,
                    store,
                    url=asked.url,
                    event_types=asked.event_types,
                    operations=asked.operations,
                    active=asked.active,
                    description=asked.description,
                    created_by=actor,
                )
        except InvalidSubscription as exc:
            raise Problem(
                422, "invalid_request", "the subscription is not valid", errors=exc.errors
            ) from None
        return CreatedSubscription(**_subscription_view(row).model_dump(), secret=secret)

    @router.get(
        "/subscriptions",
        response_model=Subscriptions,
        summary="Every subscription (without secrets)",
        responses=problem_responses(_COMMON),
    )
    async def subscriptions(actor: Operator) -> Subscriptions:
        async with runtime.unit_of_work() as work:
            rows = await store.list_subscriptions(work.conn)
        return Subscriptions(subscriptions=[_subscription_view(r) for r in rows])

    @router.get(
        "/subscriptions/{subscription_id}",
        response_model=SubscriptionView,
        summary="One subscription (without its secret)",
        responses=problem_responses({**_COMMON, 404: _NOT_FOUND}),
    )
    async def subscription(actor: Operator, subscription_id: _Id) -> SubscriptionView:
        async with runtime.unit_of_work() as work:
            row = await store.find_subscription(work.conn, subscription_id)
        return _found(row, subscription_id)

    @router.patch(
        "/subscriptions/{subscription_id}",
        response_model=SubscriptionView,
        summary="Pause or resume a subscription",
        responses=problem_responses(
            {**_COMMON, 404: _NOT_FOUND, 422: "Not a valid request (`invalid_request`)."}
        ),
    )
    async def change(
        actor: Operator, subscription_id: _Id, asked: ActiveChange
    ) -> SubscriptionView:
        """A paused subscription gets nothing queued; what it had waits until it resumes."""
        async with runtime.unit_of_work() as work:
            row = await store.set_active(work.conn, subscription_id, asked.active)
        return _found(row, subscription_id)

    @router.delete(
        "/subscriptions/{subscription_id}",
        status_code=204,
        response_class=Response,
        summary="Remove a subscription and its delivery log",
        responses=problem_responses({**_COMMON, 404: _NOT_FOUND}),
    )
    async def unsubscribe(actor: Operator, subscription_id: _Id) -> Response:
        async with runtime.unit_of_work() as work:
            found = await store.delete_subscription(work.conn, subscription_id)
        if not found:
            raise _unknown_subscription(subscription_id)
        return Response(status_code=204)

    @router.get(
        "/subscriptions/{subscription_id}/deliveries",
        response_model=DeliveryLog,
        summary="The subscription's deliveries, newest first",
        responses=problem_responses(
            {**_COMMON, 404: _NOT_FOUND, 422: "A bad query parameter (`invalid_query`)."}
        ),
    )
    async def deliveries(
        actor: Operator,
        subscription_id: _Id,
        status: Annotated[Literal["pending", "delivered", "dead"] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=_LOG_LIMIT)] = 100,
        after: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    ) -> DeliveryLog:
        """``after``: the last ``delivery_id`` of the previous page, for the next one."""
        async with runtime.unit_of_work() as work:
            _found(await store.find_subscription(work.conn, subscription_id), subscription_id)
            rows = await store.delivery_log(work.conn, subscription_id, status, limit, after)
        return DeliveryLog(
            subscription_id=subscription_id, deliveries=[_delivery_view(r) for r in rows]
        )

    @router.post(
        "/subscriptions/{subscription_id}/deliveries/{delivery_id}/resend",
        status_code=202,
        response_model=Resent,
        summary="Send one delivered or dead-lettered delivery again",
        responses=problem_responses(
            {
                **_COMMON,
                404: "No such subscription or delivery (`not_found`).",
                409: "The delivery is still pending: it is on its way (`delivery_pending`).",
            }
        ),
    )
    async def resend(
        actor: Operator, request: Request, subscription_id: _Id, delivery_id: _Id
    ) -> Resent:
        """Sent again with the same ``webhook-id`` and a fresh count of attempts."""
        async with runtime.unit_of_work() as work:
            found = await store.find_delivery(work.conn, subscription_id, delivery_id)
            resent = found is not None and await store.resend_delivery(
                work.conn, subscription_id, delivery_id, actor, _request_id(request)
            )
            work.wake_on_commit(deliveries_due)
        if found is None:
            raise Problem(404, "not_found", f"no delivery {delivery_id!r} for {subscription_id!r}")
        if not resent:
            raise Problem(409, "delivery_pending", "the delivery is pending: it is on its way")
        return Resent(
            subscription_id=subscription_id, delivery_ids=[delivery_id], requested_by=actor
        )

    @router.post(
        "/subscriptions/{subscription_id}/resend-dead-letters",
        status_code=202,
        response_model=Resent,
        summary="Send every dead-lettered delivery of the subscription again",
        responses=problem_responses({**_COMMON, 404: _NOT_FOUND}),
    )
    async def resend_dead_letters(
        actor: Operator, request: Request, subscription_id: _Id
    ) -> Resent:
        async with runtime.unit_of_work() as work:
            _found(await store.find_subscription(work.conn, subscription_id), subscription_id)
            ids = await store.resend_dead(work.conn, subscription_id, actor, _request_id(request))
            work.wake_on_commit(deliveries_due)
        return Resent(subscription_id=subscription_id, delivery_ids=ids, requested_by=actor)

    runtime.http.include_router(router)
