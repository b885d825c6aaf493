"""Retry with backoff around payment-provider calls (the sandbox provider itself is tested
on PostgreSQL in tests/test_payment_sandbox.py)."""

from __future__ import annotations

import pytest

from oms_order.adapters.payments import ProviderUnavailable, with_retries


class FakeSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class TestWithRetries:
    async def test_a_timeout_then_success_succeeds_on_retry(self) -> None:
        sleep = FakeSleep()
        calls = 0

        async def down_once() -> str:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise ProviderUnavailable("timeout")
            return "sbx_auth_x"

        assert await with_retries(down_once, attempts=3, base_delay_s=0.5, sleep=sleep) == (
            "sbx_auth_x"
        )
        assert sleep.delays == [0.5]
        assert calls == 2

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
