"""Orders as sourcing needs them, and live availability."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from oms_events.values import DeliveryMethod
from oms_orchestration.domain.geo import Point
from oms_orchestration.domain.sourcing import Line, OrderToSource
from oms_runtime import advisory_key

__all__ = [
    "AcceptedOrder",
    "AvailabilitySeen",
    "availability_of",
    "load_order",
    "load_orders",
    "save_availability",
    "save_orders",
    "update_address",
]


@dataclass(frozen=True)
class AcceptedOrder:
    """What sourcing needs of an accepted order."""

    order_id: str
    channel: str
    delivery_method: str
    pickup_store_id: str | None
    destination: Point | None
    shipping_address: dict[str, Any] | None
    lines: Sequence[Line]
    placed_at: datetime | None = None
    promised_by: datetime | None = None
    """The channel's promise to the customer, if it made one."""


async def save_orders(conn: asyncpg.Connection, orders: Sequence[AcceptedOrder]) -> None:
    """Keep accepted orders, one statement for any number; one already kept is left alone."""
    await conn.execute(
        "INSERT INTO orders (order_id, channel, delivery_method, pickup_store_id,"
        " destination_lat, destination_lon, shipping_address, lines, placed_at, promised_by)"
        " SELECT i, c, d, p, la, lo, a::jsonb, l::jsonb, pa, pb FROM unnest($1::text[],"
        " $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::text[],"
        " $8::text[], $9::timestamptz[], $10::timestamptz[])"
        " AS o(i, c, d, p, la, lo, a, l, pa, pb) ON CONFLICT (order_id) DO NOTHING",
        [o.order_id for o in orders],
        [o.channel for o in orders],
        [o.delivery_method for o in orders],
        [o.pickup_store_id for o in orders],
        [o.destination.latitude if o.destination else None for o in orders],
        [o.destination.longitude if o.destination else None for o in orders],
        [json.dumps(o.shipping_address) if o.shipping_address else None for o in orders],
        [json.dumps([line.__dict__ for line in o.lines]) for o in orders],
        [o.placed_at for o in orders],
        [o.promised_by for o in orders],
    )


async def update_address(
    conn: asyncpg.Connection,
    order_id: str,
    address: dict[str, Any],
    destination: Point | None,
) -> None:
    await conn.execute(
        "UPDATE orders SET shipping_address = $2, destination_lat = $3, destination_lon = $4"
        " WHERE order_id = $1 AND delivery_method = 'home_delivery'",
        order_id,
        json.dumps(address),
        destination.latitude if destination else None,
        destination.longitude if destination else None,
    )


async def load_orders(
    conn: asyncpg.Connection, order_ids: Sequence[str]
) -> dict[str, tuple[OrderToSource, Any]]:
    """Each order to source and its shipping address (as stored), by id; orders never
    accepted are missing. One statement for any number."""
    rows = await conn.fetch(
        "SELECT * FROM orders WHERE order_id = ANY($1::text[])", list(order_ids)
    )
    return {row["order_id"]: _order(row) for row in rows}


async def load_order(conn: asyncpg.Connection, order_id: str) -> tuple[OrderToSource, Any] | None:
    return (await load_orders(conn, [order_id])).get(order_id)


def _order(row: asyncpg.Record) -> tuple[OrderToSource, Any]:
    destination = (
        Point(row["destination_lat"], row["destination_lon"])
        if row["destination_lat"] is not None
        else None
    )
    order = OrderToSource(
        order_id=row["order_id"],
        channel=row["channel"],
        delivery_method=DeliveryMethod(row["delivery_method"]),
        lines=tuple(Line(**line) for line in json.loads(row["lines"])),
        destination=destination,
        pickup_store_id=row["pickup_store_id"],
        placed_at=row["placed_at"],
        promised_by=row["promised_by"],
    )
    address = json.loads(row["shipping_address"]) if row["shipping_address"] else None
    return order, address


@dataclass(frozen=True)
class AvailabilitySeen:
    sku: str
    location_id: str
    available: int
    sequence: int


async def save_availability(
    conn: asyncpg.Connection, seen: Sequence[AvailabilitySeen]
) -> list[tuple[str, str]]:
    """Keep the newest picture of each (sku, location), one statement for a run of any
    length; the (sku, location) pairs whose stock came back (available went from none to
    some, at any point of the run, by the newer of its pictures)."""
    rows = await conn.fetch(
        "WITH incoming AS (SELECT DISTINCT ON (sku, location_id) * FROM"
        " unnest($1::text[], $2::text[], $3::int[], $4::bigint[])"
        " AS t(sku, location_id, available, sequence)"
        " ORDER BY sku, location_id, sequence DESC),"
        " kept AS (SELECT a.sku, a.location_id, a.available, a.sequence FROM availability a"
        " JOIN incoming USING (sku, location_id) FOR UPDATE OF a),"
        " saved AS (INSERT INTO availability (sku, location_id, available, sequence)"
        " SELECT * FROM incoming ON CONFLICT (sku, location_id) DO UPDATE"
        " SET available = EXCLUDED.available, sequence = EXCLUDED.sequence"
        " WHERE availability.sequence < EXCLUDED.sequence)"
        " SELECT * FROM kept",
        [s.sku for s in seen],
        [s.location_id for s in seen],
        [s.available for s in seen],
        [s.sequence for s in seen],
    )
    # What each key showed before the run (none and sequence 0 when never seen), moved
    # through the run's pictures in their order, older ones skipped as the statement did.
    current = {(r["sku"], r["location_id"]): (r["available"], r["sequence"]) for r in rows}
    came_back: list[tuple[str, str]] = []
    for s in seen:
        key = (s.sku, s.location_id)
        available, sequence = current.get(key, (0, -1))
        if s.sequence <= sequence:
            continue
        if available <= 0 < s.available and key not in came_back:
            came_back.append(key)
        current[key] = (s.available, s.sequence)
    # Held to commit: a transaction sourcing these SKUs now waits and sees the stock, and
    # one that read them before has committed its backorder before the caller looks for it.
    await _lock_skus(conn, "pg_advisory_xact_lock", [sku for sku, _ in came_back])
    return came_back


async def _lock_skus(conn: asyncpg.Connection, function: str, skus: Sequence[str]) -> None:
    """Take ``function``'s lock of each SKU, in one order everywhere."""
    if skus:
        await conn.execute(
            f"SELECT {function}(k) FROM unnest($1::bigint[]) AS k ORDER BY k",
            sorted({advisory_key(f"oms-sourcing-sku:{sku}") for sku in skus}),
        )


async def availability_of(
    conn: asyncpg.Connection, skus: Sequence[str]
) -> dict[tuple[str, str], int]:
    """Units available per (location, sku), read under a shared lock of each SKU held to the
    end of the transaction: a transaction in which one of them comes back waits for this one
    to commit before it looks for the orders waiting on it (see :func:`save_availability`).
    The read is a statement of its own, after the lock, so it sees what a transaction it
    waited for committed."""
    await _lock_skus(conn, "pg_advisory_xact_lock_shared", skus)
    rows = await conn.fetch(
        "SELECT sku, location_id, available FROM availability WHERE sku = ANY($1::text[])",
        list(skus),
    )
    return {(r["location_id"], r["sku"]): max(r["available"], 0) for r in rows}
