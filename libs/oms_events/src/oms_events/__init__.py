"""The OMS public event contract: envelope, versioned payloads, upcasters, topics.

Area modules (``orders``, ``payments``, ``returns``, ``inventory``, ``sourcing``,
``fulfilment``, ``notifications``, ``operations``, ``audit``, ``analytics``) hold the payload
models; import them from there. This package re-exports only the codec surface every service uses.
"""

from oms_events._model import StrictModel
from oms_events.codec import (
    MAX_EVENT_BYTES,
    DecodedEvent,
    EventTooLarge,
    InvalidEvent,
    InvalidPayload,
    MalformedEvent,
    UnknownEventType,
    UnknownEventVersion,
    decode,
    encode,
    new_event,
)
from oms_events.envelope import Envelope
from oms_events.registry import EventPayload

__all__ = [
    "MAX_EVENT_BYTES",
    "DecodedEvent",
    "Envelope",
    "EventPayload",
    "EventTooLarge",
    "InvalidEvent",
    "InvalidPayload",
    "MalformedEvent",
    "StrictModel",
    "UnknownEventType",
    "UnknownEventVersion",
    "decode",
    "encode",
    "new_event",
]
