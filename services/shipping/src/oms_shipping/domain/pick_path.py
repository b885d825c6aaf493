"""Pick paths: the order a picker walks a location's bins in, and the pick list of one or
several fulfilment orders (a wave) sorted into that walk.

Each location lists its aisles in walking order and where each bin is (aisle, bay along
the aisle, shelf level). The walk is serpentine, as in most warehouses with one entry: up the
first aisle by ascending bay, down the second by descending bay, and so on; at one bay the
lowest level first. Each SKU has one pick bin per location (its forward pick face). A SKU
without a bin is still listed, last, with the reason.

The bins are configuration (``bins.yaml``, read by the adapters), validated as a whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from oms_events import StrictModel
from oms_events.values import Identifier, Sku
from oms_shipping.domain.fulfilment import FulfilmentOrder
from oms_shipping.domain.unique_ids import repeated

__all__ = ["LocationBins", "NoBin", "Pick", "PickBins", "PickPath", "PickedFor", "Place", "walk"]

_Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\s]+$")]
_Count = Annotated[int, Field(strict=True, ge=1, le=100_000)]
_MAX_ENTRIES = 100_000


class Place(StrictModel):
    aisle: _Code
    bay: _Count
    """Position along the aisle, counted from the aisle's first end."""
    level: _Count = 1
    """Shelf level, from the floor."""


class LocationBins(StrictModel):
    aisles: Annotated[tuple[_Code, ...], Field(min_length=1, max_length=10_000)]
    """In walking order."""
    bins: Annotated[dict[_Code, Place], Field(max_length=_MAX_ENTRIES)]
    skus: Annotated[dict[Sku, _Code], Field(max_length=_MAX_ENTRIES)]
    """Each SKU's pick bin."""

    @model_validator(mode="after")
    def _known(self) -> LocationBins:
        problems = [f"aisles: {a} listed more than once" for a in repeated(self.aisles)]
        walked = set(self.aisles)
        problems += [
            f"bins.{code}.aisle: {place.aisle!r} is not in aisles"
            for code, place in self.bins.items()
            if place.aisle not in walked
        ]
        problems += [
            f"skus.{sku}: bin {code!r} is not in bins"
            for sku, code in self.skus.items()
            if code not in self.bins
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def stop(self, code: str) -> tuple[int, int, int, str]:
        """Where a bin comes in the walk: aisle, bay along the snake, level, the code."""
        place = self.bins[code]
        aisle = self.aisles.index(place.aisle)
        return aisle, place.bay if aisle % 2 == 0 else -place.bay, place.level, code


class PickBins(StrictModel):
    locations: Annotated[dict[Identifier, LocationBins], Field(max_length=10_000)] = Field(
        default_factory=dict
    )


class NoBin(StrEnum):
    LOCATION_HAS_NO_BINS = "location_has_no_bins"
    SKU_HAS_NO_BIN = "sku_has_no_bin"


@dataclass(frozen=True)
class PickedFor:
    """Which line of which fulfilment order a picked quantity is for."""

    fulfilment_order_id: str
    order_id: str
    line_id: str
    quantity: int


@dataclass(frozen=True)
class Pick:
    """One stop of the walk: a SKU at a bin, for one or more lines."""

    sku: str
    bin: str | None
    place: Place | None
    lines: tuple[PickedFor, ...]
    no_bin: NoBin | None = None

    @property
    def quantity(self) -> int:
        return sum(line.quantity for line in self.lines)


@dataclass(frozen=True)
class PickPath:
    picks: tuple[Pick, ...]
    """In walking order; SKUs without a bin last, by SKU."""


def walk(location: LocationBins | None, work: Sequence[FulfilmentOrder]) -> PickPath:
    """The lines of ``work`` (one location's fulfilment orders), one pick per SKU and bin in
    walking order, each keeping which order and line its units are for."""
    found: dict[str, list[PickedFor]] = {}
    for fo in work:
        for line in fo.lines:
            found.setdefault(line.sku, []).append(
                PickedFor(fo.fulfilment_order_id, fo.order_id, line.line_id, line.quantity)
            )
    binned: list[tuple[tuple[int, int, int, str], Pick]] = []
    unbinned: list[Pick] = []
    for sku, lines in sorted(found.items()):
        code = location.skus.get(sku) if location else None
        if location is None or code is None:
            reason = NoBin.SKU_HAS_NO_BIN if location else NoBin.LOCATION_HAS_NO_BINS
            unbinned.append(Pick(sku, None, None, tuple(lines), reason))
        else:
            binned.append((location.stop(code), Pick(sku, code, location.bins[code], tuple(lines))))
    binned.sort(key=lambda stop: stop[0])
    return PickPath(tuple(pick for _, pick in binned) + tuple(unbinned))
