"""In-memory stand-ins for the shipping service's storage ports, answering as the SQL does."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from oms_events.codec import decode, new_event
from oms_events.values import DeliveryMethod
from oms_runtime import ConsumedRecord, Received, UnitOfWork
from oms_shipping.adapters.fulfilment_orders import NewFulfilmentOrder, Refusal, postal_address
from oms_shipping.adapters.labels import LabelRow, ReturnSource
from oms_shipping.adapters.parcels import KeptScan, ParcelRow
from oms_shipping.domain.boxes import Box, BoxCatalogue, Size
from oms_shipping.domain.catalogue import ItemSpec
from oms_shipping.domain.fulfilment import FulfilmentOrder, FulfilmentStatus, Line, Shipment
from oms_shipping.domain.tracking import ParcelStatus

P = TypeVar("P")


def box(box_id: str, inner: tuple[int, int, int], max_weight_g: int, tare_g: int = 100) -> Box:
    """A box 10 mm larger outside than inside."""
    return Box(
        id=box_id,
        inner=Size(length_mm=inner[0], width_mm=inner[1], height_mm=inner[2]),
        outer=Size(length_mm=inner[0] + 10, width_mm=inner[1] + 10, height_mm=inner[2] + 10),
        max_weight_g=max_weight_g,
        tare_g=tare_g,
    )


BOXES = BoxCatalogue(
    boxes=(
        box("S", (250, 170, 100), 5_000),
        box("M-30x20x15", (300, 200, 150), 10_000),
        box("L", (400, 300, 200), 20_000, tare_g=300),
        box("BAG", (400, 300, 150), 8_000, tare_g=20).model_copy(update={"counter_only": True}),
    )
)
_PICKUP = (DeliveryMethod.CLICK_AND_COLLECT.value, DeliveryMethod.SHIP_TO_STORE.value)


@dataclass
class FakeFulfilmentOrders:
    orders: dict[str, FulfilmentOrder] = field(default_factory=dict)
    refusals: dict[object, Refusal] = field(default_factory=dict)
    api_taken: set[UUID] = field(default_factory=set)

    async def save_created(self, conn: object, new: Sequence[NewFulfilmentOrder]) -> int:
        fresh = 0
        for n in new:
            if n.fulfilment_order_id in self.orders:  # ON CONFLICT DO NOTHING
                continue
            fresh += 1
            self.orders[n.fulfilment_order_id] = FulfilmentOrder(
                fulfilment_order_id=n.fulfilment_order_id,
                order_id=n.order_id,
                location_id=n.location_id,
                lines=tuple(Line(x["line_id"], x["sku"], x["quantity"]) for x in n.lines),
                pickup_store_id=n.pickup_store_id if n.delivery_method in _PICKUP else None,
                delivery_method=n.delivery_method,
                ship_to=postal_address(
                    json.dumps(n.shipping_address) if n.shipping_address else None
                ),
                promised_by=n.promised_by,
            )
        return fresh

    async def lock(self, conn: object, fulfilment_order_id: str) -> FulfilmentOrder | None:
        found = self.orders.get(fulfilment_order_id)
        return copy.deepcopy(found) if found else None  # the caller's copy, as a row read

    async def find(self, conn: object, fulfilment_order_id: str) -> FulfilmentOrder | None:
        return await self.lock(conn, fulfilment_order_id)

    async def accepted(self, conn: object, location_id: str, limit: int) -> list[FulfilmentOrder]:
        # Kept in release order, which is the deadline order in these tests.
        return [
            copy.deepcopy(fo)
            for fo in self.orders.values()
            if fo.location_id == location_id and fo.status is FulfilmentStatus.ACCEPTED
        ][:limit]

    async def save(self, conn: object, fo: FulfilmentOrder, at: datetime) -> None:
        self.orders[fo.fulfilment_order_id] = copy.deepcopy(fo)

    async def keep_refusal(self, conn: object, refusal: Refusal) -> None:
        self.refusals.setdefault(refusal.event_id, refusal)

    async def taken_over_api(self, conn: object, action_id: UUID) -> None:
        self.api_taken.add(action_id)

    async def api_actions(self, conn: object, action_ids: Sequence[UUID]) -> set[UUID]:
        return self.api_taken & set(action_ids)

    async def expire_pickups(
        self, conn: object, now: datetime, limit: int, only: Sequence[str] | None = None
    ) -> list[FulfilmentOrder]:
        due = sorted(
            (
                fo
                for fo in self.orders.values()
                if fo.hold_until
                and fo.hold_until <= now
                and (only is None or fo.fulfilment_order_id in only)
            ),
            key=lambda fo: fo.hold_until or now,
        )
        expired = []
        for fo in due:
            if len(expired) < limit and fo.expire(now):
                expired.append(copy.deepcopy(fo))
        return expired


@dataclass
class FakeParcels:
    fulfilment: FakeFulfilmentOrders
    parcels: dict[tuple[str, str], ParcelRow] = field(default_factory=dict)
    scans: list[KeptScan] = field(default_factory=list)

    async def tracking_numbers_in_use(
        self, conn: object, carrier: str, tracking_numbers: Sequence[str]
    ) -> list[str]:
        return sorted(t for t in tracking_numbers if (carrier, t) in self.parcels)

    async def add_parcels(
        self, conn: object, *, shipment: Shipment, fulfilment_order_id: str, order_id: str
    ) -> None:
        for parcel in shipment.parcels:
            self.parcels[(parcel.carrier, parcel.tracking_number)] = ParcelRow(
                parcel.carrier,
                parcel.tracking_number,
                fulfilment_order_id,
                order_id,
                shipment.shipment_id,
                ParcelStatus.HANDED_OVER,
                shipment.shipped_at,
            )

    async def lock_parcels(
        self, conn: object, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], ParcelRow]:
        return {k: self.parcels[k] for k in keys if k in self.parcels}

    async def save_parcels(self, conn: object, parcels: Sequence[ParcelRow]) -> None:
        for parcel in parcels:
            self.parcels[(parcel.carrier, parcel.tracking_number)] = parcel

    async def keep_scans(self, conn: object, scans: Sequence[KeptScan]) -> None:
        self.scans.extend(scans)

    async def complete_deliveries(self, conn: object, shipment_ids: Sequence[str]) -> list[str]:
        done = []
        for shipment_id in sorted(shipment_ids):
            mine = [p for p in self.parcels.values() if p.shipment_id == shipment_id]
            fo = self.fulfilment.orders[mine[0].fulfilment_order_id]
            if fo.ships_to_store or any(p.status is not ParcelStatus.DELIVERED for p in mine):
                continue
            done.append(shipment_id)
            work = [
                p for p in self.parcels.values() if p.fulfilment_order_id == fo.fulfilment_order_id
            ]
            if all(p.status is ParcelStatus.DELIVERED for p in work):
                fo.delivered()
        return done


@dataclass
class FakeItems:
    items: dict[str, ItemSpec] = field(default_factory=dict)

    async def specs(self, conn: object, skus: Sequence[str]) -> dict[str, ItemSpec]:
        return {sku: self.items[sku] for sku in skus if sku in self.items}


@dataclass
class FakeLabels:
    fulfilment: FakeFulfilmentOrders
    counters: dict[str, int] = field(default_factory=dict)
    labels: dict[tuple[str, str, str], LabelRow] = field(default_factory=dict)

    async def draw_serials(self, conn: object, counts: Mapping[str, int]) -> dict[str, int]:
        first = {}
        for carrier, n in counts.items():
            first[carrier] = self.counters.get(carrier, 0) + 1
            self.counters[carrier] = self.counters.get(carrier, 0) + n
        return first

    async def advance_serials(self, conn: object, serials: Mapping[str, int]) -> None:
        for carrier, serial in serials.items():
            self.counters[carrier] = max(self.counters.get(carrier, 0), serial)

    async def save_labels(self, conn: object, labels: Sequence[LabelRow]) -> None:
        for label in labels:
            self.labels.setdefault((label.fulfilment_order_id, label.parcel_id, label.kind), label)

    async def void_labels(self, conn: object, fulfilment_order_id: str) -> None:
        for key in [k for k in self.labels if k[0] == fulfilment_order_id and k[2] == "outbound"]:
            del self.labels[key]

    async def label_document(
        self, conn: object, fulfilment_order_id: str, parcel_id: str, kind: str
    ) -> tuple[bytes, str, str] | None:
        found = self.labels.get((fulfilment_order_id, parcel_id, kind))
        return (found.pdf, found.zpl, found.tracking_number) if found else None

    async def keep_refusal(self, conn: object, refusal: Refusal) -> None:
        await self.fulfilment.keep_refusal(conn, refusal)

    async def return_source(
        self, conn: object, fulfilment_order_id: str, parcel_id: str
    ) -> ReturnSource | None:
        label = self.labels.get((fulfilment_order_id, parcel_id, "outbound"))
        fo = self.fulfilment.orders.get(fulfilment_order_id)
        if label is None or fo is None:
            return None
        parcel_ids = sorted(
            p for f, p, k in self.labels if f == fulfilment_order_id and k == "outbound"
        )
        return ReturnSource(
            order_id=fo.order_id,
            location_id=fo.location_id,
            status=fo.status.value,
            shipping_address=fo.ship_to.model_dump_json() if fo.ship_to else None,
            carrier=label.carrier,
            service=label.service,
            weight_grams=label.weight_grams,
            parcel_number=parcel_ids.index(parcel_id) + 1,
            parcel_count=len(parcel_ids),
        )


@dataclass
class FakeDecisions:
    kept: dict[tuple[UUID, str], Any] = field(default_factory=dict)

    async def keep_decisions(
        self, conn: object, kind: str, decisions: Sequence[tuple[UUID, Any]]
    ) -> None:
        for cause, decision in decisions:
            self.kept.setdefault((cause, kind), decision)

    async def recall(self, conn: object, cause: UUID, kind: str) -> Any | None:
        return self.kept.get((cause, kind))


def received(payload: P, topic: str, subject: str = "ord-1") -> Received[P]:
    envelope = new_event(payload, subject=subject, source="test", correlation_id="c-1")  # type: ignore[arg-type]
    return Received(payload, envelope, ConsumedRecord(topic, 0, 0, subject.encode(), None))


def emitted(work: UnitOfWork) -> list[object]:
    return [decode(record.payload).payload for record in work.outbox.records]
