"""The message template for each customer-visible order change."""

from __future__ import annotations

__all__ = ["TEMPLATES"]

# Event type -> template name. Later statuses (shipped, delivered, refunded...) join as the
# services that announce them land.
TEMPLATES: dict[str, str] = {"OrderAccepted": "order_received"}
