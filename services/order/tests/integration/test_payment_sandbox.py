"""The sandbox payment provider on PostgreSQL: outcomes, idempotency, limits, the order each
call belongs to, and books that outlive the order service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from oms_events.codec import decode
from oms_events.values import Money
from oms_order.adapters import MIGRATIONS as ORDER_MIGRATIONS
from oms_order.adapters.payment_sandbox import SandboxPayments
from oms_order.adapters.payments import AuthorizationResult, PaymentOutcome, ProviderUnavailable
from oms_order.domain.identity import order_id_for
from tests.support.kafka import produce, read_topic
from tests.support.orders import CHANNEL, encoded, order_submitted
from tests.support.waiting import wait_for
from tests.support.world import Env


@pytest.fixture
async def sandbox(env: Env) -> AsyncIterator[SandboxPayments]:
    provider = SandboxPayments(await env.migrated_database("order", ORDER_MIGRATIONS))
    try:
        yield provider
    finally:
        await provider.close()


def eur(amount: int) -> Money:
    return Money(amount_minor=amount, currency="EUR")


async def authorize(
    sandbox: SandboxPayments,
    key: str = "ord-1:authorize",
    *,
    order: str = "ord-1",
    amount: int = 1000,
    token: str = "tok_approve",
    method: str = "card",
) -> AuthorizationResult:
    return await sandbox.authorize(
        idempotency_key=key, reference=order, amount=eur(amount), card_token=token, method=method
    )


async def approved(sandbox: SandboxPayments, **kwargs: object) -> str:
    result = await authorize(sandbox, **kwargs)  # type: ignore[arg-type]
    assert result.authorization_id is not None
    return result.authorization_id


@pytest.mark.parametrize(
    ("token", "method", "outcome"),
    [
        ("tok_approve", "card", PaymentOutcome.APPROVED),
        ("tok_decline", "card", PaymentOutcome.DECLINED),
        ("tok_insufficient_funds", "card", PaymentOutcome.INSUFFICIENT_FUNDS),
        ("tok_requires_action", "card", PaymentOutcome.REQUIRES_ACTION),
        ("tok_decline", "paypal", PaymentOutcome.APPROVED),  # only cards use test tokens
    ],
)
async def test_the_card_token_decides_and_a_repeat_gets_the_first_answer(
    sandbox: SandboxPayments, token: str, method: str, outcome: PaymentOutcome
) -> None:
    first = await authorize(sandbox, token=token, method=method)
    assert first.outcome is outcome
    assert (first.authorization_id is not None) == (outcome is PaymentOutcome.APPROVED)
    assert (first.reason is None) == (outcome is PaymentOutcome.APPROVED)
    assert await authorize(sandbox, token=token, method=method) == first


async def test_ids_come_from_the_idempotency_key_never_from_a_counter(
    sandbox: SandboxPayments, env: Env
) -> None:
    a = await approved(sandbox, key="ord-a:authorize", order="ord-a")
    b = await approved(sandbox, key="ord-b:authorize", order="ord-b")
    assert a != b
    # A second provider on the same books (a restarted service) answers the same.
    again = SandboxPayments(await env.database("order"))
    assert await approved(again, key="ord-a:authorize", order="ord-a") == a
    await again.close()
    rows = await env.fetch(
        "order", "SELECT authorization_id, reference FROM sandbox_authorizations"
    )
    assert sorted((r["reference"], r["authorization_id"]) for r in rows) == [
        ("ord-a", a),
        ("ord-b", b),
    ]


async def test_reusing_a_key_with_other_parameters_is_refused(sandbox: SandboxPayments) -> None:
    await approved(sandbox, amount=1000)
    with pytest.raises(ValueError, match="idempotency key 'ord-1:authorize' was first used"):
        await approved(sandbox, amount=2000)


async def test_timeout_then_approve_fails_once_per_key(sandbox: SandboxPayments, env: Env) -> None:
    with pytest.raises(ProviderUnavailable):
        await authorize(sandbox, token="tok_timeout_then_approve")
    assert await env.fetch("order", "SELECT 1 FROM sandbox_authorizations") == []
    retried = await authorize(sandbox, token="tok_timeout_then_approve")
    assert retried.outcome is PaymentOutcome.APPROVED


async def test_captures_and_refunds_stay_within_what_is_left(sandbox: SandboxPayments) -> None:
    auth = await approved(sandbox, amount=1000)

    async def capture(key: str, amount: int) -> str:
        return await sandbox.capture(
            idempotency_key=key, reference="ord-1", authorization_id=auth, amount=eur(amount)
        )

    first = await capture("c1", 600)
    assert await capture("c1", 600) == first  # a repeat moves no money
    with pytest.raises(ValueError, match=r"cannot capture 500 EUR .*: 400 of 1000 remain"):
        await capture("c2", 500)
    second = await capture("c3", 400)
    refund = await sandbox.refund(
        idempotency_key="r1", reference="ord-1", capture_id=second, amount=eur(400)
    )
    assert refund.startswith("sbx_ref_")
    with pytest.raises(ValueError, match=r"cannot refund 1 EUR .*: 0 of 400 remain"):
        await sandbox.refund(
            idempotency_key="r2", reference="ord-1", capture_id=second, amount=eur(1)
        )
    with pytest.raises(ValueError, match="is in EUR, not USD"):
        await sandbox.refund(
            idempotency_key="r3",
            reference="ord-1",
            capture_id=first,
            amount=Money(amount_minor=1, currency="USD"),
        )


async def test_nothing_moves_for_another_orders_authorisation_or_after_a_void(
    sandbox: SandboxPayments,
) -> None:
    auth = await approved(sandbox, amount=1000)
    with pytest.raises(ValueError, match="belongs to another order"):
        await sandbox.capture(
            idempotency_key="c", reference="ord-2", authorization_id=auth, amount=eur(1)
        )
    with pytest.raises(ValueError, match="belongs to another order"):
        await sandbox.void(idempotency_key="v", reference="ord-2", authorization_id=auth)
    capture = await sandbox.capture(
        idempotency_key="c", reference="ord-1", authorization_id=auth, amount=eur(10)
    )
    with pytest.raises(ValueError, match="belongs to another order"):
        await sandbox.refund(
            idempotency_key="r", reference="ord-2", capture_id=capture, amount=eur(1)
        )
    await sandbox.void(idempotency_key="v", reference="ord-1", authorization_id=auth)
    with pytest.raises(ValueError, match="is voided"):
        await sandbox.capture(
            idempotency_key="c2", reference="ord-1", authorization_id=auth, amount=eur(1)
        )
    with pytest.raises(ValueError, match="unknown authorization 'sbx_auth_nope'"):
        await sandbox.capture(
            idempotency_key="c3", reference="ord-1", authorization_id="sbx_auth_nope", amount=eur(1)
        )


async def test_the_order_service_killed_between_two_orders_never_reuses_an_authorisation(
    env: Env,
) -> None:
    intake = env.topic("oms.channel-order-intake")
    first = await env.service("order")
    await first.wait_ready()
    await produce(env.bootstrap, intake, [encoded(order_submitted("K-1"))])
    one = order_id_for(CHANNEL, "K-1")

    async def authorized(order_id: str) -> str | None:
        rows = await env.fetch(
            "order", "SELECT authorization_id FROM orders WHERE order_id = $1", order_id
        )
        return rows[0]["authorization_id"] if rows else None

    auth_one = await wait_for(lambda: authorized(one), what="the first order's authorisation")
    first.kill()
    first.wait_exit()

    second = await env.service("order")
    await second.wait_ready()
    await produce(env.bootstrap, intake, [encoded(order_submitted("K-2"))])
    two = order_id_for(CHANNEL, "K-2")
    auth_two = await wait_for(lambda: authorized(two), what="the second order's authorisation")

    assert auth_one != auth_two
    books = await env.fetch(
        "order", "SELECT authorization_id, reference FROM sandbox_authorizations"
    )
    assert {r["authorization_id"]: r["reference"] for r in books} == {
        auth_one: one,
        auth_two: two,
    }
    events = await read_topic(env.bootstrap, env.topic("oms.payments"), at_least=2)
    references = {
        decode(r.value).payload.order_id: decode(r.value).payload.provider_reference  # type: ignore[attr-defined]
        for r in events
    }
    assert references == {one: auth_one, two: auth_two}
