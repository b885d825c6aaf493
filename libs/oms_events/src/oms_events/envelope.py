"""The CloudEvents 1.0 envelope every record on every topic carries (structured JSON mode)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

from oms_events._model import StrictModel
from oms_events.values import UtcDatetime

__all__ = ["MAX_SEQUENCE", "SEQUENCE_DIGITS", "Envelope", "SequenceNumber"]

_NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=500)]

SEQUENCE_DIGITS = 19
"""Width of ``sequence`` on the wire: every value up to :data:`MAX_SEQUENCE` fits."""
MAX_SEQUENCE = 2**63 - 1
"""Largest sequence number: a PostgreSQL ``bigint``, where every service keeps its own."""

_SEQUENCE_TEXT = re.compile(rf"[0-9]{{1,{SEQUENCE_DIGITS}}}")


def _sequence_from_wire(value: object) -> object:
    """The CloudEvents ``sequence`` extension is a string; records written before it was
    one carry a JSON integer, which stays valid. Anything else is left to the int check."""
    if isinstance(value, str):
        if _SEQUENCE_TEXT.fullmatch(value) is None:
            raise ValueError(f"must be a string of 1 to {SEQUENCE_DIGITS} decimal digits")
        return int(value)
    return value


def _sequence_to_wire(value: int) -> str:
    return f"{value:0{SEQUENCE_DIGITS}d}"


SequenceNumber = Annotated[
    int,
    BeforeValidator(_sequence_from_wire),
    Field(strict=True, ge=0, le=MAX_SEQUENCE),
    PlainSerializer(_sequence_to_wire, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": f"^[0-9]{{1,{SEQUENCE_DIGITS}}}$"},
                {"type": "integer", "minimum": 0, "maximum": MAX_SEQUENCE},
            ]
        },
        mode="validation",
    ),
    WithJsonSchema(
        {"type": "string", "pattern": f"^[0-9]{{{SEQUENCE_DIGITS}}}$"}, mode="serialization"
    ),
]
"""An aggregate's sequence number: an ``int`` in Python, a zero-padded decimal string of
:data:`SEQUENCE_DIGITS` digits in JSON, so it orders lexicographically as the CloudEvents
sequence extension requires. A JSON integer (what records carried before) is still read."""


class Envelope(StrictModel):
    """CloudEvents context attributes plus the OMS extensions.

    ``dataversion``, ``correlationid``, ``causationid`` and ``sequence`` are CloudEvents
    extension attributes, hence lower case without separators as the spec requires.
    """

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
    sequence: SequenceNumber
    """The aggregate's sequence number, so consumers can spot gaps and stale replays: written
    as 19 zero-padded decimal digits (``"0000000000000000042"``); records written before
    carry a JSON integer, which readers must still accept."""
    data: dict[str, Any]
