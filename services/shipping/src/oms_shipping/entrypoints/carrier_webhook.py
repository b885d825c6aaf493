"""Carriers' tracking webhook: ``POST /v1/carriers/{carrier}/tracking``, signed per carrier.

The webhook is the carriers' door to ``oms.carrier-tracking``: a request whose signature
holds (domain/carrier_signature.py) has its updates published there, keyed by tracking
number, and the same consumer as for any scan applies them (normalised, never backwards,
unknown tracking numbers dead-lettered). A refused request (unsigned, badly signed, stale,
unreadable, an unknown carrier) is answered with a problem and kept in
``refused_carrier_requests`` with the body's digest, never the body.
"""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import Field, StringConstraints, ValidationError

from oms_events import StrictModel
from oms_events.fulfilment import TrackingUpdateReceived
from oms_events.values import Identifier, UtcDatetime
from oms_runtime import ApiRoute, Problem, ServiceRuntime, problem_responses
from oms_shipping.adapters.carrier_requests import keep_refused
from oms_shipping.domain.carrier_signature import why_refused

__all__ = ["CarrierUpdates", "register_carrier_webhook"]

MAX_UPDATES = 500
_Text = Annotated[str, StringConstraints(max_length=2000)]

# The signature header as the operation's security scheme, in the OpenAPI document too.
_SIGNATURE = APIKeyHeader(
    name="X-Carrier-Signature",
    scheme_name="carrierSignature",
    description="sha256=<hex HMAC-SHA256 of '<X-Carrier-Timestamp>.<body>' with the carrier's"
    " secret>; see docs/shipping-service.md",
    auto_error=False,
)


class CarrierUpdate(StrictModel):
    tracking_number: Identifier
    status_code: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    """The carrier's own code, normalised by the carrier's mapping (OMS_CARRIER_CODES)."""
    occurred_at: UtcDatetime
    location: _Text | None = None
    description: _Text | None = None


class CarrierUpdates(StrictModel):
    updates: Annotated[tuple[CarrierUpdate, ...], Field(min_length=1, max_length=MAX_UPDATES)]


class Accepted(StrictModel):
    accepted: int


def register_carrier_webhook(
    runtime: ServiceRuntime, secrets: Mapping[str, str], tolerance: timedelta
) -> None:
    router = APIRouter(route_class=ApiRoute, dependencies=[Depends(runtime.require_ready)])

    async def refuse(carrier: str, status: int, reason: str, detail: str, body: bytes) -> Problem:
        async with runtime.unit_of_work() as work:
            await keep_refused(work.conn, carrier, reason, detail, body)
        return Problem(status, reason, detail)

    @router.post(
        "/v1/carriers/{carrier}/tracking",
        status_code=202,
        response_model=Accepted,
        summary="A carrier's tracking updates, signed",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": CarrierUpdates.model_json_schema()}},
            },
        },
        responses=problem_responses(
            {
                401: "Unsigned (`unsigned`), a timestamp that is not one (`bad_timestamp`),"
                " outside the tolerance (`stale`) or a signature that does not match"
                " (`bad_signature`); kept.",
                404: "A carrier without a webhook secret (`unknown_carrier`); kept.",
                413: f"The body is larger than {ApiRoute.max_body_bytes} bytes"
                " (`payload_too_large`).",
                422: "A signed body that is not a list of updates (`invalid_body`); kept.",
                503: "The service is starting or the database is away (`unavailable`).",
            }
        ),
    )
    async def tracking(
        request: Request,
        carrier: Annotated[Identifier, Path()],
        signature: Annotated[str | None, Security(_SIGNATURE)],
        x_carrier_timestamp: Annotated[str | None, Header()] = None,
    ) -> Accepted:
        """Each update published to ``oms.carrier-tracking`` once the signature holds."""
        body = await request.body()
        secret = secrets.get(carrier)
        if secret is None:
            raise await refuse(carrier, 404, "unknown_carrier", "no webhook secret for it", body)
        reason = why_refused(
            secret,
            x_carrier_timestamp,
            signature,
            body,
            now=datetime.now(UTC),
            tolerance=tolerance,
        )
        if reason is not None:
            raise await refuse(carrier, 401, reason, "the request is not the carrier's", body)
        try:
            sent = CarrierUpdates.model_validate_json(body)
        except ValidationError as exc:
            detail = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5]
            )
            raise await refuse(carrier, 422, "invalid_body", detail, body) from None
        async with runtime.unit_of_work() as work:
            for update in sent.updates:
                work.emit(
                    TrackingUpdateReceived(
                        carrier=carrier,
                        tracking_number=update.tracking_number,
                        carrier_status_code=update.status_code,
                        occurred_at=update.occurred_at,
                        location=update.location,
                        description=update.description,
                    ),
                    subject=update.tracking_number,
                    key=update.tracking_number,
                )
        return Accepted(accepted=len(sent.updates))

    runtime.http.include_router(router)
