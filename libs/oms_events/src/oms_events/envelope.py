"""The CloudEvents 1.0 envelope every record on every topic carries (structured JSON mode)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from oms_events.values import UtcDatetime

__all__ = ["Envelope"]

_NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class Envelope(BaseModel):
    """CloudEvents context attributes plus the OMS extensions.

    ``dataversion``, ``correlationid``, ``causationid`` and ``sequence`` are CloudEvents
    extension attributes, hence lower case without separators as the spec requires.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    specversion: Literal["1.0"] = "1.0"
    id: UUID
    source: _NonEmpty
    """Producing service, e.g. ``oms/order``."""
    type: _NonEmpty
    """Event type name, e.g. ``OrderAccepted``."""
    dataversion: Annotated[int, Field(strict=True, ge=1)]
    """Version of the payload schema the producer wrote."""
    time: UtcDatetime
    subject: _NonEmpty
    """Aggregate id: the order id for order-lifecycle events."""
    dataschema: _NonEmpty
    """``urn:oms:event:<type>:v<version>``; the ``$id`` of the committed JSON Schema."""
    datacontenttype: Literal["application/json"] = "application/json"
    correlationid: _NonEmpty
    """Id of the originating request or order flow; shared by every event it leads to."""
    causationid: _NonEmpty | None = None
    """Id of the event or command that caused this one."""
    sequence: Annotated[int, Field(strict=True, ge=0)]
    """The aggregate's sequence number, so consumers can spot gaps and stale replays."""
    data: dict[str, Any]
