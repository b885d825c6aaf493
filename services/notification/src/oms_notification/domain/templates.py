"""The message template for each customer-visible change."""

from __future__ import annotations

__all__ = ["TEMPLATES"]

# Event type -> template name. Shipping and return messages join as those services land.
TEMPLATES: dict[str, str] = {
    "OrderAccepted": "order_received",
    "OrderRejected": "order_rejected",
    "OrderCanceled": "order_canceled",
    "PaymentFailed": "payment_failed",
}
