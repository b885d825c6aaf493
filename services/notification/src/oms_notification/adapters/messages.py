"""The customer messages' tables: the order as messages show it, the queue of messages and
their outcomes, the customers' preferences. Each call is one statement for a whole run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from oms_notification.domain.messages import MessageKind

__all__ = [
    "ClaimedMessage",
    "CustomerOrder",
    "Expired",
    "MessageToQueue",
    "RecordedOutcome",
    "Settlement",
    "StoredPreferences",
    "change_shipping_addresses",
    "claim_due",
    "expire_sending",
    "fail_orphans",
    "load_preferences",
    "purge_recipients",
    "queue_messages",
    "raise_amounts",
    "record_outcomes",
    "save_preferences",
    "settle",
    "upsert_orders",
]


@dataclass(frozen=True)
class CustomerOrder:
    order_id: str
    customer_id: str | None
    email: str
    phone: str | None
    country: str | None
    reference: str
    placed_at: datetime
    details: dict[str, Any]


@dataclass(frozen=True)
class MessageToQueue:
    notification_id: str
    order_id: str
    trigger_event_id: UUID
    trigger_type: str
    change_key: str
    channel: str
    kind: str
    facts: dict[str, Any]
    correlation_id: str | None


@dataclass(frozen=True)
class ClaimedMessage:
    """A message now 'sending', with what its rendering needs."""

    notification_id: str
    order_id: str
    trigger_event_id: UUID
    channel: str
    kind: str
    facts: dict[str, Any]
    correlation_id: str | None
    attempts: int
    order: CustomerOrder
    captured_minor: int
    refunded_minor: int
    preferred_locale: str | None
    opted_out_channels: tuple[str, ...]
    marketing_opt_out: bool
    superseded: bool = False
    """A message of a kind that makes this one stale exists for the order and channel."""


@dataclass(frozen=True)
class Settlement:
    notification_id: str
    status: str
    locale: str | None = None
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    provider_message_id: str | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class RecordedOutcome:
    """A message's outcome as NotificationSent, NotificationFailed or NotificationSuppressed
    recorded it; ``locale`` and ``attempts`` None: not recorded, left as they are."""

    notification_id: str
    status: str
    locale: str | None
    attempts: int | None
    sent_at: datetime | None
    provider_message_id: str | None
    last_error: str | None


@dataclass(frozen=True)
class Expired:
    """A message whose send outlived its claim, or whose order never arrived."""

    notification_id: str
    order_id: str
    trigger_event_id: UUID
    channel: str
    kind: str
    correlation_id: str | None
    attempts: int
    locale: str
    """'' until a send rendered it."""


@dataclass(frozen=True)
class StoredPreferences:
    customer_id: str
    locale: str | None
    opted_out_channels: tuple[str, ...]
    marketing_opt_out: bool
    updated_at: datetime


_SUPERSEDING = [(kind, sorted(kind.superseded_by)) for kind in MessageKind if kind.superseded_by]


def _columns(rows: Sequence[Any], *names: str) -> list[list[Any]]:
    """One array per field for ``unnest``; dicts as JSON text (cast to jsonb in SQL)."""
    arrays = [[getattr(r, name) for r in rows] for name in names]
    return [[orjson.dumps(v).decode() if isinstance(v, dict) else v for v in a] for a in arrays]


async def upsert_orders(conn: asyncpg.Connection, orders: Sequence[CustomerOrder]) -> None:
    """The accepted orders; a replayed acceptance rewrites the same row."""
    await conn.execute(
        "INSERT INTO customer_orders (order_id, customer_id, email, phone, country, reference,"
        " placed_at, details)"
        " SELECT o, c, e, p, co, r, pa, d::jsonb FROM unnest($1::text[], $2::text[], $3::text[],"
        " $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[])"
        " AS t(o, c, e, p, co, r, pa, d)"
        " ON CONFLICT (order_id) DO UPDATE SET customer_id = excluded.customer_id,"
        " email = excluded.email, phone = excluded.phone, country = excluded.country,"
        " reference = excluded.reference, placed_at = excluded.placed_at,"
        " details = excluded.details, last_event_at = now()",
        *_columns(orders, *(f.name for f in fields(CustomerOrder))),
    )


async def change_shipping_addresses(
    conn: asyncpg.Connection, changes: Sequence[tuple[str, dict[str, Any]]]
) -> None:
    """(order id, new address) in the run's order, in one statement: an order's last change
    wins."""
    await conn.execute(
        "UPDATE customer_orders o SET details = jsonb_set(o.details, '{shipping_address}',"
        " c.address), phone = coalesce(c.address ->> 'phone', o.phone), last_event_at = now()"
        " FROM (SELECT DISTINCT ON (order_id) order_id, address::jsonb AS address"
        " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(order_id, address, n)"
        " ORDER BY order_id, n DESC) c WHERE o.order_id = c.order_id",
        [order_id for order_id, _ in changes],
        [orjson.dumps(address).decode() for _, address in changes],
    )


async def raise_amounts(
    conn: asyncpg.Connection, column: str, totals: Sequence[tuple[str, int]]
) -> None:
    """Running totals (captured, refunded) only ever grow: a late, older event changes nothing."""
    if column not in ("captured_minor", "refunded_minor"):
        raise ValueError(f"no running total {column!r}")
    await conn.execute(
        f"UPDATE customer_orders o SET {column} = greatest(o.{column}, t.amount),"
        " last_event_at = now()"
        " FROM (SELECT order_id, max(amount) AS amount FROM unnest($1::text[], $2::bigint[])"
        " AS u(order_id, amount) GROUP BY order_id) t WHERE o.order_id = t.order_id",
        [order_id for order_id, _ in totals],
        [amount for _, amount in totals],
    )


async def queue_messages(conn: asyncpg.Connection, messages: Sequence[MessageToQueue]) -> int:
    """Queue each message once per (change, channel) and (trigger event, channel), in one
    statement; returns how many were new."""
    rows = await conn.fetch(
        "INSERT INTO notifications (notification_id, order_id, trigger_event_id, trigger_type,"
        " change_key, channel, template, facts, correlation_id, locale, status)"
        " SELECT n, o, t, tt, ck, ch, k, f::jsonb, c, '', 'queued' FROM unnest($1::text[],"
        " $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],"
        " $9::text[]) AS u(n, o, t, tt, ck, ch, k, f, c)"
        " ON CONFLICT DO NOTHING RETURNING notification_id",
        *_columns(messages, *(f.name for f in fields(MessageToQueue))),
    )
    return len(rows)


async def claim_due(
    conn: asyncpg.Connection, now: datetime, limit: int, waited_since: datetime
) -> list[ClaimedMessage]:
    """Due messages whose order is known become 'sending' (one more attempt), in one
    statement; another instance skips the rows this one locked. A kind that follows the
    confirmation waits for the confirmation's message to be settled, or until it was queued
    before ``waited_since``."""
    rows = await conn.fetch(
        "WITH due AS (SELECT n.notification_id FROM notifications n"
        " JOIN customer_orders o ON o.order_id = n.order_id"
        " WHERE n.status = 'queued' AND n.next_attempt_at <= $1"
        " AND (n.template <> ALL($5::text[]) OR n.created_at < $6 OR EXISTS (SELECT 1"
        " FROM notifications c WHERE c.order_id = n.order_id AND c.channel = n.channel"
        " AND c.template = 'order_confirmed' AND c.status NOT IN ('queued', 'sending')))"
        " ORDER BY n.next_attempt_at LIMIT $2 FOR UPDATE OF n SKIP LOCKED)"
        " UPDATE notifications n SET status = 'sending', attempts = n.attempts + 1,"
        " claimed_at = $1"
        " FROM due, customer_orders o LEFT JOIN customer_preferences p"
        " ON p.customer_id = o.customer_id"
        " WHERE n.notification_id = due.notification_id AND o.order_id = n.order_id"
        " RETURNING n.notification_id, n.order_id, n.trigger_event_id, n.channel,"
        " n.template AS kind,"
        " n.facts::text AS facts, n.correlation_id, n.attempts, o.customer_id, o.email,"
        " o.phone, o.country, o.reference, o.placed_at, o.details::text AS details,"
        " o.captured_minor, o.refunded_minor, p.locale AS preferred_locale,"
        " coalesce(p.opted_out_channels, '{}') AS opted_out_channels,"
        " coalesce(p.marketing_opt_out, false) AS marketing_opt_out,"
        " (EXISTS (SELECT 1 FROM unnest($3::text[], $4::text[]) AS r(kind, by)"
        " JOIN notifications s ON s.template = r.by"
        " WHERE r.kind = n.template AND s.order_id = n.order_id AND s.channel = n.channel"
        " AND s.status IN ('queued', 'sending', 'sent'))) AS superseded",
        now,
        limit,
        [kind.value for kind, by in _SUPERSEDING for _ in by],
        [later.value for _, by in _SUPERSEDING for later in by],
        [kind.value for kind in MessageKind if kind.follows_confirmation],
        waited_since,
    )
    order_fields = {f.name for f in fields(CustomerOrder)}
    claimed = []
    for r in rows:
        row = dict(r)
        order = {k: row.pop(k) for k in order_fields - {"order_id"}}
        order["details"] = orjson.loads(order["details"])
        row["facts"] = orjson.loads(row["facts"])
        row["opted_out_channels"] = tuple(row["opted_out_channels"])
        claimed.append(
            ClaimedMessage(
                **row,
                order=CustomerOrder(order_id=r["order_id"], **order),
            )
        )
    return claimed


async def settle(conn: asyncpg.Connection, settlements: Sequence[Settlement]) -> None:
    """Each message's outcome, in one statement."""
    await conn.execute(
        "UPDATE notifications n SET status = s.status, locale = coalesce(s.locale, n.locale),"
        " next_attempt_at = coalesce(s.next_attempt_at, n.next_attempt_at),"
        " sent_at = s.sent_at, provider_message_id = s.provider_message_id,"
        " last_error = s.last_error"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[],"
        " $5::timestamptz[], $6::text[], $7::text[])"
        " AS s(id, status, locale, next_attempt_at, sent_at, provider_message_id, last_error)"
        " WHERE n.notification_id = s.id",
        *_columns(settlements, *(f.name for f in fields(Settlement))),
    )


