"""The messages customers get: which kinds exist, which are transactional, how one is told
once per change, in which language, to whom (masked in every record we publish), and what
happens when a send fails or its outcome is unknown. Pure rules, no I/O."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = [
    "LOCALES",
    "ORDER_UNKNOWN",
    "OUTCOME_UNKNOWN",
    "Category",
    "Channel",
    "MessageKind",
    "MessageStatus",
    "Outcome",
    "Preferences",
    "UnknownOutcomePolicy",
    "after_failure",
    "after_unknown_outcome",
    "change_key",
    "choose_locale",
    "mask_email",
    "mask_phone",
    "message_id",
    "opted_out",
    "recorded_failure",
    "suppression",
]

LOCALES: tuple[str, ...] = ("en", "de", "fr")
"""The languages every message kind has templates for."""

# Which language an address's country speaks, for customers without a stated preference.
_COUNTRY_LOCALES: dict[str, str] = {
    "DE": "de",
    "AT": "de",
    "CH": "de",
    "LI": "de",
    "LU": "fr",
    "FR": "fr",
    "BE": "fr",
    "MC": "fr",
}


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class Category(StrEnum):
    TRANSACTIONAL = "transactional"
    """About an order the customer placed and the money it moves: sent despite a marketing
    opt-out (only an opt-out of the whole channel stops it)."""
    MARKETING = "marketing"


class MessageKind(StrEnum):
    ORDER_CONFIRMED = "order_confirmed"
    PAYMENT_FAILED = "payment_failed"
    ON_HOLD = "on_hold"
    BACKORDERED = "backordered"
    IN_PREPARATION = "in_preparation"
    SHIPPED = "shipped"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    ORDER_CANCELED = "order_canceled"
    LINES_CANCELED = "lines_canceled"
    REFUND_ISSUED = "refund_issued"
    RETURN_AUTHORIZED = "return_authorized"
    RETURN_RECEIVED = "return_received"
    READY_FOR_PICKUP = "ready_for_pickup"
    COLLECTED = "collected"

    @property
    def category(self) -> Category:
        # Every kind told today is about the customer's own order: transactional.
        return Category.TRANSACTIONAL

    @property
    def follows_confirmation(self) -> bool:
        """Kinds that only happen after the order was confirmed (sourcing starts there): they
        wait until the confirmation's message is settled, so the customer reads them in that
        order (the topics are read side by side), or until the order wait is over."""
        return self in (
            MessageKind.BACKORDERED,
            MessageKind.IN_PREPARATION,
            MessageKind.SHIPPED,
            MessageKind.OUT_FOR_DELIVERY,
            MessageKind.DELIVERED,
            MessageKind.READY_FOR_PICKUP,
            MessageKind.COLLECTED,
        )

    @property
    def superseded_by(self) -> frozenset[MessageKind]:
        """Kinds whose message makes this one stale: the customer told the order shipped is
        not told, later, that it is being prepared (events of different topics may arrive
        in any order)."""
        if self is MessageKind.OUT_FOR_DELIVERY:
            return frozenset({MessageKind.DELIVERED})
        if self is MessageKind.IN_PREPARATION:
            return frozenset(
                {
                    MessageKind.SHIPPED,
                    MessageKind.OUT_FOR_DELIVERY,
                    MessageKind.DELIVERED,
                    MessageKind.READY_FOR_PICKUP,
                    MessageKind.COLLECTED,
                    MessageKind.ORDER_CANCELED,
                }
            )
        return frozenset()

    @property
    def once_per_order(self) -> bool:
        """Kinds several events describe (one fulfilment order per location, each created
        by its own event): the first tells the customer, the others find the change told."""
        return self in (MessageKind.IN_PREPARATION, MessageKind.ORDER_CONFIRMED)


class MessageStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    UNKNOWN = "unknown"
    """The service stopped while the provider had the message: it may or may not have gone."""


OUTCOME_UNKNOWN = "outcome_unknown: the send was interrupted after the message was handed over"
"""How the reason of a message whose send may or may not have gone begins."""
ORDER_UNKNOWN = "order_unknown: the order's acceptance never arrived"


def recorded_failure(reason: str) -> MessageStatus:
    """The status a message had when its NotificationFailed was published: unknown when the
    send was interrupted after the hand-over (the reason says so), else failed."""
    code = OUTCOME_UNKNOWN.partition(":")[0]
    return MessageStatus.UNKNOWN if reason.startswith(code) else MessageStatus.FAILED


class UnknownOutcomePolicy(StrEnum):
    GIVE_UP = "give_up"
    """Never risk a second copy: record the outcome as unknown and publish
    NotificationFailed (retryable false). The default."""
    RESEND = "resend"
    """Send again with the same Message-ID, so receivers that deduplicate drop the copy."""


def change_key(kind: MessageKind, order_id: str, trigger_event_id: str) -> str:
    """What makes a message unique per channel: the causing event, or the order for kinds
    that are told once per order."""
    if kind.once_per_order:
        return f"{order_id}:{kind.value}"
    return trigger_event_id


def choose_locale(preferred: str | None, country: str | None, default: str) -> str:
    """The customer's stated language, else their address country's, else the default."""
    for candidate in (preferred, _COUNTRY_LOCALES.get(country or "")):
        if candidate in LOCALES:
            return candidate
    return default


@dataclass(frozen=True)
class Preferences:
    locale: str | None = None
    opted_out_channels: frozenset[Channel] = frozenset()
    marketing_opt_out: bool = False


def suppression(kind: MessageKind, channel: Channel, preferences: Preferences) -> str | None:
    """Why this message must not go out on this channel, or None when it may."""
    if channel in preferences.opted_out_channels:
        return "opted_out"
    if kind.category is Category.MARKETING and preferences.marketing_opt_out:
        return "marketing_opt_out"
    return None


def mask_email(address: str) -> str:
    """``e***@example.com``: enough to tell addresses apart, not enough to write to one."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(number: str) -> str:
    digits = [c for c in number if c.isdigit()]
    return "***" + "".join(digits[-2:])


