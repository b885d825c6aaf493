"""Where a reservation stands, as the ``reservations`` table allows (migration 0001)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ReservationStatus"]


class ReservationStatus(StrEnum):
    HELD = "held"
    COMMITTED = "committed"
    """Shipped: the units left on hand with it."""
    RELEASED = "released"
    EXPIRED = "expired"
    FAILED = "failed"
    """Asked for and refused; kept so a repeated request gets the same answer."""
