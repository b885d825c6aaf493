"""The catalogue: items, locations and per-location stock policies.

Operators keep it in a file (JSON or YAML) and import it; it is validated as a whole before
anything is written (``oms_inventory.adapters.catalogue_file``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from oms_events import StrictModel
from oms_events.values import Identifier, LocationType, Sku

__all__ = [
    "Capability",
    "Catalogue",
    "Dimensions",
    "Item",
    "Location",
    "StockPolicy",
    "catalogue_problems",
]

_Name = Annotated[str, StringConstraints(min_length=1, max_length=300)]
# A location is half of the ``sku@location`` key; ``*`` stands for the whole network there.
_LocationId = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^@*\s\x00-\x1f\x7f]+$")
]
_Count = Annotated[int, Field(strict=True, ge=0, le=1_000_000_000)]
_Positive = Annotated[int, Field(strict=True, gt=0, le=1_000_000_000)]
_MAX_ENTRIES = 100_000


class Capability(StrEnum):
    SHIP = "ship"
    PICKUP = "pickup"
    SHIP_FROM_STORE = "ship_from_store"
    SHIP_TO_STORE = "ship_to_store"


class Dimensions(StrictModel):
    length_mm: _Positive
    width_mm: _Positive
    height_mm: _Positive


class Item(StrictModel):
    sku: Sku
    name: _Name
    dimensions: Dimensions | None = None
    weight_g: _Positive | None = None
    returnable: bool = True
    safety_stock: _Count = 0
    """Held back at every location unless a stock policy says otherwise."""
    low_stock_threshold: _Count = 0


class Location(StrictModel):
    location_id: _LocationId
    name: _Name
    type: LocationType
    latitude: Annotated[float, Field(strict=True, ge=-90, le=90, allow_inf_nan=False)]
    longitude: Annotated[float, Field(strict=True, ge=-180, le=180, allow_inf_nan=False)]
    capabilities: tuple[Capability, ...] = ()
    channels: tuple[Identifier, ...] = ()
    """The sales channels whose customers this location's stock is offered to."""
    active: bool = True


class StockPolicy(StrictModel):
    """Overrides of an item's safety stock and low-stock threshold at one location."""

    sku: Sku
    location_id: Identifier
    safety_stock: _Count | None = None
    low_stock_threshold: _Count | None = None


class Catalogue(StrictModel):
    items: Annotated[tuple[Item, ...], Field(max_length=_MAX_ENTRIES)] = ()
    locations: Annotated[tuple[Location, ...], Field(max_length=_MAX_ENTRIES)] = ()
    stock_policies: Annotated[tuple[StockPolicy, ...], Field(max_length=_MAX_ENTRIES)] = ()


def _duplicates(section: str, field: str, values: list[str]) -> list[str]:
    first: dict[str, int] = {}
    errors = []
    for index, value in enumerate(values):
        if value in first:
            errors.append(
                f"{section}.{index}.{field}: {value!r} appears twice"
                f" (first at {section}.{first[value]})"
            )
        else:
            first[value] = index
    return errors


def catalogue_problems(catalogue: Catalogue) -> list[str]:
    """What the schema cannot see: ids that appear twice, each named by its place."""
    return [
        *_duplicates("items", "sku", [i.sku for i in catalogue.items]),
        *_duplicates("locations", "location_id", [loc.location_id for loc in catalogue.locations]),
        *_duplicates(
            "stock_policies",
            "sku",
            [f"{p.sku}@{p.location_id}" for p in catalogue.stock_policies],
        ),
    ]
