"""What canceling some units of a line takes away: its waiting (backordered) units first,
then whole reservations that fit in what is left to cancel, then part of one more."""

from __future__ import annotations

from collections.abc import Sequence, Set

from oms_orchestration.domain.sourcing import Line

__all__ = ["drop_units", "units_to_cancel", "work_canceled"]


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


def units_to_cancel(
    reservations: Sequence[tuple[str, int]], quantity: int
) -> list[tuple[str, int]]:
    """Of ``reservations`` ((id, units), in the order to give them up), how many units to
    take from each to cancel ``quantity``: whole reservations that fit first, then the rest
    from the first one larger than what is left (it keeps its other units, and its location
    ships them). Units no reservation holds are not taken."""
    whole, larger, left = [], [], quantity
    for reservation_id, units in reservations:
        if units <= left:
            whole.append((reservation_id, units))
            left -= units
        else:
            larger.append(reservation_id)
    if left and larger:
        whole.append((larger[0], left))
    return whole


def work_canceled(
    taken: Sequence[tuple[str, str, Line]], ended: Set[str]
) -> dict[tuple[str, str], list[Line]]:
    """By (fulfilment order, location), the units canceled of each of its lines, from the
    units ``taken`` off released reservations ((fulfilment order, location, units of a
    line)); work in ``ended`` (called off whole) is left out."""
    work: dict[tuple[str, str], dict[tuple[str, str], int]] = {}
    for fulfilment_order_id, location_id, line in taken:
        if fulfilment_order_id not in ended:
            lines = work.setdefault((fulfilment_order_id, location_id), {})
            lines[line.line_id, line.sku] = lines.get((line.line_id, line.sku), 0) + line.quantity
    return {
        key: [Line(line_id, sku, units) for (line_id, sku), units in lines.items()]
        for key, lines in work.items()
    }
