"""What the analytics service tells of the order flow (``oms.analytics-alerts``).

An order that sits in one status of its lifecycle longer than that status's threshold is a
bottleneck: analytics judges it on event time (the watermark of the topics it reads), so a
replay finds the same stuck orders, and publishes each stay once, with an event id derived from
the stay, and once more when the order moves on.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from oms_events._model import EventPayload, event
from oms_events.values import Identifier, UtcDatetime

__all__ = ["StuckOrderCleared", "StuckOrderDetected"]

_Status = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z_]{0,39}$")]


@event("StuckOrderDetected")
class StuckOrderDetected(EventPayload):
    """The order has sat in ``status`` since ``since`` for ``threshold_s``: it became stuck at
    ``stuck_at`` (``since`` + threshold, in event time). ``channel`` and ``locations`` are
    those known when it was detected."""

    order_id: Identifier
    status: _Status
    """The order's status as analytics follows it: ``PENDING``, ``CONFIRMED``, ``ON_HOLD``,
    ``ALLOCATED``, ``BACKORDERED``, ``RELEASED``, ``SHIPPED``, ``DELIVERED``, ``COLLECTED``."""
    since: UtcDatetime
    threshold_s: Annotated[int, Field(strict=True, ge=1)]
    stuck_at: UtcDatetime
    channel: Identifier | None = None
    locations: tuple[Identifier, ...] = ()
    """The locations the order was allocated or released to, sorted; empty before that."""


@event("StuckOrderCleared")
class StuckOrderCleared(EventPayload):
    """The stuck order left ``status`` at ``left_at`` for ``next_status`` (its stay that began
    at ``since``, reported by ``StuckOrderDetected``, is over)."""

    order_id: Identifier
    status: _Status
    since: UtcDatetime
    left_at: UtcDatetime
    next_status: _Status
