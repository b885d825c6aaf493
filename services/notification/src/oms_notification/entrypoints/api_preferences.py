"""Customers' message preferences over HTTP: ``GET`` and ``PUT
/v1/customers/{customer_id}/preferences``.

A customer's language and the channels they opted out of (nothing at all is sent on those,
transactional messages included), and whether they opted out of marketing (transactional
messages ignore that; docs/notification-service.md says which messages are transactional).
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Security
from pydantic import Field

from oms_events import StrictModel
from oms_events.values import Identifier
from oms_notification.adapters.messages import StoredPreferences, load_preferences, save_preferences
from oms_notification.domain.messages import LOCALES
from oms_runtime import ApiRoute, Caller, Problem, ServiceRuntime, api_key_caller, problem_responses

__all__ = ["PreferencesBody", "PreferencesView", "register_preferences_api"]

Locale = Literal["en", "de", "fr"]
ChannelName = Literal["email", "sms"]
CustomerId = Annotated[Identifier, Path(description="The customer id the channel gave the order")]
assert set(Locale.__args__) == set(LOCALES)  # type: ignore[attr-defined]


class PreferencesBody(StrictModel):
    locale: Locale | None = None
    """The language of every message; none: the delivery address's country decides."""
    opted_out_channels: Annotated[tuple[ChannelName, ...], Field(max_length=2)] = ()
    """Nothing is sent on these channels, transactional messages included."""
    marketing_opt_out: bool = False
    """No marketing messages; transactional ones (every order message) still go."""


class PreferencesView(StrictModel):
    customer_id: str
    locale: Locale | None
    opted_out_channels: list[ChannelName]
    marketing_opt_out: bool
    updated_at: datetime


def _view(stored: StoredPreferences) -> PreferencesView:
    return PreferencesView.model_validate(
        {
            "customer_id": stored.customer_id,
            "locale": stored.locale,
            "opted_out_channels": list(stored.opted_out_channels),
            "marketing_opt_out": stored.marketing_opt_out,
            "updated_at": stored.updated_at,
        }
    )


_COMMON = {
    401: "No API key, or an unknown one (`unauthorized`).",
    503: "The service is starting or the database is away (`unavailable`).",
}


def register_preferences_api(runtime: ServiceRuntime, keys: Mapping[str, Caller]) -> None:
    caller = api_key_caller(keys, "oms-notification", lambda c: c.actor_id)
    router = APIRouter(route_class=ApiRoute, dependencies=[Depends(runtime.require_ready)])

    @router.get(
        "/v1/customers/{customer_id}/preferences",
        response_model=PreferencesView,
        summary="A customer's message preferences",
        responses=problem_responses(
            {**_COMMON, 404: "The customer has stated no preferences (`not_found`)."}
        ),
    )
    async def read(
        who: Annotated[Caller, Security(caller)], customer_id: CustomerId
    ) -> PreferencesView:
        async with runtime.unit_of_work() as work:
            stored = await load_preferences(work.conn, customer_id)
        if stored is None:
            raise Problem(404, "not_found", "the customer has stated no preferences")
        return _view(stored)

    @router.put(
        "/v1/customers/{customer_id}/preferences",
        response_model=PreferencesView,
        summary="State a customer's message preferences (replaces them)",
        responses=problem_responses(
            {
                **_COMMON,
                413: f"The body is larger than {ApiRoute.max_body_bytes} bytes"
                " (`payload_too_large`).",
                422: "The body is not valid preferences: an unknown locale or channel"
                " (`invalid_request`); `errors` names each field.",
            }
        ),
    )
    async def replace(
        who: Annotated[Caller, Security(caller)],
        customer_id: CustomerId,
        preferences: PreferencesBody,
    ) -> PreferencesView:
        async with runtime.unit_of_work() as work:
            stored = await save_preferences(
                work.conn,
                customer_id,
                preferences.locale,
                sorted(set(preferences.opted_out_channels)),
                preferences.marketing_opt_out,
            )
        return _view(stored)

    runtime.http.include_router(router)
