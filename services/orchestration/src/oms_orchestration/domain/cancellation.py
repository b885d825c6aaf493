"""What canceling some units of a line takes away: its waiting (backordered) units first,
then whole reservations that fit in what is left to cancel."""

from __future__ import annotations

from collections.abc import Sequence

from oms_orchestration.domain.sourcing import Line

__all__ = ["drop_units", "whole_reservations"]


def drop_units(lines: Sequence[Line], line_id: str, quantity: int) -> tuple[int, list[Line]]:
    """Take up to ``quantity`` units of ``line_id`` off ``lines``: how many were taken, and
    the lines left (in their order)."""
    left, kept = quantity, []
    for line in lines:
        if line.line_id == line_id and left:
            take = min(left, line.quantity)
            left -= take
            if line.quantity > take:
                kept.append(Line(line.line_id, line.sku, line.quantity - take))
        else:
            kept.append(line)
    return quantity - left, kept


def whole_reservations(reservations: Sequence[tuple[str, int]], quantity: int) -> list[str]:
    """Of ``reservations`` ((id, units), in the order to give them up), those that fit
    whole in ``quantity``: a reservation larger than what is left stays, and its location
    ships the rest of the line."""
    chosen, left = [], quantity
    for reservation_id, units in reservations:
        if units <= left:
            chosen.append(reservation_id)
            left -= units
    return chosen
