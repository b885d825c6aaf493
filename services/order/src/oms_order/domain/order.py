"""The order aggregate: statuses, per-line quantity buckets and the transitions between them.

Every method either changes the order and says what happened, or raises
:class:`TransitionRefused` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from oms_order.domain.request import OrderRequest
from oms_order.domain.status import OrderStatus

__all__ = [
    "CancelOutcome",
    "LineState",
    "Order",
    "PaymentStatus",
    "TransitionRefused",
]


class PaymentStatus(StrEnum):
    NOT_PAID = "NOT_PAID"
    AUTHORIZED = "AUTHORIZED"
    PARTIALLY_CAPTURED = "PARTIALLY_CAPTURED"
    CAPTURED = "CAPTURED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"
    FAILED = "FAILED"


class TransitionRefused(Exception):
    """A change the order's state does not allow; ``code`` is stable, the message explains."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_TERMINAL = frozenset({OrderStatus.COMPLETED, OrderStatus.CANCELED, OrderStatus.REJECTED})
# Before release to a location the order is still the OMS's alone to change.
_BEFORE_RELEASE = frozenset(
    {OrderStatus.PENDING, OrderStatus.CONFIRMED, OrderStatus.ALLOCATED, OrderStatus.BACKORDERED}
)
_CANCELABLE = _BEFORE_RELEASE | {OrderStatus.RELEASED}
_SHIPPABLE_PAYMENT = frozenset(
    {
        PaymentStatus.AUTHORIZED,
        PaymentStatus.PARTIALLY_CAPTURED,
        PaymentStatus.CAPTURED,
        PaymentStatus.PARTIALLY_REFUNDED,
    }
)
# Rank of each status along the lifecycle: late events never move an order backwards.
_RANK = {
    OrderStatus.PENDING: 0,
    OrderStatus.CONFIRMED: 1,
    OrderStatus.ALLOCATED: 2,
    OrderStatus.BACKORDERED: 2,
    OrderStatus.RELEASED: 3,
    OrderStatus.PARTIALLY_FULFILLED: 4,
    OrderStatus.FULFILLED: 5,
    OrderStatus.COMPLETED: 6,
}


@dataclass
class LineState:
    """One line's quantity buckets; the order's fulfilment status derives from them."""

    line_id: str
    sku: str
    ordered: int
    line_total_minor: int
    canceled: int = 0
    shipped: int = 0

    @property
    def open(self) -> int:
        """Units neither canceled nor shipped: what a cancellation may still take."""
        return self.ordered - self.canceled - self.shipped


@dataclass(frozen=True)
class CancelOutcome:
    whole_order: bool
    lines: tuple[tuple[str, int], ...]
    """(line id, quantity) canceled by this request."""
    refund_due_minor: int
    """Value of the canceled units, for the refund when payment was captured."""


