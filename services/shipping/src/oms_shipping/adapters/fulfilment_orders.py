"""Fulfilment orders and the staff actions refused on them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from oms_events.values import DeliveryMethod
from oms_shipping.domain.dispatch import PostalAddress
from oms_shipping.domain.fulfilment import (
    FulfilmentOrder,
    FulfilmentStatus,
    Line,
    Parcel,
    ParcelLabel,
    Shipment,
    ShippedParcel,
)

__all__ = [
    "PICKUP_METHODS",
    "NewFulfilmentOrder",
    "Refusal",
    "accepted",
    "api_actions",
    "expire_pickups",
    "find",
    "keep_refusal",
    "lock",
    "postal_address",
    "save",
    "save_created",
    "taken_over_api",
    "view",
    "work_list",
]


@dataclass(frozen=True)
class NewFulfilmentOrder:
    fulfilment_order_id: str
    order_id: str
    location_id: str
    location_type: str
    delivery_method: str
    lines: list[dict[str, Any]]
    shipping_address: dict[str, Any] | None
    pickup_store_id: str | None
    promised_by: datetime | None
    accept_by: datetime


@dataclass(frozen=True)
class Refusal:
    event_id: UUID
    fulfilment_order_id: str
    order_id: str
    location_id: str
    action: str
    reason: str
    detail: str


async def save_created(conn: asyncpg.Connection, new: Sequence[NewFulfilmentOrder]) -> int:
    """A run of released work in one statement; one already kept stays as it is. Returns how
    many were new."""
    rows = await conn.fetch(
        "INSERT INTO fulfilment_orders (fulfilment_order_id, order_id, location_id,"
        " location_type, delivery_method, lines, shipping_address, pickup_store_id,"
        " promised_by, accept_by, status)"
        " SELECT f, o, l, lt, dm, li::jsonb, a::jsonb, p, pb, ab, $11"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
        " $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[])"
        " AS t(f, o, l, lt, dm, li, a, p, pb, ab)"
        " ON CONFLICT (fulfilment_order_id) DO NOTHING RETURNING fulfilment_order_id",
        [n.fulfilment_order_id for n in new],
        [n.order_id for n in new],
        [n.location_id for n in new],
        [n.location_type for n in new],
        [n.delivery_method for n in new],
        [json.dumps(n.lines) for n in new],
        [json.dumps(n.shipping_address) if n.shipping_address else None for n in new],
        [n.pickup_store_id for n in new],
        [n.promised_by for n in new],
        [n.accept_by for n in new],
        FulfilmentStatus.CREATED.value,
    )
    return len(rows)


# Orders the customer collects at a store: work done at that store is set aside there; work
# sourced elsewhere travels to it with a carrier first.
PICKUP_METHODS = (DeliveryMethod.CLICK_AND_COLLECT.value, DeliveryMethod.SHIP_TO_STORE.value)


def _lines(raw: Any) -> tuple[Line, ...]:
    return tuple(Line(x["line_id"], x["sku"], x["quantity"]) for x in raw)


_LABEL_FIELDS = ("name", "line1", "line2", "city", "postal_code", "country")


def postal_address(stored: str | None) -> PostalAddress | None:
    """What a label prints of a kept shipping address (no email, no phone)."""
    if stored is None:
        return None
    address = json.loads(stored)
    return PostalAddress(**{k: address[k] for k in _LABEL_FIELDS if address.get(k) is not None})


_TRACKING_NUMBERS = (
    "coalesce((SELECT array_agg(p.tracking_number ORDER BY p.tracking_number) FROM parcels p"
    " WHERE p.fulfilment_order_id = f.fulfilment_order_id), '{}') AS tracking_numbers"
)
_LABELS = (
    "coalesce((SELECT json_agg(json_build_object('parcel_id', l.parcel_id, 'carrier',"
    " l.carrier, 'tracking_number', l.tracking_number) ORDER BY l.parcel_id) FROM labels l"
    " WHERE l.fulfilment_order_id = f.fulfilment_order_id AND l.kind = 'outbound'),"
    " '[]'::json) AS labels"
)
_LOAD = (
    "SELECT f.fulfilment_order_id, f.order_id, f.location_id, f.lines, f.status, f.parcels,"
    " f.carrier, f.delivery_method, f.pickup_store_id, f.pickup_code, f.hold_until,"
    " f.shipping_address, f.promised_by, f.policy, f.promise_at_risk, f.canceled_lines,"
    " f.shipments, " + _TRACKING_NUMBERS + ", " + _LABELS + " FROM fulfilment_orders f"
)


def _loaded(row: asyncpg.Record) -> FulfilmentOrder:
    return FulfilmentOrder(
        fulfilment_order_id=row["fulfilment_order_id"],
        order_id=row["order_id"],
        location_id=row["location_id"],
        lines=_lines(json.loads(row["lines"])),
        status=FulfilmentStatus(row["status"]),
        parcels=tuple(
            Parcel(p["parcel_id"], p["box"], p["weight_grams"], _lines(p["lines"]))
            for p in json.loads(row["parcels"])
        ),
        carrier=row["carrier"],
        tracking_numbers=tuple(row["tracking_numbers"]),
        labels=tuple(
            ParcelLabel(r["parcel_id"], r["carrier"], r["tracking_number"])
            for r in json.loads(row["labels"])
        ),
        pickup_store_id=(
            row["pickup_store_id"] if row["delivery_method"] in PICKUP_METHODS else None
        ),
        pickup_code=row["pickup_code"],
        hold_until=row["hold_until"],
        delivery_method=row["delivery_method"],
        ship_to=postal_address(row["shipping_address"]),
        promised_by=row["promised_by"],
        policy=row["policy"],
        promise_at_risk=row["promise_at_risk"],
        canceled=_lines(json.loads(row["canceled_lines"])),
        shipments=tuple(_shipment(x) for x in json.loads(row["shipments"])),
    )


def _shipment(raw: Any) -> Shipment:
    return Shipment(
        shipment_id=raw["shipment_id"],
        parcel_ids=tuple(raw["parcel_ids"]),
        parcels=tuple(
            ShippedParcel(p["parcel_id"], p["carrier"], p["tracking_number"])
            for p in raw["parcels"]
        ),
        lines=_lines(raw["lines"]),
        shipped_at=datetime.fromisoformat(raw["shipped_at"]),
    )


async def expire_pickups(
    conn: asyncpg.Connection, now: datetime, limit: int, only: Sequence[str] | None = None
) -> list[FulfilmentOrder]:
    """Up to ``limit`` pickups past their ``hold_until`` become UNCOLLECTED (the domain's
    ``expire``), in one statement; instances sweeping together skip each other's rows. The
    expiry needs neither their tracking numbers nor their labels: they come back empty.
    ``only``: of these fulfilment orders (a rebuild applying the sweep's recorded
    decisions)."""
    rows = await conn.fetch(
        "UPDATE fulfilment_orders f SET status = $3, updated_at = now()"
        " FROM (SELECT fulfilment_order_id FROM fulfilment_orders"
        "       WHERE status = $4 AND hold_until <= $1"
        "       AND ($5::text[] IS NULL OR fulfilment_order_id = ANY($5::text[]))"
        "       ORDER BY hold_until LIMIT $2 FOR UPDATE SKIP LOCKED) AS due"
        " WHERE f.fulfilment_order_id = due.fulfilment_order_id"
        " RETURNING f.*, '{}'::text[] AS tracking_numbers, '[]'::json AS labels",
        now,
        limit,
        FulfilmentStatus.UNCOLLECTED.value,
        FulfilmentStatus.READY_FOR_PICKUP.value,
        list(only) if only is not None else None,
    )
    return [_loaded(r) for r in rows]


async def lock(conn: asyncpg.Connection, fulfilment_order_id: str) -> FulfilmentOrder | None:
    row = await conn.fetchrow(
        _LOAD + " WHERE f.fulfilment_order_id = $1 FOR UPDATE OF f", fulfilment_order_id
    )
    return _loaded(row) if row else None


async def find(conn: asyncpg.Connection, fulfilment_order_id: str) -> FulfilmentOrder | None:
    """As ``lock``, to read only."""
    row = await conn.fetchrow(_LOAD + " WHERE f.fulfilment_order_id = $1", fulfilment_order_id)
    return _loaded(row) if row else None


async def accepted(conn: asyncpg.Connection, location_id: str, limit: int) -> list[FulfilmentOrder]:
    """The location's accepted work not yet being picked, oldest deadline first."""
    rows = await conn.fetch(
        _LOAD + " WHERE f.location_id = $1 AND f.status = $2"
        " ORDER BY f.accept_by, f.fulfilment_order_id LIMIT $3",
        location_id,
        FulfilmentStatus.ACCEPTED.value,
        limit,
    )
    return [_loaded(r) for r in rows]


