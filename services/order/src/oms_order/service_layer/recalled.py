"""What a rebuild takes back from the live service instead of asking again: the payment
provider's answer to each authorisation (``PaymentAuthorized``, ``PaymentFailed``) and each
capture's id (``PaymentCaptured``), read back from ``oms.payments`` by the idempotency key the
live call carried; and the moment each return was requested (``ReturnRequested`` on
``oms.returns``, by return id: the live clock's when the command came on the topic, which the
command's own time is not). Both are read before the inputs apply.

A rebuild moves no money: its provider answers from these. A void changes nothing the
service keeps, and a refund's id is kept only in ``RefundIssued``, which a rebuild never
publishes: both are answered without a call (the refund's id names the call's key). An
authorisation or capture with no answer read back is refused (the event is dead-lettered in
the rebuilt database, and the tables then differ). Outside a rebuild nothing here is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from oms_events.payments import PaymentAuthorized, PaymentCaptured, PaymentFailed
from oms_events.returns import ReturnRequested
from oms_events.values import Money
from oms_order.adapters.payments import AuthorizationResult, PaymentOutcome, PaymentProvider
from oms_order.service_layer.actions import authorization_key, capture_key
from oms_runtime import RecalledDecisionStore, Received, UnitOfWork

__all__ = ["Recalled"]

_AUTHORIZE = "authorize"
_CAPTURE = "capture"
_REQUESTED_AT = "return_requested_at"


@dataclass(frozen=True)
class Recalled:
    store: RecalledDecisionStore

    async def authorized(
        self, work: UnitOfWork, run: Sequence[Received[PaymentAuthorized | PaymentFailed]]
    ) -> None:
        """Each order's authorisation answer, approved or not."""
        await self.store.keep(
            work.conn,
            _AUTHORIZE,
            [(authorization_key(r.payload.order_id), _answer(r.payload)) for r in run],
        )

    async def captured(self, work: UnitOfWork, run: Sequence[Received[PaymentCaptured]]) -> None:
        """Each capture's id, by the shipment (or the whole order) it was taken for."""
        await self.store.keep(
            work.conn,
            _CAPTURE,
            [
                (capture_key(r.payload.order_id, r.payload.shipment_id), r.payload.capture_id)
                for r in run
            ],
        )

    async def return_requested(
        self, work: UnitOfWork, run: Sequence[Received[ReturnRequested]]
    ) -> None:
        """Each return's request moment, by its id."""
        await self.store.keep(
            work.conn,
            _REQUESTED_AT,
            [(r.payload.return_id, r.payload.requested_at.isoformat()) for r in run],
        )

    async def requested_at(self, work: UnitOfWork, return_id: str) -> datetime | None:
        """When the live service opened ``return_id``; None when it never did (refused)."""
        found = await self.store.recall(work.conn, _REQUESTED_AT, [return_id])
        return datetime.fromisoformat(found[return_id]) if return_id in found else None

    def provider(self, work: UnitOfWork) -> PaymentProvider:
        """The provider a rebuild's unit of work asks."""
        return _AnswersReadBack(self.store, work.conn)


def _answer(event: PaymentAuthorized | PaymentFailed) -> dict[str, Any]:
    if isinstance(event, PaymentAuthorized):
        return {"outcome": PaymentOutcome.APPROVED.value, "id": event.provider_reference}
    return {"outcome": event.code, "reason": event.message}


@dataclass(frozen=True)
class _AnswersReadBack:
    store: RecalledDecisionStore
    conn: asyncpg.Connection

    async def _recalled(self, kind: str, key: str) -> Any:
        found = await self.store.recall(self.conn, kind, [key])
        if key not in found:
            raise LookupError(f"no answer of the payment provider to {key!r} on oms.payments")
        return found[key]

    async def authorize(
        self,
        *,
        idempotency_key: str,
        reference: str,
        amount: Money,
        card_token: str | None,
        method: str,
    ) -> AuthorizationResult:
        answer = await self._recalled(_AUTHORIZE, idempotency_key)
        return AuthorizationResult(
            PaymentOutcome(answer["outcome"]), answer.get("id"), answer.get("reason")
        )

    async def capture(
        self, *, idempotency_key: str, reference: str, authorization_id: str, amount: Money
    ) -> str:
        return str(await self._recalled(_CAPTURE, idempotency_key))

    async def void(self, *, idempotency_key: str, reference: str, authorization_id: str) -> None:
        return None

    async def refund(
        self, *, idempotency_key: str, reference: str, capture_id: str, amount: Money
    ) -> str:
        return f"rebuild:{idempotency_key}"
