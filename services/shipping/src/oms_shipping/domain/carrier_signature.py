"""Carrier webhooks are signed: HMAC-SHA256 over ``<timestamp>.<body>`` with the carrier's
secret, sent as ``X-Carrier-Timestamp: <unix seconds>`` and ``X-Carrier-Signature:
sha256=<hex>``. A request unsigned, badly signed, or older (or newer) than the tolerance is
refused: the timestamp inside the signature stops a captured request from being replayed
later."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

__all__ = ["sign", "why_refused"]

_PREFIX = "sha256="


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value a carrier sends (also what its integration tests compute)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return _PREFIX + mac.hexdigest()


def why_refused(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    now: datetime,
    tolerance: timedelta,
) -> str | None:
    """The reason code a request is refused for, or None when it is the carrier's."""
    if not timestamp or not signature:
        return "unsigned"
    if not timestamp.isdigit() or len(timestamp) > 12:
        return "bad_timestamp"
    sent = int(timestamp)
    if abs(now.timestamp() - sent) > tolerance.total_seconds():
        return "stale"
    if not hmac.compare_digest(sign(secret, sent, body).encode(), signature.strip().encode()):
        return "bad_signature"
    return None
