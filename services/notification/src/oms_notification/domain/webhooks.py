"""Webhook rules: who gets which event, how a delivery is signed, when it is tried again, and
how many operations alerts a window lets through. Pure: no database, network or clock.

Signatures follow the Standard Webhooks specification (https://www.standardwebhooks.com):
HMAC-SHA256 over ``<webhook-id>.<webhook-timestamp>.<body>`` with the subscription's secret,
sent as ``webhook-signature: v1,<base64>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

__all__ = [
    "SECRET_PREFIX",
    "DeliveryFailed",
    "DeliveryStatus",
    "RetryPolicy",
    "alerts_allowed",
    "endpoint_problem",
    "event_types_problems",
    "is_accepted",
    "matching_subscriptions",
    "new_secret",
    "signature_headers",
    "signed_content",
    "window_start",
]

SECRET_PREFIX = "whsec_"
_SECRET_BYTES = 32
_MAX_URL = 2000


class DeliveryFailed(Exception):
    """The subscriber could not be reached or did not answer in time; ``reason`` is safe to
    store and show (no URL, no body)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    """Due at ``next_attempt_at`` (or being sent now)."""
    DELIVERED = "delivered"
    """The subscriber answered 2xx."""
    DEAD = "dead"
    """Every attempt failed; an operator can re-send it."""


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form: ``whsec_<base64 of 32 bytes>``."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signed_content(message_id: str, timestamp: int, body: bytes) -> bytes:
    """What is signed: ``<id>.<timestamp>.<body>``."""
    return f"{message_id}.{timestamp}.".encode() + body


def signature_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers that sign one delivery attempt (``timestamp`` in Unix seconds)."""
    digest = hmac.new(_key(secret), signed_content(message_id, timestamp, body), hashlib.sha256)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest.digest()).decode(),
    }


def endpoint_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook endpoint, or None: http or https, a host, no
    credentials (they would be stored and shown), no fragment."""
    if len(url) > _MAX_URL:
        return f"longer than {_MAX_URL} characters"
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return "contains whitespace or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname:
        return "names no host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials; the signature authenticates each delivery"
    if parts.fragment:
        return "must not have a fragment"
    if port == 0:
        return "port 0 is not a port"
    return None


def matching_subscriptions(event_type: str, filters: Mapping[str, Collection[str]]) -> list[str]:
    """The subscriptions (id -> event types) whose filter takes ``event_type``."""
    return [sid for sid, types in filters.items() if event_type in types]


def is_accepted(status_code: int) -> bool:
    """A subscriber accepts a delivery with any 2xx; anything else (3xx included: redirects
    are not followed) is a failure to retry."""
    return 200 <= status_code < 300


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt ``n`` failed, the next waits
    ``min(max_s, first_s * 2**(n-1))`` times a random factor in [0.5, 1]; after
    ``max_attempts`` attempts the delivery is dead-lettered."""

    max_attempts: int
    first_s: float
    max_s: float

    def delay_s(self, attempts: int, jitter: Callable[[], float]) -> float | None:
        """Seconds to wait after ``attempts`` failed attempts, or None: dead-letter it.
        ``jitter()`` gives a number in [0, 1]."""
        if attempts >= self.max_attempts:
            return None
        ceiling = min(self.max_s, self.first_s * 2.0 ** (attempts - 1))
        return ceiling * (0.5 + 0.5 * jitter())

    def schedule(self, jitter: Callable[[], float]) -> list[float]:
        """Every wait between attempts, in order: what one always-failing delivery goes through."""
        waits = []
        for attempts in range(1, self.max_attempts):
            delay = self.delay_s(attempts, jitter)
            assert delay is not None
            waits.append(delay)
        return waits


def window_start(now_s: float, window_s: float) -> float:
    """The fixed rate-limit window ``now_s`` (Unix seconds) falls in, as its start."""
    return now_s - now_s % window_s


def alerts_allowed(already_sent: int, limit: int, wanted: int) -> int:
    """How many of ``wanted`` alerts a window that has sent ``already_sent`` of ``limit`` lets
    through; the rest are suppressed (counted, not sent)."""
    return max(0, min(wanted, limit - already_sent))


def event_types_problems(
    asked: Iterable[str], known: Collection[str], offered: Collection[str]
) -> list[str]:
    """Why each asked event type cannot be subscribed to: unknown, or not offered here."""
    problems = []
    for event_type in asked:
        if event_type not in known:
            problems.append(f"{event_type!r} is not an event type of the contract")
        elif event_type not in offered:
            problems.append(f"{event_type!r} is not offered here")
    return problems
