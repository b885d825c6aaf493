"""The one retry helper: what it retries, how often, what it logs."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from oms_runtime._retry import retried, retrying


class Down(Exception):
    pass


class Flaky:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise Down(f"attempt {self.calls}")
        return "ok"


async def test_a_failure_it_accepts_is_retried_and_logged_by_name_and_type_only() -> None:
    flaky = Flaky(failures=2)
    with capture_logs() as logs:
        assert await retried("provider_down", Down, flaky, first_s=0.001, max_s=0.002) == "ok"
    assert flaky.calls == 3
    assert [(log["event"], log["error"]) for log in logs] == [("provider_down", "Down")] * 2
    assert all("attempt" not in str(log) for log in logs), "the message is never logged"


async def test_the_last_of_its_attempts_is_raised() -> None:
    flaky = Flaky(failures=10)
    with pytest.raises(Down, match="attempt 4"):
        await retried("provider_down", Down, flaky, first_s=0.001, max_s=0.002, attempts=4)
    assert flaky.calls == 4


async def test_a_failure_the_predicate_refuses_is_raised_at_once() -> None:
    flaky = Flaky(failures=1)
    with pytest.raises(Down):
        await retried("never", lambda exc: "attempt 2" in str(exc), flaky, first_s=1, max_s=1)
    assert flaky.calls == 1


async def test_a_block_is_retried_until_it_passes() -> None:
    flaky = Flaky(failures=3)
    results = []
    async for attempt in retrying("block_retry", (Down, OSError), first_s=0.001, max_s=0.002):
        with attempt:
            results.append(await flaky())
    assert results == ["ok"]
    assert flaky.calls == 4
