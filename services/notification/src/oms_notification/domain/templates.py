"""The message template for each customer-visible change."""

from __future__ import annotations

__all__ = ["TEMPLATES", "TOPICS_NOTIFIED"]

# Event type -> template name. Shipping and return messages join as those services land.
TEMPLATES: dict[str, str] = {
    "OrderAccepted": "order_received",
    "OrderRejected": "order_rejected",
    "OrderCanceled": "order_canceled",
    "PaymentFailed": "payment_failed",
}

# Where each notified event type is published.
TOPICS_NOTIFIED: dict[str, tuple[str, ...]] = {
    "oms.orders": ("OrderAccepted", "OrderRejected", "OrderCanceled"),
    "oms.payments": ("PaymentFailed",),
}
