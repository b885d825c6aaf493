"""Webhook subscriptions, the events they get, their deliveries and the alert windows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

__all__ = [
    "Claimed",
    "DeliveryRow",
    "IncomingEvent",
    "NewSubscription",
    "SubscriptionRow",
    "claim_due",
    "count_alerts",
    "create_subscription",
    "delete_subscription",
    "delivery_log",
    "find_delivery",
    "find_subscription",
    "list_subscriptions",
    "queue_deliveries",
    "record_dead",
    "record_delivered",
    "record_retry",
    "resend_dead",
    "resend_delivery",
    "set_active",
    "take_alert_slots",
]


@dataclass(frozen=True)
class IncomingEvent:
    event_id: UUID
    event_type: str
    subject: str
    body: bytes


@dataclass(frozen=True)
class _Subscription:
    subscription_id: str
    url: str
    event_types: tuple[str, ...]
    operations: bool
    active: bool
    description: str | None
    created_by: str


@dataclass(frozen=True)
class NewSubscription(_Subscription):
    secret: str


@dataclass(frozen=True)
class SubscriptionRow(_Subscription):
    created_at: datetime


@dataclass(frozen=True)
class DeliveryRow:
    delivery_id: str
    subscription_id: str
    event_id: UUID
    event_type: str
    subject: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    dead_lettered_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class Claimed:
    """One delivery a worker holds for one attempt, with what it needs to send it."""

    delivery_id: str
    lease_id: UUID
    subscription_id: str
    url: str
    secret: str
    event_id: UUID
    event_type: str
    subject: str
    body: bytes
    attempts: int
    """Including this attempt."""


_SUBSCRIPTION_COLUMNS = (
    "subscription_id, url, event_types, operations, active, description, created_by, created_at"
)
_DELIVERY_COLUMNS = (
    "d.delivery_id, d.subscription_id, d.event_id, e.event_type, e.subject, d.status,"
    " d.attempts, d.next_attempt_at, d.last_status_code, d.last_error, d.delivered_at,"
    " d.dead_lettered_at, d.created_at"
)


def _subscription(row: asyncpg.Record) -> SubscriptionRow:
    return SubscriptionRow(**{**dict(row), "event_types": tuple(row["event_types"])})


def _delivery(row: asyncpg.Record) -> DeliveryRow:
    return DeliveryRow(**dict(row))


# -- subscriptions ---------------------------------------------------------------------------


async def create_subscription(conn: asyncpg.Connection, new: NewSubscription) -> SubscriptionRow:
    row = await conn.fetchrow(
        "INSERT INTO webhook_subscriptions (subscription_id, url, event_types, secret,"
        " operations, active, description, created_by)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_SUBSCRIPTION_COLUMNS}",
        new.subscription_id,
        new.url,
        list(new.event_types),
        new.secret,
        new.operations,
        new.active,
        new.description,
        new.created_by,
    )
    assert row is not None
    return _subscription(row)


async def list_subscriptions(conn: asyncpg.Connection) -> list[SubscriptionRow]:
    rows = await conn.fetch(
        f"SELECT {_SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions ORDER BY created_at, 1"
    )
    return [_subscription(r) for r in rows]


async def find_subscription(
    conn: asyncpg.Connection, subscription_id: str
) -> SubscriptionRow | None:
    row = await conn.fetchrow(
        f"SELECT {_SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE subscription_id = $1",
        subscription_id,
    )
    return _subscription(row) if row else None


async def set_active(
    conn: asyncpg.Connection, subscription_id: str, active: bool
) -> SubscriptionRow | None:
    row = await conn.fetchrow(
        f"UPDATE webhook_subscriptions SET active = $2 WHERE subscription_id = $1"
        f" RETURNING {_SUBSCRIPTION_COLUMNS}",
        subscription_id,
        active,
    )
    return _subscription(row) if row else None


async def delete_subscription(conn: asyncpg.Connection, subscription_id: str) -> bool:
    """Remove the subscription and its delivery log; True if it existed."""
    deleted = await conn.fetchval(
        "DELETE FROM webhook_subscriptions WHERE subscription_id = $1 RETURNING true",
        subscription_id,
    )
    return bool(deleted)


# -- queueing --------------------------------------------------------------------------------


async def queue_deliveries(
    conn: asyncpg.Connection, events: Sequence[IncomingEvent], *, operations: bool
) -> int:
    """One delivery per (active subscription whose filter takes the event, event), in one
    statement for the whole batch; a pair queued before is left alone. ``operations`` picks
    the operations subscriptions (alerts) or the others. How many were new."""
    if not events:
        return 0
    queued = await conn.fetchval(
        "WITH incoming AS ("
        "  SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[])"
        "    AS e(event_id, event_type, subject, body)),"
        " matched AS ("
        "  SELECT s.subscription_id, e.event_id FROM incoming e"
        "  JOIN webhook_subscriptions s ON s.active AND s.operations = $5"
        "   AND e.event_type = ANY (s.event_types)),"
        " stored AS ("
        "  INSERT INTO webhook_events (event_id, event_type, subject, body)"
        "  SELECT DISTINCT ON (event_id) * FROM incoming"
        "  WHERE event_id IN (SELECT event_id FROM matched)"
        "  ON CONFLICT (event_id) DO NOTHING),"
        " queued AS ("
        "  INSERT INTO webhook_deliveries (delivery_id, subscription_id, event_id)"
        "  SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), subscription_id, event_id"
        "  FROM matched ON CONFLICT (subscription_id, event_id) DO NOTHING RETURNING 1)"
        " SELECT count(*) FROM queued",
        [e.event_id for e in events],
        [e.event_type for e in events],
        [e.subject for e in events],
        [e.body for e in events],
        operations,
    )
    return int(queued)


async def take_alert_slots(conn: asyncpg.Connection, kind: str, window_start: datetime) -> int:
    """Lock the window of ``kind`` (made on first use) and return how many alerts it sent."""
    sent = await conn.fetchval(
        # The no-op update locks the row until the transaction ends, like FOR UPDATE.
        "INSERT INTO alert_windows AS w (kind, window_start) VALUES ($1, $2)"
        " ON CONFLICT (kind, window_start) DO UPDATE SET sent = w.sent RETURNING sent",
        kind,
        window_start,
    )
    return int(sent or 0)


async def count_alerts(
    conn: asyncpg.Connection, kind: str, window_start: datetime, sent: int, suppressed: int
) -> None:
    await conn.execute(
        "UPDATE alert_windows SET sent = sent + $3, suppressed = suppressed + $4"
        " WHERE kind = $1 AND window_start = $2",
        kind,
        window_start,
        sent,
        suppressed,
    )


# -- dispatching -----------------------------------------------------------------------------


async def claim_due(
    conn: asyncpg.Connection, *, per_subscription: int, limit: int, lease_s: float
) -> list[Claimed]:
    """Lease due deliveries, earliest first, at most ``per_subscription`` in flight per
    subscription (counting those other workers hold), skipping rows another claim locked."""
    rows = await conn.fetch(
        "WITH due AS ("
        "  SELECT d.delivery_id, d.subscription_id, d.next_attempt_at,"
        "   row_number() OVER (PARTITION BY d.subscription_id ORDER BY d.next_attempt_at)"
        "    + (SELECT count(*) FROM webhook_deliveries f"
        "       WHERE f.subscription_id = s.subscription_id AND f.status = 'pending'"
        "        AND f.leased_until > now()) AS slot"
        "  FROM webhook_subscriptions s CROSS JOIN LATERAL ("
        "   SELECT delivery_id, subscription_id, next_attempt_at FROM webhook_deliveries"
        "   WHERE subscription_id = s.subscription_id AND status = 'pending'"
        "    AND next_attempt_at <= now() AND (leased_until IS NULL OR leased_until <= now())"
        "   ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) d"
        "  WHERE s.active),"
        " chosen AS (SELECT delivery_id FROM due WHERE slot <= $1"
        "  ORDER BY next_attempt_at LIMIT $2)"
        " UPDATE webhook_deliveries d SET attempts = d.attempts + 1,"
        "  lease_id = gen_random_uuid(), leased_until = now() + make_interval(secs => $3)"
        " FROM chosen c, webhook_subscriptions s, webhook_events e"
        " WHERE d.delivery_id = c.delivery_id AND s.subscription_id = d.subscription_id"
        "  AND e.event_id = d.event_id"
        " RETURNING d.delivery_id, d.lease_id, d.subscription_id, s.url, s.secret, d.event_id,"
        "  e.event_type, e.subject, e.body, d.attempts",
        per_subscription,
        limit,
        lease_s,
    )
    return [Claimed(**dict(r)) for r in rows]


async def record_delivered(
    conn: asyncpg.Connection, claimed: Claimed, status_code: int, at: datetime
) -> bool:
    """Mark a delivery accepted; False if the lease was lost (another worker owns it now)."""
    return await _settle(
        conn,
        claimed,
        "status = 'delivered', delivered_at = $3, last_status_code = $4, last_error = NULL",
        at,
        status_code,
    )


async def record_retry(
    conn: asyncpg.Connection,
    claimed: Claimed,
    next_attempt_at: datetime,
    status_code: int | None,
    error: str,
) -> bool:
    return await _settle(
        conn,
        claimed,
        "next_attempt_at = $3, last_status_code = $4, last_error = $5",
        next_attempt_at,
        status_code,
        error,
    )


async def record_dead(
    conn: asyncpg.Connection, claimed: Claimed, at: datetime, status_code: int | None, error: str
) -> bool:
    return await _settle(
        conn,
        claimed,
        "status = 'dead', dead_lettered_at = $3, last_status_code = $4, last_error = $5",
        at,
        status_code,
        error,
    )


async def _settle(conn: asyncpg.Connection, claimed: Claimed, changes: str, *args: Any) -> bool:
    settled = await conn.fetchval(
        f"UPDATE webhook_deliveries SET {changes}, lease_id = NULL, leased_until = NULL"
        " WHERE delivery_id = $1 AND lease_id = $2 AND status = 'pending' RETURNING true",
        claimed.delivery_id,
        claimed.lease_id,
        *args,
    )
    return bool(settled)


# -- the delivery log and re-sends -----------------------------------------------------------


async def delivery_log(
    conn: asyncpg.Connection,
    subscription_id: str,
    status: str | None,
    limit: int,
    after: str | None,
) -> list[DeliveryRow]:
    """Newest first; ``after``: the last delivery id of the previous page."""
    rows = await conn.fetch(
        f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries d"
        " JOIN webhook_events e USING (event_id)"
        " WHERE d.subscription_id = $1 AND ($2::text IS NULL OR d.status = $2)"
        "  AND ($4::text IS NULL OR (d.created_at, d.delivery_id) < (SELECT created_at,"
        "   delivery_id FROM webhook_deliveries WHERE delivery_id = $4))"
        " ORDER BY d.created_at DESC, d.delivery_id DESC LIMIT $3",
        subscription_id,
        status,
        limit,
        after,
    )
    return [_delivery(r) for r in rows]


async def find_delivery(
    conn: asyncpg.Connection, subscription_id: str, delivery_id: str
) -> DeliveryRow | None:
    row = await conn.fetchrow(
        f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries d"
        " JOIN webhook_events e USING (event_id)"
        " WHERE d.subscription_id = $1 AND d.delivery_id = $2",
        subscription_id,
        delivery_id,
    )
    return _delivery(row) if row else None


_RESEND = (
    " UPDATE webhook_deliveries d SET status = 'pending', attempts = 0,"
    "  next_attempt_at = now(), lease_id = NULL, leased_until = NULL"
    " FROM picked p WHERE d.delivery_id = p.delivery_id"
    " RETURNING d.delivery_id, d.subscription_id, p.status AS previous_status),"
    " audit AS (INSERT INTO webhook_resends (delivery_id, subscription_id, previous_status,"
    "  requested_by, request_id) SELECT delivery_id, subscription_id, previous_status, $2, $3"
    "  FROM resent)"
    " SELECT delivery_id FROM resent ORDER BY delivery_id"
)


async def resend_delivery(
    conn: asyncpg.Connection,
    subscription_id: str,
    delivery_id: str,
    requested_by: str,
    request_id: UUID | None,
) -> bool:
    """Queue a delivered or dead-lettered delivery again, now, with fresh attempts, and keep
    who asked; False if it is pending (already on its way) or unknown."""
    rows = await conn.fetch(
        "WITH picked AS (SELECT delivery_id, status FROM webhook_deliveries"
        "  WHERE subscription_id = $1 AND delivery_id = $4 AND status <> 'pending'"
        "  FOR UPDATE), resent AS (" + _RESEND,
        subscription_id,
        requested_by,
        request_id,
        delivery_id,
    )
    return bool(rows)


async def resend_dead(
    conn: asyncpg.Connection, subscription_id: str, requested_by: str, request_id: UUID | None
) -> list[str]:
    """Queue every dead-lettered delivery of the subscription again; their ids."""
    rows = await conn.fetch(
        "WITH picked AS (SELECT delivery_id, status FROM webhook_deliveries"
        "  WHERE subscription_id = $1 AND status = 'dead' FOR UPDATE), resent AS (" + _RESEND,
        subscription_id,
        requested_by,
        request_id,
    )
    return [r["delivery_id"] for r in rows]
