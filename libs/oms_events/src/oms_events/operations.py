"""What operators must hear about the services themselves (``oms.operations``).

Every service writes here through its runtime: the topic's writer is the runtime, not one
service. Nothing here carries a record's value or key, which may hold personal data.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from oms_events._model import EventPayload, event
from oms_events.values import Identifier, UtcDatetime

__all__ = ["RecordDeadLettered"]

_Name = Annotated[str, StringConstraints(min_length=1, max_length=249)]
_Reason = Annotated[str, StringConstraints(min_length=1, max_length=200)]
_Count = Annotated[int, Field(strict=True, ge=0)]


@event("RecordDeadLettered")
class RecordDeadLettered(EventPayload):
    """A service could not process a record and sent it to the topic's dead-letter twin
    (``<topic>.dlq``) and its ``oms_dead_letters`` table; an operator re-drives it after a
    fix. Published once per dead letter, in the transaction that keeps it."""

    service: Identifier
    topic: _Name
    """The record's topic as the broker names it (with the deployment's prefix)."""
    partition: _Count
    offset: _Count
    reason: _Reason
    """``malformed``, ``too_large``, ``unknown_event_type``, ``unknown_event_version``,
    ``invalid_payload``, ``handler_failed`` or a handler's own rejection code."""
    attempts: Annotated[int, Field(strict=True, ge=1)]
    record_event_id: Identifier | None = None
    """The record's event id and type, when its envelope could be read."""
    record_type: Identifier | None = None
    dead_lettered_at: UtcDatetime
