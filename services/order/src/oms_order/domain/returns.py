"""A return: delivered units of an order coming back, received at a location, inspected,
refunded.

Returns are omnichannel: one may start on any channel and arrive at any location, whatever
the order was bought on. A unit may be asked back once (it is then in a return until the
end) and only within the return window after the order's last delivery. The refund is the
value the customer paid for the inspected units (their share of the line's total), never
more than what is left of the order's captures. The return's status derives from its
per-line buckets (requested, received, inspected), as the order's does.

Every method either changes the return and says what happened, or raises
:class:`~oms_order.domain.order.TransitionRefused` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from oms_order.domain.order import Order, TransitionRefused

__all__ = [
    "AskedLine",
    "Return",
    "ReturnLineState",
    "ReturnStatus",
    "Returnable",
    "request_return",
]


class ReturnStatus(StrEnum):
    REQUESTED = "REQUESTED"
    RECEIVED = "RECEIVED"
    INSPECTED = "INSPECTED"
    REFUNDED = "REFUNDED"


@dataclass(frozen=True)
class AskedLine:
    line_id: str
    quantity: int
    reason: str
    comment: str | None = None


@dataclass(frozen=True)
class Returnable:
    """What of an order may still come back: delivered units per line less those already in
    a return, and when its last delivery was."""

    delivered: Mapping[str, int]
    in_returns: Mapping[str, int]
    last_delivered_at: datetime | None

    def left(self, line_id: str) -> int:
        return self.delivered.get(line_id, 0) - self.in_returns.get(line_id, 0)


@dataclass
class ReturnLineState:
    line_id: str
    sku: str
    quantity: int
    reason: str
    value_minor: int
    """What the customer paid for the ``quantity`` units (their share of the line total)."""
    comment: str | None = None
    received: int = 0
    inspected: int = 0

    def value_of(self, units: int) -> int:
        """The value of the next ``units`` to be inspected: shares that add up to the
        line's value exactly, however the units are split."""
        share = self.value_minor * (self.inspected + units) // self.quantity
        return share - self.value_minor * self.inspected // self.quantity


@dataclass
class Return:
    return_id: str
    order_id: str
    rma_number: str
    channel: str
    lines: list[ReturnLineState]
    drop_off_location_id: str | None = None
    refunded_minor: int = 0
    locations: list[str] = field(default_factory=list)
    """Where its parcels arrived, in order."""

    @property
    def status(self) -> ReturnStatus:
        received = sum(line.received for line in self.lines)
        if received == 0:
            return ReturnStatus.REQUESTED
        if any(line.inspected < line.received for line in self.lines):
            return ReturnStatus.RECEIVED
        return ReturnStatus.REFUNDED if self.refunded_minor else ReturnStatus.INSPECTED

    def receive(self, location_id: str, units: Sequence[tuple[str, int]]) -> list[ReturnLineState]:
        """Units arrived at ``location_id`` (a parcel may hold part of the return)."""
        taken = self._units(units, lambda line: line.quantity - line.received, "received")
        for line, quantity in taken:
            line.received += quantity
        if location_id not in self.locations:
            self.locations.append(location_id)
        return [line for line, _ in taken]

    def inspect(self, units: Sequence[tuple[str, int]], refund_minor: int | None) -> int:
        """Received units inspected; returns the refund they are worth (``refund_minor`` when
        staff grant less, e.g. for a unit the customer damaged)."""
        taken = self._units(units, lambda line: line.received - line.inspected, "inspected")
        worth = sum(line.value_of(quantity) for line, quantity in taken)
        if refund_minor is not None and refund_minor > worth:
            raise TransitionRefused(
                "refund_exceeds_value",
                f"a refund of {refund_minor} is more than the {worth} the inspected units"
                " were paid",
            )
        for line, quantity in taken:
            line.inspected += quantity
        return worth if refund_minor is None else refund_minor

    def refunded(self, amount_minor: int) -> None:
        self.refunded_minor += amount_minor

    def _units(
        self,
        units: Sequence[tuple[str, int]],
        open_units: Callable[[ReturnLineState], int],
        step: str,
    ) -> list[tuple[ReturnLineState, int]]:
        by_id = {line.line_id: line for line in self.lines}
        if len({line_id for line_id, _ in units}) != len(units):
            raise TransitionRefused("duplicate_line", "each line may be named once")
        taken = []
        for line_id, quantity in units:
            line = by_id.get(line_id)
            if line is None:
                raise TransitionRefused("unknown_line", f"the return has no line {line_id!r}")
            left = open_units(line)
            if not 0 < quantity <= left:
                raise TransitionRefused(
                    f"quantity_not_{step}",
                    f"line {line_id!r} has {left} units left to be {step}, not {quantity}",
                )
            taken.append((line, quantity))
        return taken


def request_return(
    order: Order,
    returnable: Returnable,
    asked: Sequence[AskedLine],
    *,
    return_id: str,
    rma_number: str,
    channel: str,
    drop_off_location_id: str | None,
    now: datetime,
    window: timedelta,
) -> Return:
    """A new return of delivered units of ``order``, refused when nothing was delivered, the
    window has closed or a line asks for more than may come back."""
    if returnable.last_delivered_at is None:
        raise TransitionRefused(
            "nothing_delivered", "no unit of the order has been delivered or collected yet"
        )
    closes = returnable.last_delivered_at + window
    if now > closes:
        raise TransitionRefused(
            "return_window_closed",
            f"the return window closed at {closes.isoformat()} ({window.days} days after the"
            " last delivery)",
        )
    if len({line.line_id for line in asked}) != len(asked):
        raise TransitionRefused("duplicate_line", "each line may be named once")
    by_id = {line.line_id: line for line in order.lines}
    lines = []
    for line in asked:
        ordered = by_id.get(line.line_id)
        if ordered is None:
            raise TransitionRefused("unknown_line", f"the order has no line {line.line_id!r}")
        left = returnable.left(line.line_id)
        if not 0 < line.quantity <= left:
            raise TransitionRefused(
                "quantity_not_returnable",
                f"line {line.line_id!r} has {left} delivered units that may come back, not"
                f" {line.quantity}",
            )
        lines.append(
            ReturnLineState(
                line_id=line.line_id,
                sku=ordered.sku,
                quantity=line.quantity,
                reason=line.reason,
                value_minor=ordered.line_total_minor * line.quantity // ordered.ordered,
                comment=line.comment,
            )
        )
    return Return(
        return_id=return_id,
        order_id=order.order_id,
        rma_number=rma_number,
        channel=channel,
        lines=lines,
        drop_off_location_id=drop_off_location_id,
    )
