"""What the staff are told to pick and which boxes to pack into: read-only use cases on a
location's work, the bins and boxes configured and the catalogue's sizes and weights."""

from __future__ import annotations

from dataclasses import dataclass

from oms_runtime import UnitOfWork
from oms_shipping.domain.boxes import BoxCatalogue
from oms_shipping.domain.fulfilment import FulfilmentOrder
from oms_shipping.domain.packing import PackingSuggestion, suggest_parcels
from oms_shipping.domain.pick_path import PickBins, PickPath, walk
from oms_shipping.service_layer.stores import FulfilmentOrderStore, ItemStore

__all__ = ["PickPack"]


@dataclass
class PickPack:
    bins: PickBins
    boxes: BoxCatalogue
    fulfilment_orders: FulfilmentOrderStore
    items: ItemStore

    def pick_list(self, fo: FulfilmentOrder) -> PickPath:
        """The work's lines in walking order."""
        return walk(self.bins.locations.get(fo.location_id), [fo])

    async def wave(
        self, work: UnitOfWork, location_id: str, limit: int
    ) -> tuple[list[FulfilmentOrder], PickPath]:
        """The location's accepted work (oldest deadline first, at most ``limit``) picked in
        one walk: each SKU once per bin, with the lines it is for."""
        orders = await self.fulfilment_orders.accepted(work.conn, location_id, limit)
        return orders, walk(self.bins.locations.get(location_id), orders)

    async def packing(self, work: UnitOfWork, fo: FulfilmentOrder) -> PackingSuggestion:
        """Boxes for the work's lines: fewest boxes, then least empty space."""
        specs = await self.items.specs(work.conn, sorted({line.sku for line in fo.lines}))
        return suggest_parcels(fo.lines, specs, self.boxes.for_work(fo.for_pickup))
