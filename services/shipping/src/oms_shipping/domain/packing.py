"""Box choice: which configured boxes the work's units go in, fewest boxes first, then the
least empty space.

Each unit is placed in a box at an extreme point (a corner left by the units placed before,
lowest first), turned whichever way fits, never overlapping another and never past the
box's weight limit; so every suggested parcel can really be packed as suggested. Choosing
boxes is greedy: the next box is the one that takes the largest volume of the units left
(the smaller box on a tie), and each box is then swapped for the smallest box that takes the
same units. A unit no box can take is reported with why, never dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import permutations

from oms_shipping.domain.boxes import Box
from oms_shipping.domain.catalogue import ItemSpec
from oms_shipping.domain.fulfilment import Line

__all__ = ["PackingSuggestion", "SuggestedParcel", "Unpackable", "UnpackedLine", "suggest_parcels"]

_Dims = tuple[int, int, int]


class Unpackable(StrEnum):
    NOT_IN_CATALOGUE = "not_in_catalogue"
    NO_DIMENSIONS = "no_dimensions"
    NO_WEIGHT = "no_weight"
    TOO_LARGE = "too_large"
    """Larger than every box, however it is turned."""
    TOO_HEAVY = "too_heavy"
    """Fits a box, but heavier than what any box it fits can carry."""


@dataclass(frozen=True)
class SuggestedParcel:
    box: Box
    lines: tuple[Line, ...]
    items_weight_g: int

    @property
    def weight_g(self) -> int:
        """The estimate: the items and the box."""
        return self.items_weight_g + self.box.tare_g


@dataclass(frozen=True)
class UnpackedLine:
    line: Line
    reason: Unpackable


@dataclass(frozen=True)
class PackingSuggestion:
    parcels: tuple[SuggestedParcel, ...]
    unpacked: tuple[UnpackedLine, ...]


@dataclass(frozen=True)
class _Unit:
    line: Line
    dims: _Dims
    weight_g: int

    @property
    def volume(self) -> int:
        return self.dims[0] * self.dims[1] * self.dims[2]


def suggest_parcels(
    lines: Sequence[Line], items: dict[str, ItemSpec], boxes: Sequence[Box]
) -> PackingSuggestion:
    units: list[_Unit] = []
    unpacked: list[UnpackedLine] = []
    for line in lines:
        unit = _unit(line, items.get(line.sku), boxes)
        if isinstance(unit, Unpackable):
            unpacked.append(UnpackedLine(line, unit))
        else:
            units += [unit] * line.quantity
    units.sort(key=lambda u: (u.volume, u.dims, u.weight_g), reverse=True)
    by_size = sorted(boxes, key=lambda b: (b.inner.volume_mm3, b.max_weight_g, b.id))
    parcels = []
    while units:
        taken = set(_fullest(by_size, units))
        packed = [u for i, u in enumerate(units) if i in taken]
        box = next(b for b in by_size if _takes_all(b, packed))  # the snuggest
        parcels.append(_parcel(box, packed))
        units = [u for i, u in enumerate(units) if i not in taken]
    return PackingSuggestion(tuple(parcels), tuple(unpacked))


def _unit(line: Line, spec: ItemSpec | None, boxes: Sequence[Box]) -> _Unit | Unpackable:
    """One unit of ``line``, which some box takes alone; else why none does."""
    if spec is None:
        return Unpackable.NOT_IN_CATALOGUE
    if spec.size is None:
        return Unpackable.NO_DIMENSIONS
    if spec.weight_g is None:
        return Unpackable.NO_WEIGHT
    unit = _Unit(line, spec.size.sides, spec.weight_g)
    fitting = [b for b in boxes if _fits(unit.dims, b.inner.sides)]
    if not fitting:
        return Unpackable.TOO_LARGE
    if all(unit.weight_g > _payload(b) for b in fitting):
        return Unpackable.TOO_HEAVY
    return unit


def _fits(unit: _Dims, space: _Dims) -> bool:
    """Both longest first: a unit fits a space when each side fits its counterpart."""
    return all(u <= s for u, s in zip(unit, space, strict=True))


def _payload(box: Box) -> int:
    return box.max_weight_g - box.tare_g


def _fullest(boxes: Sequence[Box], units: Sequence[_Unit]) -> list[int]:
    """Which of ``units`` the box taking the largest volume of them takes (``boxes``
    smallest first); every unit fits some box alone, so some box takes at least one."""
    best: tuple[int, list[int]] = (0, [])
    for box in boxes:
        packed = _fill(box, units)
        if len(packed) == len(units):
            return packed
        volume = sum(units[i].volume for i in packed)
        if volume > best[0]:
            best = (volume, packed)
    return best[1]


def _parcel(box: Box, units: Sequence[_Unit]) -> SuggestedParcel:
    quantities: dict[Line, int] = {}
    for unit in units:
        quantities[unit.line] = quantities.get(unit.line, 0) + 1
    lines = tuple(
        Line(line.line_id, line.sku, quantity)
        for line, quantity in sorted(quantities.items(), key=lambda lq: lq[0].line_id)
    )
    return SuggestedParcel(box, lines, sum(u.weight_g for u in units))


def _takes_all(box: Box, units: Sequence[_Unit]) -> bool:
    return len(_fill(box, units)) == len(units)


def _fill(box: Box, units: Sequence[_Unit]) -> list[int]:
    """Which of ``units`` (largest first) fit in ``box`` one after another."""
    space = (box.inner.length_mm, box.inner.width_mm, box.inner.height_mm)
    room = _payload(box)
    placed: list[tuple[int, int, int, int, int, int]] = []
    points: list[_Dims] = [(0, 0, 0)]
    packed = []
    for index, unit in enumerate(units):
        if unit.weight_g > room:
            continue
        spot = _spot(space, placed, points, unit.dims)
        if spot is None:
            continue
        (x, y, z), (dx, dy, dz) = spot
        item = (x, y, z, x + dx, y + dy, z + dz)
        placed.append(item)
        # Corners the new unit covers are gone; it leaves three new ones, lowest tried first.
        points = [p for p in points if not _inside(p, item)]
        points += [(x + dx, y, z), (x, y + dy, z), (x, y, z + dz)]
        points.sort(key=lambda p: (p[2], p[1], p[0]))
        room -= unit.weight_g
        packed.append(index)
    return packed


def _inside(point: _Dims, item: tuple[int, int, int, int, int, int]) -> bool:
    x, y, z = point
    x1, y1, z1, x2, y2, z2 = item
    return x1 <= x < x2 and y1 <= y < y2 and z1 <= z < z2


def _spot(
    space: _Dims,
    placed: Sequence[tuple[int, int, int, int, int, int]],
    points: Sequence[_Dims],
    dims: _Dims,
) -> tuple[_Dims, _Dims] | None:
    """The lowest free corner ``dims`` fits at, in the first way it can be turned to fit."""
    turns = sorted(set(permutations(dims)))
    for x, y, z in points:
        for dx, dy, dz in turns:
            if x + dx > space[0] or y + dy > space[1] or z + dz > space[2]:
                continue
            if not any(
                x < x2 and x1 < x + dx and y < y2 and y1 < y + dy and z < z2 and z1 < z + dz
                for x1, y1, z1, x2, y2, z2 in placed
            ):
                return (x, y, z), (dx, dy, dz)
    return None
