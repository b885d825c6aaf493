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
from oms_shipping.domain.fulfilment import FulfilmentOrder, FulfilmentStatus, Line, Parcel

__all__ = [
    "PICKUP_METHODS",
    "NewFulfilmentOrder",
    "Refusal",
    "expire_pickups",
    "keep_refusal",
    "lock",
    "save",
    "save_created",
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


def _aggregate(row: asyncpg.Record, tracking_numbers: tuple[str, ...]) -> FulfilmentOrder:
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
        tracking_numbers=tracking_numbers,
        pickup_store_id=(
            row["pickup_store_id"] if row["delivery_method"] in PICKUP_METHODS else None
        ),
        pickup_code=row["pickup_code"],
        hold_until=row["hold_until"],
    )


async def lock(conn: asyncpg.Connection, fulfilment_order_id: str) -> FulfilmentOrder | None:
    row = await conn.fetchrow(
        "SELECT fulfilment_order_id, order_id, location_id, lines, status, parcels, carrier,"
        " delivery_method, pickup_store_id, pickup_code, hold_until FROM fulfilment_orders"
        " WHERE fulfilment_order_id = $1 FOR UPDATE",
        fulfilment_order_id,
    )
    if row is None:
        return None
    tracking = await conn.fetch(
        "SELECT tracking_number FROM parcels WHERE fulfilment_order_id = $1"
        " ORDER BY tracking_number",
        fulfilment_order_id,
    )
    return _aggregate(row, tuple(r["tracking_number"] for r in tracking))


async def expire_pickups(
    conn: asyncpg.Connection, now: datetime, limit: int
) -> list[FulfilmentOrder]:
    """Up to ``limit`` pickups past their ``hold_until`` become UNCOLLECTED (the domain's
    ``expire``), in one statement; instances sweeping together skip each other's rows."""
    rows = await conn.fetch(
        "UPDATE fulfilment_orders f SET status = $3, updated_at = now()"
        " FROM (SELECT fulfilment_order_id FROM fulfilment_orders"
        "       WHERE status = $4 AND hold_until <= $1"
        "       ORDER BY hold_until LIMIT $2 FOR UPDATE SKIP LOCKED) AS due"
        " WHERE f.fulfilment_order_id = due.fulfilment_order_id RETURNING f.*",
        now,
        limit,
        FulfilmentStatus.UNCOLLECTED.value,
        FulfilmentStatus.READY_FOR_PICKUP.value,
    )
    return [_aggregate(r, ()) for r in rows]


async def save(conn: asyncpg.Connection, fo: FulfilmentOrder, at: datetime) -> None:
    """The order's status, lines, parcels and carrier as the aggregate has them."""
    await conn.execute(
        "UPDATE fulfilment_orders SET status = $2, lines = $3::jsonb, parcels = $4::jsonb,"
        " carrier = $5, shipped_at = CASE WHEN $2 = 'SHIPPED' THEN $6 ELSE shipped_at END,"
        " pickup_code = $7, hold_until = $8, updated_at = now() WHERE fulfilment_order_id = $1",
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
    )


def _line(line: Line) -> dict[str, Any]:
    return {"line_id": line.line_id, "sku": line.sku, "quantity": line.quantity}


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
    " f.lines, f.parcels, f.carrier, f.accept_by, f.promised_by, f.hold_until, f.updated_at,"
    " coalesce((SELECT array_agg(p.tracking_number ORDER BY p.tracking_number) FROM parcels p"
    " WHERE p.fulfilment_order_id = f.fulfilment_order_id), '{}') AS tracking_numbers"
    " FROM fulfilment_orders f"
)


def _view(row: asyncpg.Record) -> dict[str, Any]:
    view = dict(row)
    view["lines"] = json.loads(row["lines"])
    view["parcels"] = json.loads(row["parcels"])
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
