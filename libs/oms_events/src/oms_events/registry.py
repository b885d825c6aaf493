"""Which payload model belongs to which (event type, version), and how to upcast.

Payload models declare themselves with ``@event("Type", version=n)`` and upcasters
with ``@upcaster("Type", from_version=n)`` in their area module; importing this
module imports every area module, so the registry here is complete.
"""

from __future__ import annotations

from typing import Any

from oms_events import (  # noqa: F401  (imported for their registrations)
    analytics,
    audit,
    fulfilment,
    inventory,
    notifications,
    operations,
    orders,
    payments,
    returns,
    sourcing,
)
from oms_events._model import (
    REGISTRY,
    EventPayload,
    EventRegistry,
    Upcaster,
    dataschema_urn,
    event,
    upcaster,
)

__all__ = [
    "ALL_EVENT_TYPES",
    "REGISTRY",
    "EventPayload",
    "EventRegistry",
    "Upcaster",
    "dataschema_urn",
    "event",
    "latest_model",
    "latest_version",
    "payload_model",
    "upcast",
    "upcaster",
]

ALL_EVENT_TYPES: tuple[str, ...] = REGISTRY.event_types()
"""Every event type name, sorted."""


def latest_version(event_type: str) -> int:
    """The newest version of ``event_type``; KeyError if the type is unknown."""
    return REGISTRY.latest_version(event_type)


def payload_model(event_type: str, version: int) -> type[EventPayload]:
    """The model of one version (old versions included); KeyError if it never existed."""
    return REGISTRY.payload_model(event_type, version)


def latest_model(event_type: str) -> type[EventPayload]:
    """The model of the newest version: what :func:`oms_events.codec.decode` returns."""
    return REGISTRY.latest_model(event_type)


def upcast(event_type: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
    """Chain the upcasters from ``version`` to the latest version of ``event_type``."""
    return REGISTRY.upcast(event_type, version, data)
