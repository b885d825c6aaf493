"""The catalogue document: items, locations and per-location stock policies.

Operators keep it in a file (JSON or YAML) and import it; it is validated as a whole before
anything is written, and every error names its place in the document.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from oms_events.values import Identifier, LocationType, Sku

__all__ = [
    "Capability",
    "Catalogue",
    "CatalogueError",
    "Dimensions",
    "Item",
    "Location",
    "StockPolicy",
    "parse_catalogue",
]

_Name = Annotated[str, StringConstraints(min_length=1, max_length=300)]
_Count = Annotated[int, Field(strict=True, ge=0, le=1_000_000_000)]
_Positive = Annotated[int, Field(strict=True, gt=0, le=1_000_000_000)]
_MAX_ENTRIES = 100_000


class Capability(StrEnum):
    SHIP = "ship"
    PICKUP = "pickup"
    SHIP_FROM_STORE = "ship_from_store"
    SHIP_TO_STORE = "ship_to_store"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dimensions(_Strict):
    length_mm: _Positive
    width_mm: _Positive
    height_mm: _Positive


class Item(_Strict):
    sku: Sku
    name: _Name
    dimensions: Dimensions | None = None
    weight_g: _Positive | None = None
    returnable: bool = True
    safety_stock: _Count = 0
    """Held back at every location unless a stock policy says otherwise."""
    low_stock_threshold: _Count = 0


class Location(_Strict):
    location_id: Identifier
    name: _Name
    type: LocationType
    latitude: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    longitude: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
    capabilities: tuple[Capability, ...] = ()
    channels: tuple[Identifier, ...] = ()
    """The sales channels whose customers this location's stock is offered to."""
    active: bool = True


class StockPolicy(_Strict):
    """Overrides of an item's safety stock and low-stock threshold at one location."""

    sku: Sku
    location_id: Identifier
    safety_stock: _Count | None = None
    low_stock_threshold: _Count | None = None


class Catalogue(_Strict):
    items: Annotated[tuple[Item, ...], Field(max_length=_MAX_ENTRIES)] = ()
    locations: Annotated[tuple[Location, ...], Field(max_length=_MAX_ENTRIES)] = ()
    stock_policies: Annotated[tuple[StockPolicy, ...], Field(max_length=_MAX_ENTRIES)] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Catalogue:
        _unique("items", [i.sku for i in self.items], "sku")
        _unique("locations", [loc.location_id for loc in self.locations], "location_id")
        _unique(
            "stock_policies",
            [f"{p.sku}@{p.location_id}" for p in self.stock_policies],
            "sku@location",
        )
        return self


def _unique(section: str, values: list[str], what: str) -> None:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise ValueError(f"{section}[{index}]: {what} {value!r} appears twice")
        seen.add(value)


class CatalogueError(ValueError):
    """The document is not a valid catalogue; ``errors`` lists each problem with its place."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("invalid catalogue:\n" + "\n".join(f"  {e}" for e in errors))
        self.errors = errors


def parse_catalogue(document: Any) -> Catalogue:
    try:
        return Catalogue.model_validate(document)
    except ValidationError as exc:
        raise CatalogueError(
            [
                f"{'.'.join(str(p) for p in error['loc']) or '(document)'}: {error['msg']}"
                for error in exc.errors(include_url=False)
            ]
        ) from None
