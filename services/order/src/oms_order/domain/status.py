"""Order statuses as in the product's lifecycle."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["OrderStatus"]


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    ALLOCATED = "ALLOCATED"
    BACKORDERED = "BACKORDERED"
    RELEASED = "RELEASED"
    PARTIALLY_FULFILLED = "PARTIALLY_FULFILLED"
    FULFILLED = "FULFILLED"
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