@dataclass
class Order:
    order_id: str
    status: OrderStatus
    payment_status: PaymentStatus
    delivery_method: str
    currency: str
    grand_total_minor: int
    lines: list[LineState]
    on_hold: bool = False
    hold_reason: str | None = None
    authorization_id: str | None = None
    captured_minor: int = 0
    capture_id: str | None = None
    """The capture taken when the order was accepted (prepaid methods); refunds draw on it."""
    refunded_minor: int = 0

    @classmethod
    def new(cls, order_id: str, request: OrderRequest) -> Order:
        """The aggregate of an order just accepted, as the store holds it."""
        return cls(
            order_id=order_id,
            status=OrderStatus.PENDING,
            payment_status=PaymentStatus.NOT_PAID,
            delivery_method=request.delivery_method.value,
            currency=request.currency,
            grand_total_minor=request.totals.grand_total.amount_minor,
            lines=[
                LineState(
                    line_id=line.line_id,
                    sku=line.sku,
                    ordered=line.quantity,
                    line_total_minor=line.line_total.amount_minor,
                )
                for line in request.lines
            ],
        )

    # -- customer service ----------------------------------------------------------------

    def cancel(self, requested: Sequence[tuple[str, int]] = ()) -> CancelOutcome:
        """Cancel the whole order (``requested`` empty) or some units of some lines."""
        if self.status not in _CANCELABLE:
            raise TransitionRefused(
                "not_cancelable", f"an order in status {self.status} cannot be canceled"
            )
        by_id = {line.line_id: line for line in self.lines}
        if not requested:
            requested = [(line.line_id, line.open) for line in self.lines if line.open]
        taken: list[tuple[str, int]] = []
        for line_id, quantity in requested:
            line = by_id.get(line_id)
            if line is None:
                raise TransitionRefused("unknown_line", f"the order has no line {line_id!r}")
            if not 0 < quantity <= line.open:
                raise TransitionRefused(
                    "quantity_not_cancelable",
                    f"line {line_id!r} has {line.open} units left to cancel, not {quantity}",
                )
            taken.append((line_id, quantity))
        refund = 0
        for line_id, quantity in taken:
            line = by_id[line_id]
            refund += line.line_total_minor * quantity // line.ordered
            line.canceled += quantity
        whole = all(line.canceled == line.ordered for line in self.lines)
        if whole:
            self.status = OrderStatus.CANCELED
            self.on_hold = False
            self.hold_reason = None
        return CancelOutcome(whole_order=whole, lines=tuple(taken), refund_due_minor=refund)

    def hold(self, reason: str) -> None:
        if self.status in _TERMINAL or self.status == OrderStatus.FULFILLED:
            raise TransitionRefused(
                "not_holdable", f"an order in status {self.status} cannot be held"
            )
        if self.on_hold:
            raise TransitionRefused(
                "already_on_hold", f"the order is already on hold ({self.hold_reason})"
            )
        self.on_hold = True
        self.hold_reason = reason

    def release(self) -> bool:
        """Lift the hold; True when the order is now confirmed (payment already authorised)."""
        if not self.on_hold:
            raise TransitionRefused("not_on_hold", "the order is not on hold")
        self.on_hold = False
        self.hold_reason = None
        return self.try_confirm()

    def check_address_change(self) -> None:
        if self.delivery_method != "home_delivery":
            raise TransitionRefused(
                "not_home_delivery",
                f"a {self.delivery_method} order has no shipping address to change",
            )
        if self.status not in _BEFORE_RELEASE:
            raise TransitionRefused(
                "order_released",
                "the shipping address cannot change once the order is released to "
                f"fulfilment (status {self.status})",
            )

    # -- payment ---------------------------------------------------------------------------

    def payment_authorized(self, authorization_id: str) -> bool:
        """Record the authorisation; True when the order is now confirmed."""
        if self.payment_status != PaymentStatus.NOT_PAID:
            raise TransitionRefused(
                "payment_not_pending",
                f"payment is {self.payment_status}, not awaiting authorisation",
            )
        self.payment_status = PaymentStatus.AUTHORIZED
        self.authorization_id = authorization_id
        return self.try_confirm()

    def payment_failed(self) -> None:
        self.payment_status = PaymentStatus.FAILED

    def try_confirm(self) -> bool:
        if (
            self.status == OrderStatus.PENDING
            and self.payment_status == PaymentStatus.AUTHORIZED
            and not self.on_hold
        ):
            self.status = OrderStatus.CONFIRMED
            return True
        return False

    def compensation(self) -> str | None:
        """What a whole cancellation owes the customer: ``void`` or ``refund``, or nothing."""
        if self.payment_status == PaymentStatus.AUTHORIZED:
            return "void"
        if self.captured_minor > self.refunded_minor:
            return "refund"
        return None

    # -- shipments -------------------------------------------------------------------------

    def shipped(self, lines: Sequence[tuple[str, int]]) -> int:
        """Units left a location; returns what to capture for them (minor units).

        The shipment that completes the order also captures the rest of the authorisation
        (shipping costs), less what canceled units were worth.
        """
        if self.payment_status not in _SHIPPABLE_PAYMENT:
            raise ValueError(f"a shipment for an order whose payment is {self.payment_status}")
        by_id = {line.line_id: line for line in self.lines}
        value = 0
        for line_id, quantity in lines:
            line = by_id.get(line_id)
            if line is None or not 0 < quantity <= line.open:
                raise ValueError(
                    f"shipment of {quantity} units of line {line_id!r} does not fit the order"
                )
            line.shipped += quantity
            value += line.line_total_minor * quantity // line.ordered
        if self.capture_id is not None:  # paid in full when accepted: nothing more to capture
            value = 0
            self.advance(
                OrderStatus.FULFILLED
                if all(line.open == 0 for line in self.lines)
                else OrderStatus.PARTIALLY_FULFILLED
            )
        elif all(line.open == 0 for line in self.lines):
            canceled_value = sum(
                line.line_total_minor * line.canceled // line.ordered for line in self.lines
            )
            value = self.grand_total_minor - canceled_value - self.captured_minor
            self.advance(OrderStatus.FULFILLED)
        else:
            self.advance(OrderStatus.PARTIALLY_FULFILLED)
        return value

    def shipped_despite_cancel(self, lines: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
        """Units handed to a carrier before their cancellation reached the location (which
        then refuses it): they left, so they count as shipped, not canceled. Returns the
        (line id, units) taken back from canceled; call before ``shipped``."""
        by_id = {line.line_id: line for line in self.lines}
        taken_back = []
        for line_id, quantity in lines:
            line = by_id.get(line_id)
            units = min(quantity - line.open, line.canceled) if line else 0
            if line and units > 0:
                line.canceled -= units
                taken_back.append((line_id, units))
        return taken_back

    def uncollected(self, lines: Sequence[tuple[str, int]]) -> int:
        """Units set aside for pickup (counted shipped) that their customer never collected
        are canceled after all. Returns what to refund: their value, or everything captured
        and not yet refunded when nothing of the order is left (CANCELED)."""
        by_id = {line.line_id: line for line in self.lines}
        value = 0
        for line_id, quantity in lines:
            line = by_id.get(line_id)
            if line is None or not 0 < quantity <= line.shipped:
                raise ValueError(f"{quantity} uncollected units of line {line_id!r} do not fit")
            line.shipped -= quantity
            line.canceled += quantity
            value += line.line_total_minor * quantity // line.ordered
        left_to_refund = self.captured_minor - self.refunded_minor
        if all(line.canceled == line.ordered for line in self.lines):
            self.status = OrderStatus.CANCELED
            self.on_hold = False
            self.hold_reason = None
            return left_to_refund
        return min(value, left_to_refund)

    def captured_in_full(self, capture_id: str) -> None:
        """Prepaid methods: the whole amount is taken when the order is accepted."""
        self.capture_id = capture_id
        self.captured_minor = self.grand_total_minor
        self.payment_status = PaymentStatus.CAPTURED

    def refunded(self, amount_minor: int) -> None:
        if not 0 < amount_minor <= self.captured_minor - self.refunded_minor:
            raise ValueError(
                f"a refund of {amount_minor} exceeds what is left of the captured "
                f"{self.captured_minor} (refunded {self.refunded_minor})"
            )
        self.refunded_minor += amount_minor
        self.payment_status = (
            PaymentStatus.REFUNDED
            if self.refunded_minor == self.captured_minor
            else PaymentStatus.PARTIALLY_REFUNDED
        )

    def captured(self, amount_minor: int) -> None:
        self.captured_minor += amount_minor
        fully = all(line.open == 0 for line in self.lines)
        self.payment_status = PaymentStatus.CAPTURED if fully else PaymentStatus.PARTIALLY_CAPTURED

    # -- downstream progress ---------------------------------------------------------------

    def advance(self, status: OrderStatus) -> bool:
        """Move forward along the lifecycle; a late or repeated event changes nothing."""
        if self.status in _TERMINAL or _RANK[status] <= _RANK[self.status]:
            return False
        if status == OrderStatus.COMPLETED and self.status != OrderStatus.FULFILLED:
            return False
        self.status = status
        return True
