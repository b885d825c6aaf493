"""The sandbox payment provider's outcomes, idempotency and limits, and retry with backoff."""

from __future__ import annotations

import pytest

from oms_events.values import Money
from oms_order.domain.payments import (
    AuthorizationResult,
    PaymentOutcome,
    PaymentProvider,
    ProviderUnavailable,
    SandboxPaymentProvider,
    with_retries,
)


def eur(amount: int) -> Money:
    return Money(amount_minor=amount, currency="EUR")


async def approved(provider: SandboxPaymentProvider, amount: int = 1000) -> str:
    result = await provider.authorize(
        idempotency_key="ord-1:authorize",
        amount=eur(amount),
        card_token="tok_approve",
        method="card",
    )
    assert result.authorization_id is not None
    return result.authorization_id


def test_the_sandbox_satisfies_the_port() -> None:
    provider: PaymentProvider = SandboxPaymentProvider()
    assert provider is not None


class TestAuthorize:
    @pytest.mark.parametrize(
        ("token", "outcome"),
        [
            ("tok_approve", PaymentOutcome.APPROVED),
            ("tok_anything_else", PaymentOutcome.APPROVED),
            ("tok_decline", PaymentOutcome.DECLINED),
            ("tok_insufficient_funds", PaymentOutcome.INSUFFICIENT_FUNDS),
            ("tok_requires_action", PaymentOutcome.REQUIRES_ACTION),
        ],
    )
    async def test_the_card_token_decides(self, token: str, outcome: PaymentOutcome) -> None:
        provider = SandboxPaymentProvider()
        result = await provider.authorize(
            idempotency_key="k", amount=eur(1000), card_token=token, method="card"
        )
        assert result.outcome is outcome
        if outcome is PaymentOutcome.APPROVED:
            assert result.authorization_id in provider.authorizations
            assert result.reason is None
        else:
            assert result.authorization_id is None
            assert result.reason
            assert provider.authorizations == {}

    @pytest.mark.parametrize("method", ["invoice", "paypal", "cash_on_delivery"])
    async def test_non_card_methods_approve(self, method: str) -> None:
        provider = SandboxPaymentProvider()
        result = await provider.authorize(
            idempotency_key="k", amount=eur(1000), card_token="tok_decline", method=method
        )
        assert result.outcome is PaymentOutcome.APPROVED

    async def test_the_same_key_returns_the_same_authorization(self) -> None:
        provider = SandboxPaymentProvider()
        first = await approved(provider)
        second = await approved(provider)
        assert first == second
        assert len(provider.authorizations) == 1
        assert provider.calls["authorize"] == 2

    async def test_a_decline_is_replayed_too(self) -> None:
        provider = SandboxPaymentProvider()
        results = [
            await provider.authorize(
                idempotency_key="k", amount=eur(5), card_token="tok_decline", method="card"
            )
            for _ in range(2)
        ]
        assert results[0] == results[1]
        assert results[0].outcome is PaymentOutcome.DECLINED

    async def test_different_keys_authorize_separately(self) -> None:
        provider = SandboxPaymentProvider()
        for key in ("a", "b"):
            await provider.authorize(
                idempotency_key=key, amount=eur(5), card_token="tok_approve", method="card"
            )
        assert list(provider.authorizations) == ["sbx_auth_1", "sbx_auth_2"]

    async def test_reusing_a_key_with_other_parameters_is_a_bug(self) -> None:
        provider = SandboxPaymentProvider()
        await approved(provider, amount=1000)
        with pytest.raises(ValueError, match="idempotency key 'ord-1:authorize' was first used"):
            await approved(provider, amount=2000)

    async def test_timeout_then_approve_fails_once_per_key(self) -> None:
        provider = SandboxPaymentProvider()

        async def authorize() -> AuthorizationResult:
            return await provider.authorize(
                idempotency_key="k",
                amount=eur(1000),
                card_token="tok_timeout_then_approve",
                method="card",
            )

        with pytest.raises(ProviderUnavailable):
            await authorize()
        assert provider.authorizations == {}
        assert (await authorize()).outcome is PaymentOutcome.APPROVED
        assert len(provider.authorizations) == 1