async def record_outcomes(conn: asyncpg.Connection, outcomes: Sequence[RecordedOutcome]) -> None:
    """Outcomes read back from oms.notifications (a rebuild), in one statement: a message's
    last outcome of the run wins."""
    await conn.execute(
        "UPDATE notifications n SET status = r.status, locale = coalesce(r.locale, n.locale),"
        " attempts = coalesce(r.attempts, n.attempts), sent_at = r.sent_at,"
        " provider_message_id = r.provider_message_id, last_error = r.last_error"
        " FROM (SELECT DISTINCT ON (id) * FROM unnest($1::text[], $2::text[], $3::text[],"
        " $4::integer[], $5::timestamptz[], $6::text[], $7::text[]) WITH ORDINALITY"
        " AS u(id, status, locale, attempts, sent_at, provider_message_id, last_error, n)"
        " ORDER BY id, n DESC) r WHERE n.notification_id = r.id",
        *_columns(outcomes, *(f.name for f in fields(RecordedOutcome))),
    )


_EXPIRED = (
    " RETURNING notification_id, order_id, trigger_event_id, channel, template AS kind,"
    " correlation_id, attempts, locale"
)


def _expired(rows: Sequence[asyncpg.Record]) -> list[Expired]:
    return [Expired(**dict(r)) for r in rows]


