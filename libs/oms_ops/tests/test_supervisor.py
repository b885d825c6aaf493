"""The supervisor's restarts and stop, on tiny processes instead of services."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from oms_ops.supervisor import Supervisor, Worker, backoff, restart_delay
from tests.support.waiting import wait_for


def test_backoff_doubles_up_to_its_ceiling() -> None:
    assert [backoff(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff(2, initial=0.5, maximum=10) == 2


def test_a_stalled_worker_waits_out_its_kafka_session_before_it_starts_again() -> None:
    # Exit 75 (its stall watch): not before its membership in the group has expired.
    assert restart_delay(75, 0, {}, 1.0, 30.0) == 11
    assert restart_delay(75, 0, {"OMS_KAFKA_SESSION_TIMEOUT_S": "6"}, 1.0, 30.0) == 7
    assert restart_delay(75, 5, {"OMS_KAFKA_SESSION_TIMEOUT_S": "6"}, 1.0, 30.0) == 30
    assert restart_delay(75, 0, {"OMS_KAFKA_SESSION_TIMEOUT_S": "soon"}, 1.0, 30.0) == 11
    # Any other exit: the backoff alone.
    assert restart_delay(1, 0, {"OMS_KAFKA_SESSION_TIMEOUT_S": "6"}, 1.0, 30.0) == 1


async def test_a_crashing_worker_is_restarted_and_a_running_one_stopped(tmp_path: Path) -> None:
    said: list[str] = []
    crashing = Worker(
        "crashing",
        {},
        tmp_path / "crashing.log",
        "http://127.0.0.1:9",
        argv=[sys.executable, "-c", "print('boom'); raise SystemExit(3)"],
    )
    steady = Worker(
        "steady",
        {},
        tmp_path / "steady.log",
        "http://127.0.0.1:9",
        argv=[sys.executable, "-c", "import signal; signal.pause()"],  # runs until stopped
    )
    supervisor = Supervisor(
        [crashing, steady], say=said.append, initial_backoff=0.01, max_backoff=0.05
    )
    await supervisor.start()
    task = asyncio.create_task(supervisor.supervise())

    async def restarted_twice() -> bool:
        return crashing.restarts >= 2

    await wait_for(restarted_twice, timeout=30, what="two restarts")
    supervisor.request_stop()
    await task
    await supervisor.stop(grace=10)
    assert "crashing exited with 3; restarting in 0.01s" in " ".join(said)
    assert steady.restarts == 0
    assert steady.process.returncode is not None
    assert (tmp_path / "crashing.log").read_text().count("boom") >= 2