def message_id(notification_id: str, domain: str) -> str:
    """Deterministic: a resent copy carries the same Message-ID as the first."""
    return f"<{notification_id}@{domain}>"


@dataclass(frozen=True)
class Outcome:
    """What to record for a message after a send: its status, when to try again, whether the
    failure is published (final failures and unknown outcomes are)."""

    status: MessageStatus
    next_attempt_at: datetime | None = None
    publish_failure: bool = False
    retryable: bool = False


def after_failure(
    *,
    attempts: int,
    max_attempts: int,
    transient: bool,
    now: datetime,
    first_s: float,
    max_s: float,
    jitter: Callable[[], float] = random.random,
) -> Outcome:
    """A refused or failed send: a transient failure waits (doubling from ``first_s`` up to
    ``max_s``, plus up to ``first_s`` of jitter so messages that failed together do not all
    come back at once) and is tried again, until ``max_attempts``; a permanent one (the
    server refused the recipient) fails at once."""
    if not transient or attempts >= max_attempts:
        return Outcome(MessageStatus.FAILED, publish_failure=True, retryable=False)
    wait = min(first_s * 2 ** (attempts - 1), max_s) + first_s * jitter()
    return Outcome(MessageStatus.QUEUED, next_attempt_at=now + timedelta(seconds=wait))


def after_unknown_outcome(policy: UnknownOutcomePolicy, now: datetime) -> Outcome:
    """A message found mid-send after its claim expired (the service died, or the connection
    broke after the message was handed over)."""
    if policy is UnknownOutcomePolicy.RESEND:
        return Outcome(MessageStatus.QUEUED, next_attempt_at=now)
    return Outcome(MessageStatus.UNKNOWN, publish_failure=True, retryable=False)


def opted_out(values: Iterable[str]) -> frozenset[Channel]:
    """The channels named in ``values``; names of no channel are ignored."""
    named = set(values)
    return frozenset(c for c in Channel if c.value in named)