async def save(conn: asyncpg.Connection, fo: FulfilmentOrder, at: datetime) -> None:
    """The order's status, lines, parcels and carrier as the aggregate has them."""
    await conn.execute(
        "UPDATE fulfilment_orders SET status = $2, lines = $3::jsonb, parcels = $4::jsonb,"
        " carrier = $5, shipped_at = CASE WHEN $2 = 'SHIPPED' THEN $6 ELSE shipped_at END,"
        " pickup_code = $7, hold_until = $8, policy = $9, promise_at_risk = $10,"
        " canceled_lines = $11::jsonb, shipments = $12::jsonb, updated_at = now()"
        " WHERE fulfilment_order_id = $1",
        fo.fulfilment_order_id,
        fo.status.value,
        json.dumps([_line(line) for line in fo.lines]),
        json.dumps(
            [
                {
                    "parcel_id": p.parcel_id,
                    "box": p.box,
                    "weight_grams": p.weight_grams,
                    "lines": [_line(line) for line in p.lines],
                }
                for p in fo.parcels
            ]
        ),
        fo.carrier,
        at,
        fo.pickup_code,
        fo.hold_until,
        fo.policy,
        fo.promise_at_risk,
        json.dumps([_line(line) for line in fo.canceled]),
        json.dumps([_shipment_json(shipment) for shipment in fo.shipments]),
    )


