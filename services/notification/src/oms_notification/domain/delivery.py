"""What is handed to a provider, and what came of it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Delivery", "DeliveryStatus", "Email", "Sms"]


@dataclass(frozen=True)
class Email:
    message_id: str
    to: str
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Sms:
    reference: str
    to: str
    text: str


class DeliveryStatus(StrEnum):
    SENT = "sent"
    REFUSED = "refused"
    """Permanently refused (a 5xx reply): trying again changes nothing."""
    FAILED = "failed"
    """Not handed over (no connection, a 4xx reply): safe to try again."""
    UNKNOWN = "unknown"
    """Handed over, then the connection broke before the reply: it may have gone."""


@dataclass(frozen=True)
class Delivery:
    status: DeliveryStatus
    provider_message_id: str | None = None
    reason: str = ""
    """A code (``smtp_550``, ``connection_refused``), never the provider's prose."""