class TestCapture:
    async def test_partial_captures_up_to_the_authorized_amount(self) -> None:
        provider = SandboxPaymentProvider()
        auth = await approved(provider, 1000)
        await provider.capture(idempotency_key="c1", authorization_id=auth, amount=eur(600))
        await provider.capture(idempotency_key="c2", authorization_id=auth, amount=eur(400))
        assert provider.authorizations[auth].captured_minor == 1000
        with pytest.raises(ValueError, match="0 of 1000 remain"):
            await provider.capture(idempotency_key="c3", authorization_id=auth, amount=eur(1))

    async def test_capture_more_than_authorized_is_refused(self) -> None:
        provider = SandboxPaymentProvider()
        auth = await approved(provider, 1000)
        with pytest.raises(ValueError, match="cannot capture 1001 EUR"):
            await provider.capture(idempotency_key="c1", authorization_id=auth, amount=eur(1001))
        assert provider.captures == {}

    async def test_capture_is_idempotent(self) -> None:
        provider = SandboxPaymentProvider()
        auth = await approved(provider, 1000)
        ids = [
            await provider.capture(idempotency_key="c1", authorization_id=auth, amount=eur(1000))
            for _ in range(3)
        ]
        assert len(set(ids)) == 1
        assert len(provider.captures) == 1
        assert provider.authorizations[auth].captured_minor == 1000

    async def test_capture_needs_a_known_live_authorization_in_its_currency(self) -> None:
        provider = SandboxPaymentProvider()
        with pytest.raises(ValueError, match="unknown authorization"):
            await provider.capture(idempotency_key="c1", authorization_id="nope", amount=eur(1))
        auth = await approved(provider, 1000)
        usd = Money(amount_minor=1, currency="USD")
        with pytest.raises(ValueError, match="in EUR, not USD"):
            await provider.capture(idempotency_key="c2", authorization_id=auth, amount=usd)
        await provider.void(idempotency_key="v1", authorization_id=auth)
        with pytest.raises(ValueError, match="voided"):
            await provider.capture(idempotency_key="c3", authorization_id=auth, amount=eur(1))

    async def test_void_is_idempotent(self) -> None:
        provider = SandboxPaymentProvider()
        auth = await approved(provider, 1000)
        await provider.void(idempotency_key="v1", authorization_id=auth)
        await provider.void(idempotency_key="v1", authorization_id=auth)
        assert provider.authorizations[auth].voided


class TestRefund:
    async def test_refunds_never_exceed_the_capture(self) -> None:
        provider = SandboxPaymentProvider()
        auth = await approved(provider, 1000)
        capture = await provider.capture(
            idempotency_key="c1", authorization_id=auth, amount=eur(800)
        )
        await provider.refund(idempotency_key="r1", capture_id=capture, amount=eur(500))
        with pytest.raises(ValueError, match=r"cannot refund 301 EUR.*300 of 800 remain"):
            await provider.refund(idempotency_key="r2", capture_id=capture, amount=eur(301))
        await provider.refund(idempotency_key="r3", capture_id=capture, amount=eur(300))
        assert provider.captures[capture].refunded_minor == 800
        assert len(provider.refunds) == 2

    async def test_refund_is_idempotent(self) -> None:
        provider = SandboxPaymentProvider()
        auth = await approved(provider, 1000)
        capture = await provider.capture(
            idempotency_key="c1", authorization_id=auth, amount=eur(1000)
        )
        first = await provider.refund(idempotency_key="r1", capture_id=capture, amount=eur(1000))
        again = await provider.refund(idempotency_key="r1", capture_id=capture, amount=eur(1000))
        assert first == again
        assert len(provider.refunds) == 1

    async def test_refund_needs_a_known_capture(self) -> None:
        provider = SandboxPaymentProvider()
        with pytest.raises(ValueError, match="unknown capture"):
            await provider.refund(idempotency_key="r1", capture_id="nope", amount=eur(1))


class FakeSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class TestWithRetries:
    async def test_timeout_then_approve_succeeds_on_retry(self) -> None:
        provider = SandboxPaymentProvider()
        sleep = FakeSleep()
        result = await with_retries(
            lambda: provider.authorize(
                idempotency_key="ord-9:authorize",
                amount=eur(1000),
                card_token="tok_timeout_then_approve",
                method="card",
            ),
            attempts=3,
            base_delay_s=0.5,
            sleep=sleep,
        )
        assert result.outcome is PaymentOutcome.APPROVED
        assert sleep.delays == [0.5]
        assert provider.calls["authorize"] == 2
        assert len(provider.authorizations) == 1

    async def test_backoff_is_exponential_and_the_last_error_is_raised(self) -> None:
        sleep = FakeSleep()
        calls = 0

        async def always_down() -> str:
            nonlocal calls
            calls += 1
            raise ProviderUnavailable(f"attempt {calls}")

        with pytest.raises(ProviderUnavailable, match="attempt 4"):
            await with_retries(always_down, attempts=4, base_delay_s=0.1, sleep=sleep)
        assert calls == 4
        assert sleep.delays == pytest.approx([0.1, 0.2, 0.4])

    async def test_other_errors_are_not_retried(self) -> None:
        sleep = FakeSleep()

        async def broken() -> str:
            raise ValueError("bad request")

        with pytest.raises(ValueError, match="bad request"):
            await with_retries(broken, attempts=5, base_delay_s=1.0, sleep=sleep)
        assert sleep.delays == []

    async def test_attempts_must_be_positive(self) -> None:
        async def ok() -> str:
            return "ok"

        with pytest.raises(ValueError, match="attempts must be at least 1"):
            await with_retries(ok, attempts=0, base_delay_s=1.0)
