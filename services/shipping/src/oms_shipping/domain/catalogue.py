"""Each item's size and weight, read from the catalogue the inventory service imports too
(``deploy/demo/catalogue.yaml``): shipping takes each item's ``dimensions`` and ``weight_g``
and leaves the rest of the file (names, locations, stock policies) to inventory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oms_events.values import Sku
from oms_shipping.domain.boxes import Size
from oms_shipping.domain.unique_ids import require_unique

__all__ = ["CatalogueItem", "ItemCatalogue", "ItemSpec"]

_Grams = Annotated[int, Field(strict=True, gt=0, le=1_000_000_000)]


class _ShippingPart(BaseModel):
    """The part of a shared document shipping reads; the other fields are inventory's."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class CatalogueItem(_ShippingPart):
    sku: Sku
    dimensions: Size | None = None
    weight_g: _Grams | None = None


class ItemCatalogue(_ShippingPart):
    items: Annotated[tuple[CatalogueItem, ...], Field(max_length=100_000)] = ()

    @model_validator(mode="after")
    def _unique(self) -> ItemCatalogue:
        require_unique("items: sku", (item.sku for item in self.items))
        return self


@dataclass(frozen=True)
class ItemSpec:
    """What packing needs of an item; either may be unknown."""

    sku: str
    size: Size | None
    weight_g: int | None
