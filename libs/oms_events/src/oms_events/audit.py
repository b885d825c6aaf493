"""Operator actions, recorded so every manual intervention has an audit trail."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from oms_events._model import EventPayload, event
from oms_events.values import Actor, Identifier, UtcDatetime

__all__ = ["OperatorAction", "OperatorActionRecorded"]

_Text = Annotated[str, StringConstraints(max_length=2000)]
_ParamValue = Annotated[str, StringConstraints(max_length=2000)]


class OperatorAction(StrEnum):
    REPLAY_STREAM = "replay_stream"
    REDRIVE_DEAD_LETTERS = "redrive_dead_letters"
    CANCEL_ORDER = "cancel_order"
    HOLD_ORDER = "hold_order"
    RELEASE_ORDER = "release_order"
    CHANGE_SHIPPING_ADDRESS = "change_shipping_address"
    ADJUST_STOCK = "adjust_stock"
    CHANGE_SOURCING_RULES = "change_sourcing_rules"
    APPLY_TOPICS = "apply_topics"
    COPY_EVENTS = "copy_events"
    PUBLISH_EVENTS = "publish_events"
    REBUILD_STATE = "rebuild_state"


@event("OperatorActionRecorded")
class OperatorActionRecorded(EventPayload):
    action_id: Identifier
    operator: Actor
    action: OperatorAction
    subject: Identifier
    """What the action was about (an order id, a topic, a sku@location); the record key."""
    order_id: Identifier | None = None
    parameters: Annotated[dict[Identifier, _ParamValue], Field(max_length=50, default_factory=dict)]
    reason: _Text
    occurred_at: UtcDatetime
