"""Order rows and their timeline."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import asyncpg

from oms_events.orders import OrderSubmitted
from oms_order.domain.status import OrderStatus

__all__ = ["append_timeline", "insert_order"]


async def insert_order(
    conn: asyncpg.Connection, order_id: str, order: OrderSubmitted, status: OrderStatus
) -> bool:
    """Store a new order; False when (channel, external id) is already known."""
    row = await conn.fetchrow(
        "INSERT INTO orders (order_id, channel, external_order_id, status, delivery_method,"
        " currency, grand_total_minor, placed_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (channel, external_order_id) DO NOTHING RETURNING order_id",
        order_id,
        order.channel,
        order.external_order_id,
        status.value,
        order.delivery_method.value,
        order.currency,
        order.totals.grand_total.amount_minor,
        order.placed_at,
    )
    return row is not None


async def append_timeline(
    conn: asyncpg.Connection,
    order_id: str,
    *,
    event_type: str,
    caused_by: UUID,
    actor: str,
    detail: dict[str, Any] | None = None,
) -> int:
    """Record what happened to the order, what caused it and who; returns the new sequence."""
    sequence: int = await conn.fetchval(
        "UPDATE orders SET sequence = sequence + 1, updated_at = now()"
        " WHERE order_id = $1 RETURNING sequence",
        order_id,
    )
    await conn.execute(
        "INSERT INTO order_timeline (order_id, sequence, event_type, caused_by, actor, detail)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
        order_id,
        sequence,
        event_type,
        caused_by,
        actor,
        json.dumps(detail or {}),
    )
    return sequence
