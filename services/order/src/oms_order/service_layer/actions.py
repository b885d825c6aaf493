"""What the order service does to an order, whichever path asked: intake topic, command topic
or HTTP. Each action runs inside the caller's transaction and records every change in the
order's timeline and as an event in the outbox."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog

from oms_events.orders import (
    HoldReason,
    OrderAccepted,
    OrderCanceled,
    OrderCommandRejected,
    OrderCompleted,
    OrderConfirmed,
    OrderHeld,
    OrderLinesCanceled,
    OrderRejected,
    OrderReleased,
    OrderSubmitted,
    PaymentMethod,
    RejectionReason,
    ShippingAddressChanged,
)
from oms_events.payments import (
    PaymentAuthorized,
    PaymentCaptured,
    PaymentFailed,
    PaymentVoided,
    RefundIssued,
)
from oms_events.values import Actor, ActorRole, Address, LineQuantity, Money
from oms_order.adapters import orders as store
from oms_order.adapters.payments import PaymentOutcome, PaymentProvider, ProviderUnavailable
from oms_order.domain.identity import order_id_for
from oms_order.domain.order import Order, PaymentStatus, TransitionRefused
from oms_order.domain.status import OrderStatus
from oms_order.domain.validation import RiskPolicy, ValidationPolicy, assess_risk, validate_order
from oms_order.service_layer.stores import OrderStore, ShipmentStore
from oms_order.service_layer.timeline import cause_of, record, timeline
from oms_order.service_layer.translation import request_of
from oms_runtime import UnitOfWork, retried, safe_text

__all__ = [
    "OrderActions",
    "OrderNotFound",
    "Progress",
    "SubmitResult",
    "actor_label",
    "authorization_key",
    "capture_key",
    "unreadable",
    "unreadable_order_identity",
    "unreadable_order_reasons",
]

_log = structlog.get_logger(__name__)
T = TypeVar("T")
SYSTEM = Actor(actor_id="order-service", role=ActorRole.SYSTEM)


class OrderNotFound(Exception):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"no order {order_id!r}")
        self.order_id = order_id


# Taken in full when the order is accepted, as these providers settle at once.
PREPAID_METHODS = frozenset(
    {PaymentMethod.PAYPAL, PaymentMethod.GIFT_CARD, PaymentMethod.BANK_TRANSFER}
)


def authorization_key(order_id: str) -> str:
    """The provider's idempotency key of an order's authorisation (one per order)."""
    return f"{order_id}:authorize"


def capture_key(order_id: str, shipment_id: str | None) -> str:
    """The provider's idempotency key of a capture: a shipment's, or (None) the whole
    order's, taken at acceptance for prepaid methods."""
    return f"{order_id}:capture:{shipment_id or 'order'}"


def payment_id_for(order_id: str) -> str:
    """One payment per order for now; partial captures and refunds hang off it."""
    return f"pay_{order_id.removeprefix('ord_')}"


def actor_label(actor: Actor) -> str:
    return f"{actor.role.value}:{actor.actor_id}"


def _storable_identifier(value: Any) -> bool:
    """An id the store can key an order by: 1-200 characters of text PostgreSQL accepts."""
    return isinstance(value, str) and 0 < len(value) <= 200 and safe_text(value) == value


def unreadable_order_identity(data: Mapping[str, Any]) -> tuple[str, str] | None:
    """(channel, external order id) of an order the contract cannot read, when both are there.

    Without them there is no order to speak of: the caller dead-letters or refuses the input.
    """
    channel, external = data.get("channel"), data.get("external_order_id")
    if _storable_identifier(channel) and _storable_identifier(external):
        return str(channel), str(external)
    return None


_UNREADABLE = frozenset({"invalid_field", "invalid_order"})
"""The codes of an unreadable order's reasons (validation's codes are others)."""


def unreadable(reasons: Sequence[RejectionReason]) -> bool:
    """Whether an order was rejected because it could not be read."""
    return bool(reasons) and all(reason.code in _UNREADABLE for reason in reasons)


def unreadable_order_reasons(
    errors: Sequence[tuple[str, str]], summary: str
) -> list[RejectionReason]:
    """Why an unreadable order is rejected: one reason per (field path, message) error."""
    return [
        RejectionReason(
            code="invalid_field",
            field=safe_text(location, 200) or None,
            message=safe_text(message, 2000),
        )
        for location, message in errors
    ] or [RejectionReason(code="invalid_order", message=safe_text(summary, 2000))]


