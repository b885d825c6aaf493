"""Customer notifications and webhooks (notification service, ``oms.notifications``).

``trigger_event_id`` names the event a notification answers; the notification service
sends at most one notification per (trigger event, channel), also under replay.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from oms_events._model import EventPayload, event
from oms_events.values import Identifier, UtcDatetime

__all__ = [
    "NotificationChannel",
    "NotificationFailed",
    "NotificationSent",
    "NotificationSuppressed",
    "WebhookDeadLettered",
    "WebhookDelivered",
]

_Text = Annotated[str, StringConstraints(max_length=2000)]
_Url = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
_Locale = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]
_Attempts = Annotated[int, Field(strict=True, ge=1)]
_Status = Annotated[int, Field(strict=True, ge=100, le=599)]


class NotificationChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class _MessageOutcome(EventPayload):
    """What every outcome says of the message it reports."""

    notification_id: Identifier
    order_id: Identifier
    trigger_event_id: Identifier
    channel: NotificationChannel
    template: Identifier


@event("NotificationSent")
class NotificationSent(_MessageOutcome):
    locale: _Locale
    recipient: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    """Masked (``j***@example.com``): the event log is no place for personal data."""
    provider_message_id: Identifier | None = None
    sent_at: UtcDatetime
    attempts: _Attempts | None = None
    """Sends tried, this one included (absent in events published before it was added)."""


@event("NotificationFailed")
class NotificationFailed(_MessageOutcome):
    reason: _Text
    retryable: bool
    attempts: _Attempts
    locale: _Locale | None = None
    """The language the message was rendered in; absent when it never was (and in events
    published before it was added)."""


@event("NotificationSuppressed")
class NotificationSuppressed(_MessageOutcome):
    """A message deliberately not sent: the customer opted out of the channel, a later
    message made it stale, there is no recipient or no SMS provider. Nothing was handed to a
    provider."""

    locale: _Locale
    reason: Identifier
    """``opted_out``, ``marketing_opt_out``, ``superseded``, ``no_recipient``,
    ``no_sms_provider``."""
    attempts: _Attempts


@event("WebhookDelivered")
class WebhookDelivered(EventPayload):
    delivery_id: Identifier
    subscription_id: Identifier
    order_id: Identifier
    event_id: Identifier
    """Id of the delivered event's envelope."""
    url: _Url
    status_code: _Status
    attempts: _Attempts
    delivered_at: UtcDatetime


@event("WebhookDeadLettered")
class WebhookDeadLettered(EventPayload):
    """Retries are exhausted; an operator can re-drive the delivery after a fix."""

    delivery_id: Identifier
    subscription_id: Identifier
    order_id: Identifier
    event_id: Identifier
    url: _Url
    attempts: _Attempts
    last_status_code: _Status | None = None
    last_error: _Text
    dead_lettered_at: UtcDatetime
