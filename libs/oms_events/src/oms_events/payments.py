"""Payment events, written by the order service through its payment-provider port.

Running totals (``captured_total``, ``refunded_total``) let consumers derive the
payment status from one event and check that refunds never exceed captures.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from oms_events._model import EventPayload, event
from oms_events.values import Identifier, Money, UtcDatetime

__all__ = [
    "PaymentAuthorized",
    "PaymentCaptured",
    "PaymentFailed",
    "PaymentVoided",
    "RefundIssued",
]

_Text = Annotated[str, StringConstraints(max_length=2000)]
_Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]


@event("PaymentAuthorized")
class PaymentAuthorized(EventPayload):
    order_id: Identifier
    payment_id: Identifier
    provider: Identifier
    provider_reference: Identifier
    amount: Money
    authorized_at: UtcDatetime
    expires_at: UtcDatetime | None = None


@event("PaymentFailed")
class PaymentFailed(EventPayload):
    order_id: Identifier
    payment_id: Identifier
    provider: Identifier
    amount: Money
    code: _Code
    """Provider-independent code, e.g. ``declined``, ``expired_card``, ``provider_unavailable``."""
    message: _Text
    retryable: bool


@event("PaymentCaptured")
class PaymentCaptured(EventPayload):
    """Captured per shipment, so one order may see several captures."""

    order_id: Identifier
    payment_id: Identifier
    capture_id: Identifier
    shipment_id: Identifier | None = None
    amount: Money
    captured_total: Money
    captured_at: UtcDatetime


@event("PaymentVoided")
class PaymentVoided(EventPayload):
    order_id: Identifier
    payment_id: Identifier
    amount: Money
    reason: _Text
    voided_at: UtcDatetime


@event("RefundIssued")
class RefundIssued(EventPayload):
    order_id: Identifier
    payment_id: Identifier
    refund_id: Identifier
    return_id: Identifier | None = None
    amount: Money
    refunded_total: Money
    reason: _Text
    refunded_at: UtcDatetime