@dataclass(frozen=True)
class SubmitResult:
    order_id: str
    created: bool
    status: str


@dataclass(frozen=True)
class Progress:
    """One event of sourcing moving an order on: to ``status``, because of ``cause``."""

    work: UnitOfWork
    order_id: str
    status: OrderStatus
    cause: str
    why: Mapping[str, Any] | None = None
    """What the timeline should say beside the status (why lines wait, and until when)."""
    promised_by: datetime | None = None
    """The delivery promise a released fulfilment order carries."""


@dataclass
class OrderActions:
    payments: PaymentProvider
    orders: OrderStore
    shipments: ShipmentStore
    validation: ValidationPolicy
    risk: RiskPolicy
    payment_attempts: int = 4
    payment_backoff_s: float = 0.2
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    """The clock, where the unit of work has no time of its own (``UnitOfWork.now``)."""
    recalled_payments: Callable[[UnitOfWork], PaymentProvider] | None = None
    """The provider's answers a rebuild read back (``service_layer/recalled_payments.py``):
    a rebuild asks them, never the provider."""

    # -- capture ---------------------------------------------------------------------------

    async def submit(self, work: UnitOfWork, order: OrderSubmitted) -> SubmitResult:
        """One order per (channel, external id): validate, accept or reject, hold, authorise."""
        [result] = await self.submit_all([(work, order)])
        return result

    async def submit_all(
        self, submitted: Sequence[tuple[UnitOfWork, OrderSubmitted]]
    ) -> list[SubmitResult]:
        """``submit`` for a run of orders, each with its own cause, with one statement per
        table for the run: the orders and their lines stored, early cancellations taken and
        the aggregates saved together; the decisions in between are each order's own."""
        conn = submitted[0][0].conn
        new: dict[str, store.NewOrder] = {}
        for work, order in submitted:
            order_id = order_id_for(order.channel, order.external_order_id)
            reasons = validate_order(request_of(order), self.validation, now=work.now(self.clock))
            status = OrderStatus.REJECTED if reasons else OrderStatus.PENDING
            new.setdefault(order_id, store.NewOrder(order_id, order, status, reasons or None))
        await self.orders.lock_identities(
            conn, [(n.order.channel, n.order.external_order_id) for n in new.values()]
        )
        stored = await self.orders.insert_orders(conn, list(new.values()))
        pending = await self.orders.take_pending_cancellations(
            conn,
            [
                (n.order.channel, n.order.external_order_id)
                for n in new.values()
                if n.order_id in stored and not n.reasons
            ],
        )
        results: list[SubmitResult] = []
        to_save: list[Order] = []
        for work, order in submitted:
            order_id = order_id_for(order.channel, order.external_order_id)
            if order_id not in stored:  # known before, or a second copy in this run
                results.append(SubmitResult(order_id, created=False, status=""))
                continue
            stored.discard(order_id)
            timeline(work).seed(order_id, 0)
            early = pending.get((order.channel, order.external_order_id))
            aggregate, saved = await self._accept(work, new[order_id], early)
            if aggregate is not None and not saved:
                to_save.append(aggregate)
            outcome = aggregate.status if aggregate else new[order_id].status
            results.append(SubmitResult(order_id, created=True, status=outcome.value))
        await self.orders.save_orders(conn, to_save)
        known = [r.order_id for r in results if not r.created]
        if known:
            _log.info("orders_duplicate", count=len(known))
            statuses = await self.orders.statuses(conn, known)
            results = [
                r if r.created else SubmitResult(r.order_id, False, statuses.get(r.order_id, ""))
                for r in results
            ]
        return results

    async def _accept(
        self, work: UnitOfWork, new: store.NewOrder, early: Mapping[str, Any] | None
    ) -> tuple[Order | None, bool]:
        """What follows a new order's insert: its aggregate (None when rejected), and whether
        it was saved here already."""
        order, order_id = new.order, new.order_id
        actor = f"channel:{order.channel}"
        if new.reasons:
            await self._reject(
                work, order_id, order.channel, order.external_order_id, new.reasons, actor
            )
            return None, True

        accepted = OrderAccepted(order_id=order_id, **order.model_dump())
        await record(work, order_id, accepted, actor=actor)
        request = request_of(order)
        aggregate = Order.new(order_id, request)  # just inserted, and locked by this transaction
        if early is not None:
            aggregate.cancel()
            await self._canceled(
                work,
                aggregate,
                early["reason"] or "canceled by the channel before the order arrived",
                Actor(actor_id=order.channel, role=ActorRole.CUSTOMER),
                order.payment.amount,
            )
            await self.orders.save_order(work.conn, aggregate)  # its lines changed too
            return aggregate, True

        flags = assess_risk(request, self.risk)
        if flags:
            aggregate.hold(HoldReason.RISK_REVIEW.value)
            held = OrderHeld(
                order_id=order_id,
                reason=HoldReason.RISK_REVIEW,
                rule=flags[0].rule,
                note="; ".join(f"{f.rule}: {f.note}" for f in flags)[:2000],
            )
            await record(
                work,
                order_id,
                held,
                actor="system:risk-rules",
                detail={"rules": [f.rule for f in flags]},
            )
        await self._authorize(work, aggregate, order)
        return aggregate, False  # saved with the run: no line changed yet

    async def reject_unreadable(
        self, work: UnitOfWork, channel: str, external_order_id: str, reasons: list[RejectionReason]
    ) -> str:
        order_id = order_id_for(channel, external_order_id)
        if await self.orders.insert_unreadable_order(
            work.conn, order_id, channel, external_order_id, reasons
        ):
            timeline(work).seed(order_id, 0)
            await self._reject(
                work, order_id, channel, external_order_id, reasons, f"channel:{channel}"
            )
        return order_id

    async def _reject(
        self,
        work: UnitOfWork,
        order_id: str,
        channel: str,
        external_order_id: str,
        reasons: list[RejectionReason],
        actor: str,
    ) -> None:
        rejected = OrderRejected(
            order_id=order_id,
            channel=channel,
            external_order_id=external_order_id,
            reasons=tuple(reasons),
        )
        await record(
            work, order_id, rejected, actor=actor, detail={"codes": [r.code for r in reasons]}
        )
        _log.info("order_rejected", order_id=order_id, codes=[r.code for r in reasons])

    async def _authorize(self, work: UnitOfWork, aggregate: Order, order: OrderSubmitted) -> None:
        payment = order.payment
        provider = self.payments_for(work)
        result = await self._provider(
            lambda: provider.authorize(
                idempotency_key=authorization_key(aggregate.order_id),
                reference=aggregate.order_id,
                amount=payment.amount,
                card_token=payment.card_token,
                method=payment.method.value,
            )
        )
        payment_id = payment_id_for(aggregate.order_id)
        if result.outcome == PaymentOutcome.APPROVED and result.authorization_id:
            confirmed = aggregate.payment_authorized(result.authorization_id)
            authorized = PaymentAuthorized(
                order_id=aggregate.order_id,
                payment_id=payment_id,
                provider=payment.provider,
                provider_reference=result.authorization_id,
                amount=payment.amount,
                authorized_at=work.now(self.clock),
            )
            await record(work, aggregate.order_id, authorized, actor=f"payments:{payment.provider}")
            if payment.method in PREPAID_METHODS:
                await self._capture_in_full(work, aggregate, payment.amount)
            if confirmed:
                await self._confirmed(work, aggregate, payment_id)
            return
        aggregate.payment_failed()
        failed = PaymentFailed(
            order_id=aggregate.order_id,
            payment_id=payment_id,
            provider=payment.provider,
            amount=payment.amount,
            code=result.outcome.value,
            message=result.reason or f"payment {result.outcome.value}",
            retryable=result.outcome == PaymentOutcome.REQUIRES_ACTION,
        )
        await record(work, aggregate.order_id, failed, actor=f"payments:{payment.provider}")

    async def _capture_in_full(self, work: UnitOfWork, aggregate: Order, amount: Money) -> None:
        provider = self.payments_for(work)
        capture_id = await self._provider(
            lambda: provider.capture(
                idempotency_key=capture_key(aggregate.order_id, None),
                reference=aggregate.order_id,
                authorization_id=aggregate.authorization_id or "",
                amount=amount,
            )
        )
        aggregate.captured_in_full(capture_id)
        captured = PaymentCaptured(
            order_id=aggregate.order_id,
            payment_id=payment_id_for(aggregate.order_id),
            capture_id=capture_id,
            amount=amount,
            captured_total=amount,
            captured_at=work.now(self.clock),
        )
        await record(work, aggregate.order_id, captured, actor=actor_label(SYSTEM))

    async def refund(
        self,
        work: UnitOfWork,
        aggregate: Order,
        amount_minor: int,
        reason: str,
        capture_id: str | None = None,
        *,
        return_id: str | None = None,
        key: str | None = None,
    ) -> None:
        """Give back money of an order that was already paid: from ``capture_id`` (a
        shipment's), else from the capture taken at acceptance. ``key`` is the provider's
        idempotency key (default: the order and the cause, one refund per cause)."""
        drawn_on = capture_id or aggregate.capture_id
        if amount_minor <= 0 or drawn_on is None:
            return
        amount = Money(amount_minor=amount_minor, currency=aggregate.currency)
        provider = self.payments_for(work)
        refund_id = await self._provider(
            lambda: provider.refund(
                idempotency_key=key or f"{aggregate.order_id}:refund:{cause_of(work)}",
                reference=aggregate.order_id,
                capture_id=drawn_on,
                amount=amount,
            )
        )
        aggregate.refunded(amount_minor)
        if capture_id is not None:
            await self.shipments.capture_refunded(work.conn, capture_id, amount_minor)
        refunded = RefundIssued(
            order_id=aggregate.order_id,
            payment_id=payment_id_for(aggregate.order_id),
            refund_id=refund_id,
            return_id=return_id,
            amount=amount,
            refunded_total=Money(
                amount_minor=aggregate.refunded_minor, currency=aggregate.currency
            ),
            reason=reason,
            refunded_at=work.now(self.clock),
        )
        await record(work, aggregate.order_id, refunded, actor=actor_label(SYSTEM))

    async def _confirmed(self, work: UnitOfWork, aggregate: Order, payment_id: str | None) -> None:
        confirmed = OrderConfirmed(
            order_id=aggregate.order_id, confirmed_at=work.now(self.clock), payment_id=payment_id
        )
        await record(work, aggregate.order_id, confirmed, actor=actor_label(SYSTEM))

    # -- customer service --------------------------------------------------------------------

    async def request_cancellation(
        self,
        work: UnitOfWork,
        *,
        channel: str,
        external_order_id: str,
        lines: Sequence[LineQuantity],
        reason: str | None,
        requested_at: datetime,
    ) -> str:
        """A channel's cancel: applied now, or kept until its order arrives."""
        order_id = order_id_for(channel, external_order_id)
        # Its order may be being submitted by another path in a transaction not yet committed.
        await self.orders.lock_identities(work.conn, [(channel, external_order_id)])
        if await self.orders.order_exists(work.conn, order_id):
            await self.cancel(
                work,
                order_id,
                lines=lines,
                reason=reason or "canceled by the channel",
                actor=Actor(actor_id=channel, role=ActorRole.CUSTOMER),
            )
        else:
            await self.orders.add_pending_cancellation(
                work.conn,
                channel=channel,
                external_order_id=external_order_id,
                event_id=cause_of(work),
                reason=reason,
                requested_at=requested_at,
            )
            _log.info("cancellation_kept_for_later", order_id=order_id, channel=channel)
        return order_id

    async def cancel(
        self,
        work: UnitOfWork,
        order_id: str,
        *,
        lines: Sequence[LineQuantity],
        reason: str,
        actor: Actor,
    ) -> Order:
        aggregate = await self.load(work, order_id)
        amount_authorized = Money(
            amount_minor=aggregate.grand_total_minor, currency=aggregate.currency
        )
        outcome = aggregate.cancel([(line.line_id, line.quantity) for line in lines])
        if outcome.whole_order:
            await self._canceled(work, aggregate, reason, actor, amount_authorized)
        else:
            by_id = {line.line_id: line for line in aggregate.lines}
            canceled = OrderLinesCanceled(
                order_id=order_id,
                lines=tuple(
                    LineQuantity(line_id=line_id, sku=by_id[line_id].sku, quantity=quantity)
                    for line_id, quantity in outcome.lines
                ),
                reason=reason,
                canceled_by=actor,
                refund_due=Money(amount_minor=outcome.refund_due_minor, currency=aggregate.currency)
                if aggregate.capture_id
                else None,
            )
            await record(
                work, order_id, canceled, actor=actor_label(actor), detail={"reason": reason}
            )
            await self.refund(work, aggregate, outcome.refund_due_minor, reason)
        await self.orders.save_order(work.conn, aggregate)
        return aggregate

    async def _canceled(
        self, work: UnitOfWork, aggregate: Order, reason: str, actor: Actor, authorized: Money
    ) -> None:
        """The whole order is canceled: announce it, then release the payment."""
        canceled = OrderCanceled(
            order_id=aggregate.order_id,
            reason=reason,
            canceled_by=actor,
            canceled_at=work.now(self.clock),
        )
        await record(
            work, aggregate.order_id, canceled, actor=actor_label(actor), detail={"reason": reason}
        )
        if aggregate.compensation() == "void" and aggregate.authorization_id:
            await self.payments_for(work).void(
                idempotency_key=f"{aggregate.order_id}:void",
                reference=aggregate.order_id,
                authorization_id=aggregate.authorization_id,
            )
            aggregate.payment_status = PaymentStatus.VOIDED
            voided = PaymentVoided(
                order_id=aggregate.order_id,
                payment_id=payment_id_for(aggregate.order_id),
                amount=authorized,
                reason=reason,
                voided_at=work.now(self.clock),
            )
            await record(work, aggregate.order_id, voided, actor=actor_label(SYSTEM))
        elif aggregate.compensation() == "refund":
            await self.refund(
                work, aggregate, aggregate.captured_minor - aggregate.refunded_minor, reason
            )

    async def hold(
        self, work: UnitOfWork, order_id: str, *, reason: HoldReason, note: str | None, actor: Actor
    ) -> Order:
        aggregate = await self.load(work, order_id)
        aggregate.hold(reason.value)
        held = OrderHeld(order_id=order_id, reason=reason, note=note, held_by=actor)
        await record(work, order_id, held, actor=actor_label(actor), detail={"note": note})
        await self.orders.save_order(work.conn, aggregate)
        return aggregate

    async def release(
        self, work: UnitOfWork, order_id: str, *, note: str | None, actor: Actor
    ) -> Order:
        aggregate = await self.load(work, order_id)
        confirmed = aggregate.release()
        released = OrderReleased(order_id=order_id, released_by=actor, note=note)
        await record(work, order_id, released, actor=actor_label(actor), detail={"note": note})
        if confirmed:
            await self._confirmed(work, aggregate, payment_id_for(order_id))
        await self.orders.save_order(work.conn, aggregate)
        return aggregate

    async def change_shipping_address(
        self, work: UnitOfWork, order_id: str, *, address: Address, actor: Actor
    ) -> Order:
        aggregate = await self.load(work, order_id)
        aggregate.check_address_change()
        previous = await work.conn.fetchval(
            "SELECT shipping_address FROM orders WHERE order_id = $1", order_id
        )
        changed = ShippingAddressChanged(
            order_id=order_id,
            previous_address=Address.model_validate_json(previous) if previous else None,
            address=address,
            changed_by=actor,
        )
        await record(work, order_id, changed, actor=actor_label(actor))
        await self.orders.set_shipping_address(work.conn, order_id, address.model_dump_json())
        return aggregate

    async def refused(
        self,
        work: UnitOfWork,
        refusal: TransitionRefused | OrderNotFound,
        *,
        order_id: str,
        command_type: str,
        command_id: str,
        actor: Actor | None,
    ) -> OrderCommandRejected:
        """Answer a refused command; nothing changed. The refusal joins the order's timeline,
        or is only announced when there is no such order."""
        code = refusal.code if isinstance(refusal, TransitionRefused) else "order_not_found"
        rejected = OrderCommandRejected(
            order_id=order_id,
            command_type=command_type,
            command_id=command_id,
            code=code,
            message=str(refusal),
            requested_by=actor,
        )
        if isinstance(refusal, OrderNotFound):
            work.outbox.emit(rejected, subject=order_id)
        else:
            await record(
                work,
                order_id,
                rejected,
                actor=actor_label(actor) if actor else "unknown",
                detail={"code": code},
            )
        _log.info("command_refused", order_id=order_id, command=command_type, code=code)
        return rejected

    # -- downstream progress ---------------------------------------------------------------

    async def progress(self, moves: Sequence[Progress]) -> None:
        """Sourcing moves orders on, a run of events at a time: the orders loaded and saved
        with one statement each, every event applied in its order to the order in memory;
        a late event never moves an order back."""
        if not moves:
            return
        first = moves[0].work
        loaded = await self.orders.load_statuses(
            first.conn, sorted({m.order_id for m in moves}), timeline(first)
        )
        moved: dict[str, Order] = {}
        for m in moves:
            aggregate = loaded.get(m.order_id)
            if aggregate is None:
                raise OrderNotFound(m.order_id)
            if not aggregate.advance(m.status):
                _log.info(
                    "progress_ignored",
                    order_id=m.order_id,
                    cause=m.cause,
                    status=aggregate.status.value,
                )
                continue
            moved[m.order_id] = aggregate
            await timeline(m.work).append(
                m.work.conn,
                m.order_id,
                event_type=m.cause,
                caused_by=cause_of(m.work),
                actor="service:orchestration",
                detail={"status": m.status.value, **(m.why or {})},
            )
        await self.orders.save_orders(first.conn, list(moved.values()))  # only statuses moved
        promises: dict[str, datetime] = {}
        for m in moves:
            if m.promised_by is not None:
                promises[m.order_id] = max(m.promised_by, promises.get(m.order_id, m.promised_by))
        if promises:  # the order's promise is its latest fulfilment order's
            await self.orders.raise_promises(first.conn, promises)

    # -- shipments -------------------------------------------------------------------------

    async def shipment_shipped(
        self,
        work: UnitOfWork,
        order_id: str,
        shipment_id: str,
        lines: Sequence[LineQuantity],
        at: datetime,
        *,
        carrier: str | None = None,
        tracking_numbers: Sequence[str] = (),
        for_pickup: bool = False,
    ) -> None:
        """Units shipped (or, ``for_pickup``, set aside at the store for collection, as
        ``ReadyForPickup`` reports): their value is captured (one capture per shipment)."""
        aggregate = await self.load(work, order_id)
        if await self.shipments.shipment_known(work.conn, shipment_id):
            if for_pickup:  # ship-to-store: the carrier brought it; it waits at the store now
                await self.shipments.set_aside(work.conn, shipment_id)
            _log.info("shipment_known", order_id=order_id)
            return
        before = aggregate.status
        units = [(line.line_id, line.quantity) for line in lines]
        taken_back = aggregate.shipped_despite_cancel(units)
        if taken_back:  # the location refused the late cancellation; the units left
            await timeline(work).append(
                work.conn,
                order_id,
                event_type="CancellationOvertaken",
                caused_by=cause_of(work),
                actor="service:shipping",
                detail={"shipment_id": shipment_id, "lines": dict(taken_back)},
            )
        amount = aggregate.shipped(units)
        capture_id = None
        if amount > 0 and aggregate.authorization_id:
            provider = self.payments_for(work)
            capture_id = await self._provider(
                lambda: provider.capture(
                    idempotency_key=capture_key(order_id, shipment_id),
                    reference=order_id,
                    authorization_id=aggregate.authorization_id or "",
                    amount=Money(amount_minor=amount, currency=aggregate.currency),
                )
            )
            aggregate.captured(amount)
            captured = PaymentCaptured(
                order_id=order_id,
                payment_id=payment_id_for(order_id),
                capture_id=capture_id,
                shipment_id=shipment_id,
                amount=Money(amount_minor=amount, currency=aggregate.currency),
                captured_total=Money(
                    amount_minor=aggregate.captured_minor, currency=aggregate.currency
                ),
                captured_at=work.now(self.clock),
            )
            await record(
                work,
                order_id,
                captured,
                actor=actor_label(SYSTEM),
                detail={"shipment_id": shipment_id},
            )
        await self.shipments.insert_shipment(
            work.conn,
            shipment_id=shipment_id,
            order_id=order_id,
            capture_id=capture_id,
            captured_minor=max(amount, 0),
            shipped_at=at,
            carrier=carrier,
            tracking_numbers=tracking_numbers,
            for_pickup=for_pickup,
            lines=[(line.line_id, line.quantity) for line in lines],
        )
        if aggregate.status != before:
            await timeline(work).append(
                work.conn,
                order_id,
                event_type="ReadyForPickup" if for_pickup else "ShipmentShipped",
                caused_by=cause_of(work),
                actor="service:shipping",
                detail={"status": aggregate.status.value, "shipment_id": shipment_id},
            )
        await self.orders.save_order(work.conn, aggregate)

    async def shipment_delivered(
        self, work: UnitOfWork, order_id: str, shipment_id: str, at: datetime
    ) -> None:
        """When every shipment of a fulfilled order is delivered, the order is complete."""
        aggregate = await self.load(work, order_id)
        undelivered = await self.shipments.mark_delivered(work.conn, shipment_id, at)
        if undelivered == 0 and aggregate.advance(OrderStatus.COMPLETED):
            await record(
                work,
                order_id,
                OrderCompleted(order_id=order_id, completed_at=at),
                actor="service:shipping",
            )
            await self.orders.save_order(work.conn, aggregate)

    async def pickup_expired(
        self,
        work: UnitOfWork,
        order_id: str,
        shipment_id: str,
        lines: Sequence[LineQuantity],
        hold_until: datetime,
        at: datetime,
    ) -> None:
        """Work set aside for pickup was not collected in time (``at``, when shipping found
        it so): its lines are canceled after all and their captured value refunded. Nothing
        left of the order: it is canceled; the rest delivered already: it is complete."""
        aggregate = await self.load(work, order_id)
        closed = await self.shipments.close_uncollected(work.conn, shipment_id, at)
        if closed is None:
            _log.info("uncollected_shipment_closed_or_unknown", order_id=order_id)
            return
        refund = aggregate.uncollected([(line.line_id, line.quantity) for line in lines])
        reason = f"not collected by {hold_until.isoformat()}"
        if aggregate.status == OrderStatus.CANCELED:
            # The customer's e-mail names the refund from what notification saw captured.
            canceled: OrderCanceled | OrderLinesCanceled = OrderCanceled(
                order_id=order_id, reason=reason, canceled_by=SYSTEM, canceled_at=at
            )
        else:
            canceled = OrderLinesCanceled(
                order_id=order_id,
                lines=tuple(lines),
                reason=reason,
                canceled_by=SYSTEM,
                refund_due=Money(amount_minor=refund, currency=aggregate.currency)
                if refund
                else None,
            )
        await record(work, order_id, canceled, actor=actor_label(SYSTEM), detail={"reason": reason})
        await self.refund(work, aggregate, refund, reason, closed.capture_id)
        if closed.still_out == 0 and aggregate.advance(OrderStatus.COMPLETED):
            await record(
                work,
                order_id,
                OrderCompleted(order_id=order_id, completed_at=at),
                actor=actor_label(SYSTEM),
            )
        await self.orders.save_order(work.conn, aggregate)

    # -- helpers ---------------------------------------------------------------------------

    async def _provider(self, call: Callable[[], Awaitable[T]]) -> T:
        """A payment-provider call, retried with backoff while the provider times out (every
        call carries an idempotency key, so a retry never moves money twice)."""
        return await retried(
            "payment_provider_unavailable",
            ProviderUnavailable,
            call,
            first_s=self.payment_backoff_s,
            max_s=self.payment_backoff_s * 2 ** (self.payment_attempts - 1),
            attempts=self.payment_attempts,
        )

    def payments_for(self, work: UnitOfWork) -> PaymentProvider:
        """The provider, or in a rebuild the answers it gave live (a rebuild moves no money)."""
        if not work.rebuilding:
            return self.payments
        if self.recalled_payments is None:
            raise RuntimeError("a rebuild of the order service needs the recalled payments")
        return self.recalled_payments(work)

    async def load(self, work: UnitOfWork, order_id: str) -> Order:
        aggregate = await self.orders.load_order(work.conn, order_id, timeline(work))
        if aggregate is None:
            raise OrderNotFound(order_id)
        if aggregate.status == OrderStatus.REJECTED:
            raise TransitionRefused(
                "order_rejected", "the order was rejected; nothing can change it"
            )
        return aggregate
