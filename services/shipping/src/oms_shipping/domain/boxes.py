"""The boxes a location packs into: inner space and weight limit for packing, outer size and
tare for the carriers (a packed parcel's size and weight come from its box).

The list is configuration (``boxes.yaml``, read by the adapters), validated as a whole.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from oms_events import StrictModel
from oms_shipping.domain.unique_ids import require_unique

__all__ = ["Box", "BoxCatalogue", "Size"]

_Millimetres = Annotated[int, Field(strict=True, gt=0, le=10_000)]
_Grams = Annotated[int, Field(strict=True, gt=0, le=1_000_000)]
_BoxId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\s]+$")]


class Size(StrictModel):
    length_mm: _Millimetres
    width_mm: _Millimetres
    height_mm: _Millimetres

    @property
    def sides(self) -> tuple[int, int, int]:
        """Longest first: two sizes compare side by side whatever way they are turned."""
        a, b, c = sorted((self.length_mm, self.width_mm, self.height_mm), reverse=True)
        return a, b, c

    @property
    def volume_mm3(self) -> int:
        return self.length_mm * self.width_mm * self.height_mm


class Box(StrictModel):
    id: _BoxId
    inner: Size
    """The space items go in."""
    outer: Size
    """What the carrier measures."""
    max_weight_g: _Grams
    """Items and box together."""
    tare_g: _Grams
    """The empty box with its filling."""
    counter_only: bool = False
    """A bag for click & collect work waiting at the counter: never for a carrier."""

    @model_validator(mode="after")
    def _consistent(self) -> Box:
        if any(i > o for i, o in zip(self.inner.sides, self.outer.sides, strict=True)):
            raise ValueError("the inner size is larger than the outer size")
        if self.tare_g >= self.max_weight_g:
            raise ValueError("the tare leaves no weight for items")
        return self


class BoxCatalogue(StrictModel):
    boxes: Annotated[tuple[Box, ...], Field(min_length=1, max_length=1000)]

    @model_validator(mode="after")
    def _unique(self) -> BoxCatalogue:
        require_unique("boxes: id", (box.id for box in self.boxes))
        return self

    def for_work(self, for_pickup: bool) -> tuple[Box, ...]:
        """The boxes to pack work in: counter bags only for work collected here."""
        return tuple(box for box in self.boxes if for_pickup or not box.counter_only)

    def find(self, box_id: str) -> Box | None:
        """The configured box, with its outer size and tare; None for an unknown id."""
        return next((box for box in self.boxes if box.id == box_id), None)
