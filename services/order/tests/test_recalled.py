"""A rebuild moves no money: the order service's use cases ask the payment provider's answers
read back from oms.payments, never the provider, and take the applied event's time for the
clock's; an answer that was never read back is refused."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from oms_events.codec import new_event
from oms_events.payments import PaymentAuthorized, PaymentCaptured, PaymentFailed
from oms_events.values import Money
from oms_order.adapters.payments import PaymentOutcome
from oms_order.domain.validation import RiskPolicy, ValidationPolicy
from oms_order.service_layer.actions import OrderActions
from oms_order.service_layer.recalled import Recalled
from oms_runtime import (
    ConsumedRecord,
    RecalledDecisionStore,
    Received,
    UnitOfWork,
    in_memory_unit_of_work,
)
from services.order.tests.fakes import FakePayments, InMemoryOrders, InMemoryShipments
from tests.support.orders import order_submitted

LIVE = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
EVENT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
"""After the test orders' placement, before the live clock."""
EUR = Money(amount_minor=5445, currency="EUR")


class InMemoryRecall(RecalledDecisionStore):
    def __init__(self) -> None:
        self.kept: dict[tuple[str, str], Any] = {}

    async def keep(self, conn: Any, kind: str, decisions: Any) -> None:
        for key, decision in decisions:
            self.kept.setdefault((kind, key), json.loads(json.dumps(decision)))

    async def recall(self, conn: Any, kind: str, keys: Any) -> dict[str, Any]:
        return {key: self.kept[kind, key] for key in keys if (kind, key) in self.kept}


def _read_back(payload: Any) -> Received[Any]:
    envelope = new_event(payload, subject=payload.order_id, source="oms/order", correlation_id="c")
    return Received(payload, envelope, ConsumedRecord("oms.payments", 0, 0, None, None))


def _rebuilding() -> UnitOfWork:
    return replace(in_memory_unit_of_work("order", cause=uuid.uuid4()), rebuilding=True, at=EVENT)


async def test_answers_read_back_are_given_by_the_live_call_s_idempotency_key() -> None:
    recalled = Recalled(InMemoryRecall())
    work = _rebuilding()
    approved = PaymentAuthorized(
        order_id="o-1",
        payment_id="pay-1",
        provider="sandbox",
        provider_reference="auth-1",
        amount=EUR,
        authorized_at=LIVE,
    )
    failed = PaymentFailed(
        order_id="o-2",
        payment_id="pay-2",
        provider="sandbox",
        amount=EUR,
        code="declined",
        message="the card was declined",
        retryable=False,
    )
    captured = PaymentCaptured(
        order_id="o-1",
        payment_id="pay-1",
        capture_id="cap-s1",
        shipment_id="s1",
        amount=EUR,
        captured_total=EUR,
        captured_at=LIVE,
    )
    await recalled.authorized(work, [_read_back(approved), _read_back(failed)])
    await recalled.captured(work, [_read_back(captured)])
    provider = recalled.provider(work)
    asked = {"amount": EUR, "card_token": "tok_approve", "method": "card"}

    one = await provider.authorize(idempotency_key="o-1:authorize", reference="o-1", **asked)
    assert (one.outcome, one.authorization_id) == (PaymentOutcome.APPROVED, "auth-1")
    two = await provider.authorize(idempotency_key="o-2:authorize", reference="o-2", **asked)
    assert (two.outcome, two.authorization_id, two.reason) == (
        PaymentOutcome.DECLINED,
        None,
        "the card was declined",
    )
    capture = await provider.capture(
        idempotency_key="o-1:capture:s1", reference="o-1", authorization_id="auth-1", amount=EUR
    )
    assert capture == "cap-s1"
    with pytest.raises(LookupError, match="o-1:capture:s2"):
        await provider.capture(
            idempotency_key="o-1:capture:s2", reference="o-1", authorization_id="a", amount=EUR
        )


async def test_a_rebuild_asks_the_answers_read_back_at_the_event_s_time() -> None:
    live = FakePayments()
    answers = FakePayments()
    actions = OrderActions(
        payments=live,
        orders=InMemoryOrders(),
        shipments=InMemoryShipments(),
        validation=ValidationPolicy(),
        risk=RiskPolicy(),
        clock=lambda: LIVE,
        recalled_payments=lambda _work: answers,
    )
    work = _rebuilding()
    result = await actions.submit(work, order_submitted("R-1"))
    assert result.status == "CONFIRMED"
    assert live.calls == []
    assert [call[0] for call in answers.calls] == ["authorize"]
    data = {
        json.loads(r.payload)["type"]: json.loads(r.payload)["data"] for r in work.outbox.records
    }
    assert data["PaymentAuthorized"]["authorized_at"] == "2026-11-25T08:00:00Z"
    assert data["OrderConfirmed"]["confirmed_at"] == "2026-11-25T08:00:00Z"

    without = replace(actions, recalled_payments=None)
    with pytest.raises(RuntimeError, match="recalled payments"):
        await without.submit(_rebuilding(), order_submitted("R-2"))