def _shipment_json(shipment: Shipment) -> dict[str, Any]:
    return {
        "shipment_id": shipment.shipment_id,
        "parcel_ids": list(shipment.parcel_ids),
        "parcels": [
            {"parcel_id": p.parcel_id, "carrier": p.carrier, "tracking_number": p.tracking_number}
            for p in shipment.parcels
        ],
        "lines": [_line(line) for line in shipment.lines],
        "shipped_at": shipment.shipped_at.isoformat(),
    }


def _line(line: Line) -> dict[str, Any]:
    return {"line_id": line.line_id, "sku": line.sku, "quantity": line.quantity}


async def taken_over_api(conn: asyncpg.Connection, action_id: UUID) -> None:
    await conn.execute(
        "INSERT INTO staff_api_actions (action_id) VALUES ($1) ON CONFLICT DO NOTHING", action_id
    )


async def api_actions(conn: asyncpg.Connection, action_ids: Sequence[UUID]) -> set[UUID]:
    rows = await conn.fetch(
        "SELECT action_id FROM staff_api_actions WHERE action_id = ANY($1::uuid[])",
        list(action_ids),
    )
    return {row["action_id"] for row in rows}


async def keep_refusal(conn: asyncpg.Connection, refusal: Refusal) -> None:
    await conn.execute(
        "INSERT INTO refused_actions (event_id, fulfilment_order_id, order_id, location_id,"
        " action, reason, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (event_id) DO NOTHING",
        refusal.event_id,
        refusal.fulfilment_order_id,
        refusal.order_id,
        refusal.location_id,
        refusal.action,
        refusal.reason,
        refusal.detail[:2000],
    )


_VIEW = (
    "SELECT f.fulfilment_order_id, f.order_id, f.location_id, f.delivery_method,"
    " CASE WHEN f.delivery_method = ANY($1::text[]) THEN f.pickup_store_id END"
    " AS pickup_store_id, f.status,"
    " f.lines, f.canceled_lines, f.parcels, f.carrier, f.accept_by, f.promised_by,"
    " f.hold_until, f.updated_at, f.policy, f.promise_at_risk, f.shipments, "
    + _TRACKING_NUMBERS
    + " FROM fulfilment_orders f"
)


def _view(row: asyncpg.Record) -> dict[str, Any]:
    view = dict(row)
    view["lines"] = json.loads(row["lines"])
    view["canceled_lines"] = json.loads(row["canceled_lines"])
    view["parcels"] = json.loads(row["parcels"])
    view["shipments"] = json.loads(row["shipments"])
    return view


async def view(conn: asyncpg.Connection, fulfilment_order_id: str) -> dict[str, Any] | None:
    """One fulfilment order as the staff see it (no address, no pickup code)."""
    row = await conn.fetchrow(
        _VIEW + " WHERE f.fulfilment_order_id = $2", list(PICKUP_METHODS), fulfilment_order_id
    )
    return _view(row) if row else None


async def work_list(
    conn: asyncpg.Connection, location_id: str | None, status: str | None, limit: int
) -> list[dict[str, Any]]:
    """A location's work (every location's for None), and a pickup store's ship-to-store work
    on its way there or waiting for its customers; oldest deadline first."""
    rows = await conn.fetch(
        _VIEW + " WHERE ($2::text IS NULL OR f.location_id = $2"
        " OR (f.pickup_store_id = $2 AND f.delivery_method = ANY($1::text[])"
        " AND f.status IN ('SHIPPED', 'READY_FOR_PICKUP')))"
        " AND ($3::text IS NULL OR f.status = $3)"
        " ORDER BY f.accept_by, f.fulfilment_order_id LIMIT $4",
        list(PICKUP_METHODS),
        location_id,
        status,
        limit,
    )
    return [_view(r) for r in rows]
