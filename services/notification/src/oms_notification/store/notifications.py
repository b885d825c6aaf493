"""Notification rows."""

from __future__ import annotations

from uuid import UUID

import asyncpg

__all__ = ["queue_notification"]


async def queue_notification(
    conn: asyncpg.Connection,
    *,
    notification_id: str,
    order_id: str,
    trigger_event_id: UUID,
    trigger_type: str,
    channel: str,
    template: str,
    locale: str,
) -> bool:
    """Queue a message once per (trigger event, channel); False when it already exists."""
    row = await conn.fetchrow(
        "INSERT INTO notifications (notification_id, order_id, trigger_event_id, trigger_type,"
        " channel, template, locale, status) VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued')"
        " ON CONFLICT (trigger_event_id, channel) DO NOTHING RETURNING notification_id",
        notification_id,
        order_id,
        trigger_event_id,
        trigger_type,
        channel,
        template,
        locale,
    )
    return row is not None
