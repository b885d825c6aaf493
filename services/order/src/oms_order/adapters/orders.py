"""Orders, their lines, early cancellations and the timeline."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from oms_events.orders import OrderSubmitted, RejectionReason
from oms_order.domain.order import LineState, Order, PaymentStatus
from oms_order.domain.status import OrderStatus
from oms_runtime import advisory_key

__all__ = [
    "NewOrder",
    "Timeline",
    "add_pending_cancellation",
    "causes_recorded",
    "insert_orders",
    "insert_unreadable_order",
    "load_order",
    "load_statuses",
    "lock_identities",
    "order_exists",
    "raise_promises",
    "save_order",
    "save_orders",
    "set_shipping_address",
    "statuses",
    "take_pending_cancellations",
]


@dataclass(frozen=True)
class NewOrder:
    order_id: str
    order: OrderSubmitted
    status: OrderStatus
    reasons: list[RejectionReason] | None = None


async def insert_orders(conn: asyncpg.Connection, new: Sequence[NewOrder]) -> set[str]:
    """Store new orders with their lines, two statements for any number of them; returns the
    ids stored (an order whose (channel, external id) is already known is left alone)."""
    if not new:
        return set()
    rows = await conn.fetch(
        "INSERT INTO orders (order_id, channel, external_order_id, status, delivery_method,"
        " currency, grand_total_minor, placed_at, customer_email, shipping_address, document,"
        " rejection_reasons, promised_by)"
        " SELECT i, c, e, s, d, cu, t, p, m, a::jsonb, doc::jsonb, r::jsonb, pb"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
        " $7::bigint[], $8::timestamptz[], $9::text[], $10::text[], $11::text[], $12::text[],"
        " $13::timestamptz[]) AS n(i, c, e, s, d, cu, t, p, m, a, doc, r, pb)"
        " ON CONFLICT DO NOTHING RETURNING order_id",
        [n.order_id for n in new],
        [n.order.channel for n in new],
        [n.order.external_order_id for n in new],
        [n.status.value for n in new],
        [n.order.delivery_method.value for n in new],
        [n.order.currency for n in new],
        [n.order.totals.grand_total.amount_minor for n in new],
        [n.order.placed_at for n in new],
        [n.order.customer.email for n in new],
        [
            n.order.shipping_address.model_dump_json() if n.order.shipping_address else None
            for n in new
        ],
        [n.order.model_dump_json() for n in new],
        [_reasons_json(n.reasons) for n in new],
        [n.order.promised_by for n in new],
    )
    stored = {row["order_id"] for row in rows}
    # A rejected order keeps its document; its lines may not even be distinct.
    lines = [
        (n.order_id, line)
        for n in new
        if n.order_id in stored and not n.reasons
        for line in n.order.lines
    ]
    if lines:
        await conn.execute(
            "INSERT INTO order_lines (order_id, line_id, sku, ordered, line_total_minor)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[])",
            [order_id for order_id, _ in lines],
            [line.line_id for _, line in lines],
            [line.sku for _, line in lines],
            [line.quantity for _, line in lines],
            [line.line_total.amount_minor for _, line in lines],
        )
    return stored


async def insert_unreadable_order(
    conn: asyncpg.Connection,
    order_id: str,
    channel: str,
    external_order_id: str,
    reasons: list[RejectionReason],
) -> bool:
    """Keep an order that could not be read as REJECTED, with why; False when known."""
    row = await conn.fetchrow(
        "INSERT INTO orders (order_id, channel, external_order_id, status, rejection_reasons)"
        " VALUES ($1, $2, $3, $4, $5::jsonb)"
        " ON CONFLICT (channel, external_order_id) DO NOTHING RETURNING order_id",
        order_id,
        channel,
        external_order_id,
        OrderStatus.REJECTED.value,
        _reasons_json(reasons),
    )
    return row is not None


def _reasons_json(reasons: list[RejectionReason] | None) -> str | None:
    if reasons is None:
        return None
    return json.dumps([r.model_dump(mode="json") for r in reasons])


async def lock_identities(conn: asyncpg.Connection, identities: Sequence[tuple[str, str]]) -> None:
    """An advisory lock per (channel, external order id), to the end of the transaction, taken
    in one order everywhere: a submission and a channel's cancel of one order may come by
    different paths (HTTP, the intake topic) in transactions at once, and the one that checks
    for the other must see it committed."""
    if identities:
        await conn.execute(
            "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k ORDER BY k",
            sorted({advisory_key(f"oms-order-identity\x1f{c}\x1f{e}") for c, e in identities}),
        )


async def order_exists(conn: asyncpg.Connection, order_id: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM orders WHERE order_id = $1", order_id))


async def causes_recorded(
    conn: asyncpg.Connection, order_ids: Sequence[str], causes: Sequence[UUID]
) -> set[UUID]:
    """Of ``causes``, those a timeline entry of one of ``order_ids`` names (the primary key's
    order id first: one index range per order)."""
    rows = await conn.fetch(
        "SELECT DISTINCT caused_by FROM order_timeline"
        " WHERE order_id = ANY($1::text[]) AND caused_by = ANY($2::uuid[])",
        list(order_ids),
        list(causes),
    )
    return {row["caused_by"] for row in rows}


async def load_order(
    conn: asyncpg.Connection, order_id: str, timeline: Timeline, *, lines: bool = True
) -> Order | None:
    """The order, locked for this transaction so concurrent changes queue behind it; its
    timeline's sequence goes to ``timeline``. ``lines=False`` for a change of status alone
    (one round trip less): the aggregate then has no lines and must be saved without them."""
    if not lines:
        return (await load_statuses(conn, [order_id], timeline)).get(order_id)
    row = await conn.fetchrow(
        f"SELECT {_ORDER_COLUMNS} FROM orders WHERE order_id = $1 FOR UPDATE", order_id
    )
    if row is None:
        return None
    timeline.seed(order_id, row["sequence"])
    line_rows = await conn.fetch(
        "SELECT line_id, sku, ordered, canceled, shipped, line_total_minor"
        " FROM order_lines WHERE order_id = $1 ORDER BY line_id",
        order_id,
    )
    return _order(row, line_rows)


async def load_statuses(
    conn: asyncpg.Connection, order_ids: Sequence[str], timeline: Timeline
) -> dict[str, Order]:
    """Orders for a change of status alone, without their lines (save them with
    ``save_orders``), locked in id order and by id; one statement for any number."""
    rows = await conn.fetch(
        f"SELECT {_ORDER_COLUMNS} FROM orders WHERE order_id = ANY($1::text[])"
        " ORDER BY order_id FOR UPDATE",
        list(order_ids),
    )
    for row in rows:
        timeline.seed(row["order_id"], row["sequence"])
    return {row["order_id"]: _order(row, []) for row in rows}


_ORDER_COLUMNS = (
    "order_id, status, payment_status, delivery_method, currency, grand_total_minor,"
    " on_hold, hold_reason, authorization_id, captured_minor, capture_id, refunded_minor,"
    " sequence"
)


def _order(row: asyncpg.Record, line_rows: Sequence[asyncpg.Record]) -> Order:
    return Order(
        order_id=row["order_id"],
        status=OrderStatus(row["status"]),
        payment_status=PaymentStatus(row["payment_status"]),
        delivery_method=row["delivery_method"] or "",
        currency=row["currency"] or "",
        grand_total_minor=row["grand_total_minor"] or 0,
        on_hold=row["on_hold"],
        hold_reason=row["hold_reason"],
        authorization_id=row["authorization_id"],
        captured_minor=row["captured_minor"],
        capture_id=row["capture_id"],
        refunded_minor=row["refunded_minor"],
        lines=[
            LineState(
                line_id=r["line_id"],
                sku=r["sku"],
                ordered=r["ordered"],
                canceled=r["canceled"],
                shipped=r["shipped"],
                line_total_minor=r["line_total_minor"],
            )
            for r in line_rows
        ],
    )


async def save_order(conn: asyncpg.Connection, order: Order, *, lines: bool = True) -> None:
    """Write the aggregate back; ``lines=False`` when no line bucket changed (one round trip)."""
    await conn.execute(
        "UPDATE orders SET status = $2, payment_status = $3, on_hold = $4, hold_reason = $5,"
        " authorization_id = $6, captured_minor = $7, capture_id = $8, refunded_minor = $9,"
        " updated_at = now() WHERE order_id = $1",
        order.order_id,
        order.status.value,
        order.payment_status.value,
        order.on_hold,
        order.hold_reason,
        order.authorization_id,
        order.captured_minor,
        order.capture_id,
        order.refunded_minor,
    )
    if not lines:
        return
    await conn.executemany(
        "UPDATE order_lines SET canceled = $3, shipped = $4 WHERE order_id = $1 AND line_id = $2",
        [(order.order_id, line.line_id, line.canceled, line.shipped) for line in order.lines],
    )


async def statuses(conn: asyncpg.Connection, order_ids: Sequence[str]) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT order_id, status FROM orders WHERE order_id = ANY($1::text[])", list(order_ids)
    )
    return {r["order_id"]: r["status"] for r in rows}


async def save_orders(conn: asyncpg.Connection, orders: Sequence[Order]) -> None:
    """Write back aggregates none of whose lines changed, in one statement."""
    if not orders:
        return
    await conn.execute(
        "UPDATE orders SET status = v.status, payment_status = v.payment_status,"
        " on_hold = v.on_hold, hold_reason = v.hold_reason, authorization_id = v.authorization_id,"
        " captured_minor = v.captured_minor, capture_id = v.capture_id,"
        " refunded_minor = v.refunded_minor, updated_at = now()"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::text[], $6::text[],"
        " $7::bigint[], $8::text[], $9::bigint[]) AS v(order_id, status, payment_status,"
        " on_hold, hold_reason, authorization_id, captured_minor, capture_id, refunded_minor)"
        " WHERE orders.order_id = v.order_id",
        [o.order_id for o in orders],
        [o.status.value for o in orders],
        [o.payment_status.value for o in orders],
        [o.on_hold for o in orders],
        [o.hold_reason for o in orders],
        [o.authorization_id for o in orders],
        [o.captured_minor for o in orders],
        [o.capture_id for o in orders],
        [o.refunded_minor for o in orders],
    )


async def raise_promises(conn: asyncpg.Connection, promises: Mapping[str, datetime]) -> None:
    """Each order's promise becomes the later of it and the one given, one statement for any
    number of orders."""
    await conn.execute(
        "UPDATE orders SET promised_by = greatest(orders.promised_by, t.promised_by)"
        " FROM unnest($1::text[], $2::timestamptz[]) AS t(order_id, promised_by)"
        " WHERE orders.order_id = t.order_id"
        " AND orders.promised_by IS DISTINCT FROM greatest(orders.promised_by, t.promised_by)",
        list(promises),
        list(promises.values()),
    )


async def set_shipping_address(conn: asyncpg.Connection, order_id: str, address_json: str) -> None:
    await conn.execute(
        "UPDATE orders SET shipping_address = $2::jsonb, updated_at = now() WHERE order_id = $1",
        order_id,
        address_json,
    )


async def add_pending_cancellation(
    conn: asyncpg.Connection,
    *,
    channel: str,
    external_order_id: str,
    event_id: UUID,
    reason: str | None,
    requested_at: Any,
) -> None:
    await conn.execute(
        "INSERT INTO pending_cancellations (channel, external_order_id, event_id, reason,"
        " requested_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        channel,
        external_order_id,
        event_id,
        reason,
        requested_at,
    )


async def take_pending_cancellations(
    conn: asyncpg.Connection, orders: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], asyncpg.Record]:
    """Cancellations that arrived before their orders, by (channel, external id), taken."""
    if not orders:
        return {}
    rows = await conn.fetch(
        "DELETE FROM pending_cancellations p USING unnest($1::text[], $2::text[]) AS o(c, e)"
        " WHERE p.channel = o.c AND p.external_order_id = o.e"
        " RETURNING p.channel, p.external_order_id, p.event_id, p.reason, p.requested_at",
        [channel for channel, _ in orders],
        [external for _, external in orders],
    )
    return {(r["channel"], r["external_order_id"]): r for r in rows}


class Timeline:
    """The timeline entries of one unit of work, written with one statement at its end.

    Sequence numbers are counted here from each order's stored sequence: every action holds
    its order's row lock (loaded ``FOR UPDATE`` or just inserted), so nobody else moves it.
    """

    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self._entries: list[tuple[str, int, str, UUID, str, str]] = []

    def seed(self, order_id: str, sequence: int) -> None:
        """The order's stored sequence, once it is locked; what this unit counted wins."""
        self._last.setdefault(order_id, sequence)

    async def append(
        self,
        conn: asyncpg.Connection,
        order_id: str,
        *,
        event_type: str,
        caused_by: UUID,
        actor: str,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Record what happened to the order, what caused it and who; returns its sequence."""
        if order_id not in self._last:
            stored = await conn.fetchval(
                "SELECT sequence FROM orders WHERE order_id = $1 FOR UPDATE", order_id
            )
            if stored is None:
                raise LookupError(f"no order {order_id} to record {event_type} for")
            self._last[order_id] = stored
        sequence = self._last[order_id] + 1
        self._last[order_id] = sequence
        self._entries.append(
            (order_id, sequence, event_type, caused_by, actor, json.dumps(detail or {}))
        )
        return sequence

    async def flush(self, conn: asyncpg.Connection) -> None:
        if not self._entries:
            return
        entries, self._entries = self._entries, []
        written = sorted({entry[0] for entry in entries})
        await conn.execute(
            "WITH entries AS (INSERT INTO order_timeline"
            " (order_id, sequence, event_type, caused_by, actor, detail)"
            " SELECT o, s, e, c, a, d::jsonb FROM unnest($1::text[], $2::bigint[], $3::text[],"
            " $4::uuid[], $5::text[], $6::text[]) AS t(o, s, e, c, a, d))"
            " UPDATE orders SET sequence = v.sequence, updated_at = now()"
            " FROM unnest($7::text[], $8::bigint[]) AS v(order_id, sequence)"
            " WHERE orders.order_id = v.order_id",
            *(list(column) for column in zip(*entries, strict=True)),
            written,
            [self._last[order_id] for order_id in written],
        )