async def expire_sending(
    conn: asyncpg.Connection,
    claimed_before: datetime,
    status: str,
    next_attempt_at: datetime | None,
    reason: str,
) -> list[Expired]:
    """Messages still 'sending' although claimed before ``claimed_before`` (their sender died
    or lost the connection mid-send) get ``status``."""
    rows = await conn.fetch(
        "UPDATE notifications SET status = $2,"
        " next_attempt_at = coalesce($3, next_attempt_at), last_error = $4"
        " WHERE notification_id IN (SELECT notification_id FROM notifications"
        " WHERE status = 'sending' AND claimed_at < $1 FOR UPDATE SKIP LOCKED)" + _EXPIRED,
        claimed_before,
        status,
        next_attempt_at,
        reason,
    )
    return _expired(rows)


async def fail_orphans(
    conn: asyncpg.Connection, created_before: datetime, reason: str
) -> list[Expired]:
    """Queued messages whose order never arrived (or was purged) in time fail; the failure
    counts as an attempt (NotificationFailed says at least one)."""
    rows = await conn.fetch(
        "UPDATE notifications SET status = 'failed', last_error = $2,"
        " attempts = greatest(attempts, 1)"
        " WHERE notification_id IN (SELECT n.notification_id FROM notifications n"
        " WHERE n.status = 'queued' AND n.created_at < $1 AND NOT EXISTS"
        " (SELECT 1 FROM customer_orders o WHERE o.order_id = n.order_id)"
        " FOR UPDATE SKIP LOCKED)" + _EXPIRED,
        created_before,
        reason,
    )
    return _expired(rows)


async def purge_recipients(conn: asyncpg.Connection, quiet_since: datetime) -> int:
    """Forget the orders (and so their recipients) no event touched since ``quiet_since``."""
    status = await conn.execute("DELETE FROM customer_orders WHERE last_event_at < $1", quiet_since)
    return int(status.split()[-1])


async def load_preferences(conn: asyncpg.Connection, customer_id: str) -> StoredPreferences | None:
    row = await conn.fetchrow(
        "SELECT customer_id, locale, opted_out_channels, marketing_opt_out, updated_at"
        " FROM customer_preferences WHERE customer_id = $1",
        customer_id,
    )
    return _preferences(row) if row else None


async def save_preferences(
    conn: asyncpg.Connection,
    customer_id: str,
    locale: str | None,
    opted_out_channels: Sequence[str],
    marketing_opt_out: bool,
) -> StoredPreferences:
    row = await conn.fetchrow(
        "INSERT INTO customer_preferences (customer_id, locale, opted_out_channels,"
        " marketing_opt_out) VALUES ($1, $2, $3, $4) ON CONFLICT (customer_id) DO UPDATE"
        " SET locale = excluded.locale, opted_out_channels = excluded.opted_out_channels,"
        " marketing_opt_out = excluded.marketing_opt_out, updated_at = now()"
        " RETURNING customer_id, locale, opted_out_channels, marketing_opt_out, updated_at",
        customer_id,
        locale,
        list(opted_out_channels),
        marketing_opt_out,
    )
    assert row is not None
    return _preferences(row)


def _preferences(row: asyncpg.Record) -> StoredPreferences:
    return StoredPreferences(
        customer_id=row["customer_id"],
        locale=row["locale"],
        opted_out_channels=tuple(row["opted_out_channels"]),
        marketing_opt_out=row["marketing_opt_out"],
        updated_at=row["updated_at"],
    )
