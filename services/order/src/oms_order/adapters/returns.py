"""Returns and what may still come back of an order, in PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from oms_order.domain.returns import Return, Returnable, ReturnLineState

__all__ = [
    "insert_return",
    "load_return",
    "refundable_captures",
    "return_ids_of_order",
    "returnable",
    "returns_of",
    "save_return",
]

_LINE_FIELDS = ("line_id", "sku", "quantity", "reason", "value_minor", "comment")


def _lines_json(ret: Return) -> str:
    return json.dumps(
        [
            {
                **{name: getattr(line, name) for name in _LINE_FIELDS},
                "received": line.received,
                "inspected": line.inspected,
            }
            for line in ret.lines
        ]
    )


def _return(row: asyncpg.Record) -> Return:
    return Return(
        return_id=row["return_id"],
        order_id=row["order_id"],
        rma_number=row["rma_number"],
        channel=row["channel"],
        lines=[ReturnLineState(**line) for line in json.loads(row["lines"])],
        drop_off_location_id=row["drop_off_location_id"],
        refunded_minor=row["refunded_minor"],
        locations=list(row["locations"]),
    )


async def returnable(conn: asyncpg.Connection, order_id: str) -> Returnable:
    """Units delivered or collected per line, those already in a return, and the last
    delivery's time."""
    rows = await conn.fetch(
        "SELECT line ->> 'line_id' AS line_id, sum((line ->> 'quantity')::int) AS units,"
        " max(s.delivered_at) AS at"
        " FROM order_shipments s, jsonb_array_elements(s.lines) AS line"
        " WHERE s.order_id = $1 AND s.delivered_at IS NOT NULL GROUP BY 1",
        order_id,
    )
    asked = await conn.fetch(
        "SELECT line ->> 'line_id' AS line_id, sum((line ->> 'quantity')::int) AS units"
        " FROM order_returns r, jsonb_array_elements(r.lines) AS line"
        " WHERE r.order_id = $1 GROUP BY 1",
        order_id,
    )
    return Returnable(
        delivered={r["line_id"]: r["units"] for r in rows},
        in_returns={r["line_id"]: r["units"] for r in asked},
        last_delivered_at=max((r["at"] for r in rows), default=None),
    )


async def insert_return(conn: asyncpg.Connection, ret: Return, requested_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO order_returns (return_id, order_id, rma_number, channel, status,"
        " drop_off_location_id, lines, requested_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $8)",
        ret.return_id,
        ret.order_id,
        ret.rma_number,
        ret.channel,
        ret.status.value,
        ret.drop_off_location_id,
        _lines_json(ret),
        requested_at,
    )


async def load_return(conn: asyncpg.Connection, return_id: str) -> Return | None:
    """Read without a lock: a change locks the return's order first, then reads it again."""
    row = await conn.fetchrow("SELECT * FROM order_returns WHERE return_id = $1", return_id)
    return None if row is None else _return(row)


async def save_return(conn: asyncpg.Connection, ret: Return) -> None:
    await conn.execute(
        "UPDATE order_returns SET status = $2, lines = $3::jsonb, refunded_minor = $4,"
        " locations = $5::text[], updated_at = now() WHERE return_id = $1",
        ret.return_id,
        ret.status.value,
        _lines_json(ret),
        ret.refunded_minor,
        ret.locations,
    )


async def returns_of(conn: asyncpg.Connection, return_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Returns as the API shows them, with their order's channel and currency."""
    rows = await conn.fetch(
        "SELECT r.*, o.channel AS order_channel, o.currency FROM order_returns r"
        " JOIN orders o USING (order_id) WHERE r.return_id = ANY($1::text[])"
        " ORDER BY r.requested_at, r.return_id",
        list(return_ids),
    )
    return [{**dict(row), "lines": json.loads(row["lines"])} for row in rows]


async def return_ids_of_order(conn: asyncpg.Connection, order_id: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT return_id FROM order_returns WHERE order_id = $1 ORDER BY requested_at",
        order_id,
    )
    return [row["return_id"] for row in rows]


async def refundable_captures(
    conn: asyncpg.Connection, order_id: str, line_ids: Sequence[str]
) -> list[tuple[str, int]]:
    """The captures of the order's delivered shipments with what is left of each: those
    that carried any of ``line_ids`` first, then the latest first. A shipment out or never
    collected keeps its capture for its own refund."""
    rows = await conn.fetch(
        "SELECT capture_id, captured_minor - refunded_minor AS left_minor FROM order_shipments"
        " WHERE order_id = $1 AND capture_id IS NOT NULL AND captured_minor > refunded_minor"
        " AND delivered_at IS NOT NULL AND uncollected_at IS NULL"
        " ORDER BY EXISTS (SELECT 1 FROM jsonb_array_elements(lines) AS line"
        " WHERE line ->> 'line_id' = ANY($2::text[])) DESC, shipped_at DESC, shipment_id DESC",
        order_id,
        list(line_ids),
    )
    return [(row["capture_id"], row["left_minor"]) for row in rows]
