"""In-memory stand-ins for the shipping service's storage ports, answering as the SQL does."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from oms_events.codec import decode, new_event
from oms_events.values import DeliveryMethod
from oms_runtime import ConsumedRecord, Received, UnitOfWork
from oms_shipping.adapters.fulfilment_orders import NewFulfilmentOrder, Refusal
from oms_shipping.adapters.parcels import KeptScan, ParcelRow
from oms_shipping.domain.fulfilment import FulfilmentOrder, FulfilmentStatus, Line
from oms_shipping.domain.tracking import ParcelStatus

P = TypeVar("P")
_PICKUP = (DeliveryMethod.CLICK_AND_COLLECT.value, DeliveryMethod.SHIP_TO_STORE.value)


@dataclass
class FakeFulfilmentOrders:
    orders: dict[str, FulfilmentOrder] = field(default_factory=dict)
    refusals: dict[object, Refusal] = field(default_factory=dict)

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
            )
        return fresh

    async def lock(self, conn: object, fulfilment_order_id: str) -> FulfilmentOrder | None:
        found = self.orders.get(fulfilment_order_id)
        return copy.deepcopy(found) if found else None  # the caller's copy, as a row read

    async def save(self, conn: object, fo: FulfilmentOrder, at: datetime) -> None:
        self.orders[fo.fulfilment_order_id] = copy.deepcopy(fo)

    async def keep_refusal(self, conn: object, refusal: Refusal) -> None:
        self.refusals.setdefault(refusal.event_id, refusal)

    async def expire_pickups(
        self, conn: object, now: datetime, limit: int
    ) -> list[FulfilmentOrder]:
        due = sorted(
            (fo for fo in self.orders.values() if fo.hold_until and fo.hold_until <= now),
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
        self,
        conn: object,
        *,
        carrier: str,
        tracking_numbers: Sequence[str],
        fulfilment_order_id: str,
        order_id: str,
        handed_over_at: datetime,
    ) -> None:
        for number in tracking_numbers:
            self.parcels[(carrier, number)] = ParcelRow(
                carrier,
                number,
                fulfilment_order_id,
                order_id,
                ParcelStatus.HANDED_OVER,
                handed_over_at,
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

    async def complete_deliveries(
        self, conn: object, fulfilment_order_ids: Sequence[str]
    ) -> list[str]:
        done = []
        for fo_id in fulfilment_order_ids:
            fo = self.fulfilment.orders.get(fo_id)
            mine = [p for p in self.parcels.values() if p.fulfilment_order_id == fo_id]
            if (
                fo
                and fo.status is FulfilmentStatus.SHIPPED
                and all(p.status is ParcelStatus.DELIVERED for p in mine)
            ):
                fo.delivered()
                if fo.status is FulfilmentStatus.DELIVERED:
                    done.append(fo_id)
        return done


def received(payload: P, topic: str, subject: str = "ord-1") -> Received[P]:
    envelope = new_event(payload, subject=subject, source="test", correlation_id="c-1")  # type: ignore[arg-type]
    return Received(payload, envelope, ConsumedRecord(topic, 0, 0, subject.encode(), None))


def emitted(work: UnitOfWork) -> list[object]:
    return [decode(record.payload).payload for record in work.outbox.records]
