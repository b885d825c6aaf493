"""Notification rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

__all__ = ["QueuedMessage", "queue_notifications"]


@dataclass(frozen=True)
class QueuedMessage:
    notification_id: str
    order_id: str
    trigger_event_id: UUID
    trigger_type: str
    channel: str
    template: str
    locale: str


async def queue_notifications(conn: asyncpg.Connection, messages: Sequence[QueuedMessage]) -> int:
    """Queue each message once per (trigger event, channel), in one statement; returns how
    many were new."""
    rows = await conn.fetch(
        "INSERT INTO notifications (notification_id, order_id, trigger_event_id, trigger_type,"
        " channel, template, locale, status)"
        " SELECT *, 'queued' FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[],"
        " $5::text[], $6::text[], $7::text[])"
        " ON CONFLICT (trigger_event_id, channel) DO NOTHING RETURNING notification_id",
        [m.notification_id for m in messages],
        [m.order_id for m in messages],
        [m.trigger_event_id for m in messages],
        [m.trigger_type for m in messages],
        [m.channel for m in messages],
        [m.template for m in messages],
        [m.locale for m in messages],
    )
    return len(rows)
