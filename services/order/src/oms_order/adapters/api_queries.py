"""What the HTTP API keeps and reads: idempotency records and orders as customer service sees
them (the order, its lines and its timeline)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from oms_runtime import advisory_key

__all__ = [
    "StoredOrder",
    "StoredResponse",
    "find_response",
    "lock_idempotency_key",
    "order_channel",
    "order_ids_by_email",
    "order_outcome",
    "orders_by_id",
    "save_response",
]


@dataclass(frozen=True)
class StoredResponse:
    request_hash: str
    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class StoredOrder:
    """One order with its lines and timeline; JSON columns already decoded."""

    order: dict[str, Any]
    lines: list[dict[str, Any]]
    """Each with ``delivered`` and ``collected``: the units of its shipments delivered to the
    door and collected at a store."""
    timeline: list[dict[str, Any]]
    shipments: list[dict[str, Any]]


async def lock_idempotency_key(conn: asyncpg.Connection, channel: str, key: str) -> None:
    """Serialise requests with the same key until this transaction ends: a concurrent retry
    waits, then finds the stored answer."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1)",
        advisory_key(f"oms-http-idempotency\x1f{channel}\x1f{key}"),
    )


async def order_channel(conn: asyncpg.Connection, order_id: str) -> str | None:
    """The channel that sold the order, for who may see it; None when there is none."""
    channel: str | None = await conn.fetchval(
        "SELECT channel FROM orders WHERE order_id = $1", order_id
    )
    return channel


async def find_response(conn: asyncpg.Connection, channel: str, key: str) -> StoredResponse | None:
    row = await conn.fetchrow(
        "SELECT request_hash, status_code, response FROM http_idempotency"
        " WHERE channel = $1 AND idempotency_key = $2",
        channel,
        key,
    )
    if row is None:
        return None
    return StoredResponse(row["request_hash"], row["status_code"], json.loads(row["response"]))


async def save_response(
    conn: asyncpg.Connection,
    *,
    channel: str,
    key: str,
    request_hash: str,
    status_code: int,
    body: dict[str, Any],
    order_id: str | None,
) -> None:
    await conn.execute(
        "INSERT INTO http_idempotency (channel, idempotency_key, request_hash, status_code,"
        " response, order_id) VALUES ($1, $2, $3, $4, $5::jsonb, $6)",
        channel,
        key,
        request_hash,
        status_code,
        json.dumps(body),
        order_id,
    )


async def order_outcome(conn: asyncpg.Connection, order_id: str) -> tuple[str, list[Any]] | None:
    """The order's status and rejection reasons (empty unless rejected)."""
    row = await conn.fetchrow(
        "SELECT status, rejection_reasons FROM orders WHERE order_id = $1", order_id
    )
    if row is None:
        return None
    reasons = json.loads(row["rejection_reasons"]) if row["rejection_reasons"] else []
    return row["status"], reasons


async def orders_by_id(conn: asyncpg.Connection, order_ids: Sequence[str]) -> list[StoredOrder]:
    """The orders among ``order_ids`` that exist, in the order asked for."""
    if not order_ids:
        return []
    ids = list(order_ids)
    rows = await conn.fetch(
        "SELECT order_id, channel, external_order_id, status, payment_status, on_hold,"
        " hold_reason, delivery_method, currency, grand_total_minor, placed_at, created_at,"
        " updated_at, shipping_address, rejection_reasons, promised_by"
        " FROM orders WHERE order_id = ANY($1::text[])",
        ids,
    )
    lines = await conn.fetch(
        "SELECT order_id, line_id, sku, ordered, canceled, shipped FROM order_lines"
        " WHERE order_id = ANY($1::text[]) ORDER BY order_id, line_id",
        ids,
    )
    timeline = await conn.fetch(
        "SELECT order_id, sequence, event_type, actor, at, detail FROM order_timeline"
        " WHERE order_id = ANY($1::text[]) ORDER BY order_id, sequence",
        ids,
    )
    shipments = await conn.fetch(
        "SELECT order_id, shipment_id, carrier, tracking_number, tracking_numbers, for_pickup,"
        " shipped_at,"
        " delivered_at, uncollected_at, lines FROM order_shipments"
        " WHERE order_id = ANY($1::text[]) ORDER BY order_id, shipped_at, shipment_id",
        ids,
    )
    shipments_of: dict[str, list[dict[str, Any]]] = {}
    for shipment in shipments:
        shipments_of.setdefault(shipment["order_id"], []).append(
            {**dict(shipment), "lines": json.loads(shipment["lines"])}
        )
    lines_of: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        lines_of.setdefault(line["order_id"], []).append(
            {k: line[k] for k in ("line_id", "sku", "ordered", "canceled", "shipped")}
        )
    timeline_of: dict[str, list[dict[str, Any]]] = {}
    for entry in timeline:
        timeline_of.setdefault(entry["order_id"], []).append(
            {
                "sequence": entry["sequence"],
                "event_type": entry["event_type"],
                "actor": entry["actor"],
                "at": entry["at"],
                "detail": json.loads(entry["detail"]) if entry["detail"] else {},
            }
        )
    found: dict[str, StoredOrder] = {}
    for row in rows:
        order = dict(row)
        for column in ("shipping_address", "rejection_reasons"):
            order[column] = json.loads(order[column]) if order[column] else None
        own_shipments = shipments_of.get(row["order_id"], [])
        found[row["order_id"]] = StoredOrder(
            order=order,
            lines=_with_arrivals(lines_of.get(row["order_id"], []), own_shipments),
            timeline=timeline_of.get(row["order_id"], []),
            shipments=own_shipments,
        )
    return [found[order_id] for order_id in ids if order_id in found]


def _with_arrivals(
    lines: list[dict[str, Any]], shipments: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The lines with the units their delivered shipments brought to the door (``delivered``)
    or handed over at a store (``collected``)."""
    arrived: dict[tuple[str, bool], int] = {}
    for shipment in shipments:
        if shipment["delivered_at"] is not None:
            for unit in shipment["lines"]:
                key = (unit["line_id"], shipment["for_pickup"])
                arrived[key] = arrived.get(key, 0) + unit["quantity"]
    return [
        {
            **line,
            "delivered": arrived.get((line["line_id"], False), 0),
            "collected": arrived.get((line["line_id"], True), 0),
        }
        for line in lines
    ]


async def order_ids_by_email(
    conn: asyncpg.Connection, email: str, *, after: str | None, limit: int
) -> list[str]:
    """Ids of the customer's orders (e-mail compared without case), in id order after ``after``."""
    rows = await conn.fetch(
        "SELECT order_id FROM orders WHERE lower(customer_email) = lower($1)"
        " AND order_id > $2 ORDER BY order_id LIMIT $3",
        email,
        after or "",
        limit,
    )
    return [r["order_id"] for r in rows]
