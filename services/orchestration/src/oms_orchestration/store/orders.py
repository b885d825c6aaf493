"""Orders as sourcing needs them, and live availability."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from oms_events.values import DeliveryMethod
from oms_orchestration.domain.geo import Point
from oms_orchestration.domain.sourcing import Line, OrderToSource

__all__ = [
    "AcceptedOrder",
    "availability_of",
    "load_order",
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


async def save_orders(conn: asyncpg.Connection, orders: Sequence[AcceptedOrder]) -> None:
    """Keep accepted orders, one statement for any number; one already kept is left alone."""
    await conn.execute(
        "INSERT INTO orders (order_id, channel, delivery_method, pickup_store_id,"
        " destination_lat, destination_lon, shipping_address, lines)"
        " SELECT i, c, d, p, la, lo, a::jsonb, l::jsonb FROM unnest($1::text[], $2::text[],"
        " $3::text[], $4::text[], $5::float8[], $6::float8[], $7::text[], $8::text[])"
        " AS o(i, c, d, p, la, lo, a, l) ON CONFLICT (order_id) DO NOTHING",
        [o.order_id for o in orders],
        [o.channel for o in orders],
        [o.delivery_method for o in orders],
        [o.pickup_store_id for o in orders],
        [o.destination.latitude if o.destination else None for o in orders],
        [o.destination.longitude if o.destination else None for o in orders],
        [json.dumps(o.shipping_address) if o.shipping_address else None for o in orders],
        [json.dumps([line.__dict__ for line in o.lines]) for o in orders],
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


async def load_order(conn: asyncpg.Connection, order_id: str) -> tuple[OrderToSource, Any] | None:
    """The order to source and its shipping address (as stored), or None if never accepted."""
    row = await conn.fetchrow("SELECT * FROM orders WHERE order_id = $1", order_id)
    if row is None:
        return None
    destination = (
        Point(row["destination_lat"], row["destination_lon"])
        if row["destination_lat"] is not None
        else None
    )
    order = OrderToSource(
        order_id=order_id,
        channel=row["channel"],
        delivery_method=DeliveryMethod(row["delivery_method"]),
        lines=tuple(Line(**line) for line in json.loads(row["lines"])),
        destination=destination,
        pickup_store_id=row["pickup_store_id"],
    )
    address = json.loads(row["shipping_address"]) if row["shipping_address"] else None
    return order, address


async def save_availability(
    conn: asyncpg.Connection, sku: str, location_id: str, available: int, sequence: int
) -> int | None:
    """Keep the newest picture; the previous available count when this one is newer."""
    previous = await conn.fetchrow(
        "SELECT available, sequence FROM availability WHERE sku = $1 AND location_id = $2"
        " FOR UPDATE",
        sku,
        location_id,
    )
    if previous is not None and previous["sequence"] >= sequence:
        return None
    await conn.execute(
        "INSERT INTO availability (sku, location_id, available, sequence)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (sku, location_id)"
        " DO UPDATE SET available = EXCLUDED.available, sequence = EXCLUDED.sequence",
        sku,
        location_id,
        available,
        sequence,
    )
    return previous["available"] if previous is not None else 0


async def availability_of(
    conn: asyncpg.Connection, skus: Sequence[str]
) -> dict[tuple[str, str], int]:
    rows = await conn.fetch(
        "SELECT sku, location_id, available FROM availability WHERE sku = ANY($1::text[])",
        list(skus),
    )
    return {(r["location_id"], r["sku"]): max(r["available"], 0) for r in rows}
