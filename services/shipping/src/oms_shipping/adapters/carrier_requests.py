"""Carrier webhook requests the service refused."""

from __future__ import annotations

import hashlib

import asyncpg

__all__ = ["keep_refused"]


async def keep_refused(
    conn: asyncpg.Connection, carrier: str, reason: str, detail: str, body: bytes
) -> None:
    await conn.execute(
        "INSERT INTO refused_carrier_requests (carrier, reason, detail, body_sha256)"
        " VALUES ($1, $2, $3, $4)",
        carrier[:200],
        reason,
        detail[:2000],
        hashlib.sha256(body).hexdigest(),
    )
