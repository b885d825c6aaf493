"""A worker whose broker is away: it waits, says so in /health, and logs it sparingly."""

from __future__ import annotations

import signal
from typing import Any

import aiohttp
import pytest

from tests.support.processes import free_port
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration


async def _health(url: str) -> tuple[int, dict[str, Any]] | None:
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/health", timeout=aiohttp.ClientTimeout(2)) as r:
                return r.status, dict(await r.json())
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None


async def test_a_worker_without_its_broker_waits_reports_it_and_stops_on_sigterm(
    env: Env,
) -> None:
    nobody = f"127.0.0.1:{free_port()}"  # nothing listens there
    worker = await env.service("notification", KAFKA_BOOTSTRAP_SERVERS=nobody)

    async def retried_three_times() -> bool:
        return worker.tail(400).count('"event": "broker_unavailable"') >= 3

    await wait_for(retried_three_times, timeout=60, what="three attempts to reach the broker")
    answer = await _health(worker.url)
    assert answer is not None
    status, report = answer
    assert status == 503
    assert (report["status"], report["database"], report["broker"]) == ("unavailable", True, False)
    # aiokafka reports each failed connection; the worker lets one a message through per
    # interval, so seconds of retries stay a handful of lines.
    kafka_lines = [line for line in worker.tail(400).splitlines() if "aiokafka" in line]
    assert len(kafka_lines) <= 6, kafka_lines

    worker.kill(signal.SIGTERM)
    assert worker.wait_exit(timeout=30) == 0
    assert '"event": "service_stopped"' in worker.tail(50)
