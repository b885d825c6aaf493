"""Where a reservation stands, as the ``reservations`` table allows (migration 0001)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

__all__ = ["ReservationStatus", "shipped_from"]


class ReservationStatus(StrEnum):
    HELD = "held"
    COMMITTED = "committed"
    """Shipped: the units left on hand with it."""
    RELEASED = "released"
    EXPIRED = "expired"
    FAILED = "failed"
    """Asked for and refused; kept so a repeated request gets the same answer."""


def shipped_from(
    reservations: Sequence[tuple[str, ReservationStatus, int]], quantity: int
) -> tuple[list[tuple[str, int]], int, int]:
    """Shipped units taken from a line's reservations ((id, status, units still open), in
    the order to take them): the units taken from each, how many of them were held (the
    reserved count drops by those), and how many shipped without a reservation."""
    taken: list[tuple[str, int]] = []
    left, from_held = quantity, 0
    for reservation_id, status, open_units in reservations:
        if left == 0:
            break
        take = min(left, open_units)
        left -= take
        if status is ReservationStatus.HELD:
            from_held += take
        taken.append((reservation_id, take))
    return taken, from_held, left
