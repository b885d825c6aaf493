"""Returns, whichever caller asks: a channel or customer service opens one, staff at the
location that gets the parcel receive and inspect it, and the inspection refunds it.

Each step runs in the caller's transaction under the order's lock (so two returns of one
order never take the same unit) and records its event in the order's timeline and outbox:
``ReturnRequested`` and ``ReturnAuthorized`` (the RMA), ``ReturnReceived``,
``ReturnInspected`` and the ``RefundIssued`` it causes. Inventory puts inspected units back
on hand or in quarantine; notification tells the customer of the return number, the receipt
and the refund.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from uuid import UUID

import asyncpg

from oms_events.returns import (
    Disposition,
    InspectedLine,
    ReturnAuthorized,
    ReturnInspected,
    ReturnLine,
    ReturnReceived,
    ReturnRequested,
)
from oms_events.values import Actor, LineQuantity, Money
from oms_order.domain.order import Order, TransitionRefused
from oms_order.domain.returns import (
    AskedLine,
    Return,
    Returnable,
    ReturnLineState,
    request_return,
)
from oms_order.service_layer.actions import OrderActions, actor_label
from oms_order.service_layer.timeline import cause_of, record
from oms_runtime import UnitOfWork

__all__ = ["InspectedUnits", "ReturnActions", "ReturnNotFound", "ReturnStore", "return_id_for"]


class ReturnNotFound(Exception):
    def __init__(self, return_id: str) -> None:
        super().__init__(f"no return {return_id!r}")
        self.return_id = return_id


class ReturnStore(Protocol):
    async def returnable(self, conn: asyncpg.Connection, order_id: str) -> Returnable: ...

    async def insert_return(
        self, conn: asyncpg.Connection, ret: Return, requested_at: datetime
    ) -> None: ...

    async def load_return(self, conn: asyncpg.Connection, return_id: str) -> Return | None: ...

    async def save_return(self, conn: asyncpg.Connection, ret: Return) -> None: ...

    async def refundable_captures(
        self, conn: asyncpg.Connection, order_id: str, line_ids: Sequence[str]
    ) -> list[tuple[str, int]]: ...


def return_id_for(cause: UUID) -> str:
    """The id of the return the request or command ``cause`` opens."""
    return f"ret_{cause.hex[:24]}"


@dataclass(frozen=True)
class InspectedUnits:
    line_id: str
    quantity: int
    disposition: Disposition
    note: str | None = None


@dataclass
class ReturnActions:
    actions: OrderActions
    returns: ReturnStore
    window: timedelta
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    recalled_requests: Callable[[UnitOfWork, str], Awaitable[datetime | None]] | None = None
    """A rebuild's recall of when the live service opened each return
    (``service_layer/recalled.py``)."""

    async def request(
        self,
        work: UnitOfWork,
        order_id: str,
        lines: Sequence[AskedLine],
        *,
        channel: str,
        drop_off_location_id: str | None,
        actor: Actor,
    ) -> Return:
        """Open a return of delivered units; authorised at once with its RMA number."""
        aggregate = await self.actions.load(work, order_id)
        cause = cause_of(work)
        now = await self._requested_at(work, return_id_for(cause))
        ret = request_return(
            aggregate,
            await self.returns.returnable(work.conn, order_id),
            lines,
            return_id=return_id_for(cause),
            rma_number=f"RMA-{cause.hex[:20].upper()}",
            channel=channel,
            drop_off_location_id=drop_off_location_id,
            now=now,
            window=self.window,
        )
        await self.returns.insert_return(work.conn, ret, now)
        who = actor_label(actor)
        requested = ReturnRequested(
            order_id=order_id,
            return_id=ret.return_id,
            channel=channel,
            lines=tuple(
                ReturnLine(
                    line_id=line.line_id,
                    sku=line.sku,
                    quantity=line.quantity,
                    reason=line.reason,
                    comment=line.comment,
                )
                for line in ret.lines
            ),
            drop_off_location_id=drop_off_location_id,
            requested_at=now,
        )
        await record(work, order_id, requested, actor=who, detail={"return_id": ret.return_id})
        authorized = ReturnAuthorized(
            order_id=order_id,
            return_id=ret.return_id,
            rma_number=ret.rma_number,
            lines=tuple(_quantities(ret.lines)),
            expires_at=now + self.window,
        )
        await record(work, order_id, authorized, actor=who, detail={"rma": ret.rma_number})
        return ret

    async def _requested_at(self, work: UnitOfWork, return_id: str) -> datetime:
        """Now; in a rebuild, the moment the live service opened the return, if it did."""
        if work.rebuilding and self.recalled_requests is not None:
            recalled = await self.recalled_requests(work, return_id)
            if recalled is not None:
                return recalled
        return work.now(self.clock)

    async def receive(
        self,
        work: UnitOfWork,
        return_id: str,
        units: Sequence[tuple[str, int]],
        *,
        location_id: str,
        actor: Actor,
    ) -> Return:
        """Units of the return arrived at ``location_id``."""
        aggregate, ret = await self._load(work, return_id)
        arrived = ret.receive(location_id, units)
        asked = dict(units)
        received = ReturnReceived(
            order_id=aggregate.order_id,
            return_id=return_id,
            location_id=location_id,
            lines=tuple(
                LineQuantity(line_id=line.line_id, sku=line.sku, quantity=asked[line.line_id])
                for line in arrived
            ),
            received_at=work.now(self.clock),
        )
        await record(
            work,
            aggregate.order_id,
            received,
            actor=actor_label(actor),
            detail={"return_id": return_id, "location_id": location_id},
        )
        await self.returns.save_return(work.conn, ret)
        return ret

    async def inspect(
        self,
        work: UnitOfWork,
        return_id: str,
        units: Sequence[InspectedUnits],
        *,
        location_id: str,
        refund_minor: int | None,
        actor: Actor,
    ) -> Return:
        """Received units inspected into restock, quarantine or disposal, and refunded: what
        they were paid, or ``refund_minor`` when less is granted, never more than is left of
        the order's captures."""
        aggregate, ret = await self._load(work, return_id)
        if location_id not in ret.locations:
            raise TransitionRefused(
                "not_received_here",
                f"no unit of the return was received at {location_id!r}",
            )
        # The return's state before this inspection names it for the provider: a retry
        # after a failure finds the same state, so the same keys, so no second refund.
        step = sum(line.inspected for line in ret.lines)
        worth = ret.inspect([(u.line_id, u.quantity) for u in units], refund_minor)
        parts = await self._refund_parts(
            work,
            aggregate,
            [u.line_id for u in units],
            min(worth, aggregate.captured_minor - aggregate.refunded_minor),
        )
        refund = sum(part for _, part in parts)
        sku_of = {line.line_id: line.sku for line in ret.lines}
        inspected = ReturnInspected(
            order_id=aggregate.order_id,
            return_id=return_id,
            location_id=location_id,
            lines=tuple(
                InspectedLine(
                    line_id=u.line_id,
                    sku=sku_of[u.line_id],
                    quantity=u.quantity,
                    disposition=u.disposition,
                    note=u.note,
                )
                for u in units
            ),
            refund_amount=Money(amount_minor=refund, currency=aggregate.currency),
            inspected_at=work.now(self.clock),
        )
        await record(
            work,
            aggregate.order_id,
            inspected,
            actor=actor_label(actor),
            detail={"return_id": return_id, "refund_minor": refund},
        )
        for capture_id, part in parts:
            await self.actions.refund(
                work,
                aggregate,
                part,
                f"return {ret.rma_number}",
                capture_id,
                return_id=return_id,
                key=f"{aggregate.order_id}:refund:{return_id}:{step}:{capture_id or 'order'}",
            )
        ret.refunded(refund)
        await self.returns.save_return(work.conn, ret)
        await self.actions.orders.save_order(work.conn, aggregate, lines=False)
        return ret

    async def _refund_parts(
        self, work: UnitOfWork, aggregate: Order, line_ids: Sequence[str], amount: int
    ) -> list[tuple[str | None, int]]:
        """Where a refund is drawn: the order's own capture (prepaid, ``None``), else the
        captures of delivered shipments, those that carried the lines first, then the latest
        first, each giving what is left of it."""
        if amount <= 0:
            return []
        if aggregate.capture_id is not None:
            return [(None, amount)]
        parts: list[tuple[str | None, int]] = []
        for capture_id, left in await self.returns.refundable_captures(
            work.conn, aggregate.order_id, line_ids
        ):
            if amount <= 0:
                break
            parts.append((capture_id, min(left, amount)))
            amount -= left
        return parts

    async def _load(self, work: UnitOfWork, return_id: str) -> tuple[Order, Return]:
        """The return and its order, the order locked first (every change of a return takes
        that lock, so the return read after it is current)."""
        found = await self.returns.load_return(work.conn, return_id)
        if found is None:
            raise ReturnNotFound(return_id)
        aggregate = await self.actions.load(work, found.order_id)
        ret = await self.returns.load_return(work.conn, return_id)
        assert ret is not None  # returns are never deleted
        return aggregate, ret


def _quantities(lines: Sequence[ReturnLineState]) -> list[LineQuantity]:
    return [
        LineQuantity(line_id=line.line_id, sku=line.sku, quantity=line.quantity) for line in lines
    ]
