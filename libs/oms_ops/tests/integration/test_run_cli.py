"""``oms run`` as an operator runs it: every service started, ready, then stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.support.operator import OMS
from tests.support.processes import alive
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

SERVICES = ("order", "inventory", "orchestration", "shipping", "notification", "analytics")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(argv: list[str], environ: dict[str, str], output: Path) -> subprocess.Popen[bytes]:
    with output.open("wb") as out:
        return subprocess.Popen(argv, env=environ, stdout=out, stderr=subprocess.STDOUT)


async def test_run_starts_every_service_until_sigterm_stops_them_all(
    env: Env, tmp_path: Path
) -> None:
    environ = {
        k: v for k, v in os.environ.items() if not (k.startswith("OMS_") or k.startswith("KAFKA_"))
    }
    environ.update(
        KAFKA_BOOTSTRAP_SERVERS=env.bootstrap,
        OMS_TOPIC_PREFIX=env.prefix,
        OMS_GROUP_SUFFIX=f"-{env.run}",
        OMS_LOG_LEVEL="WARNING",
        COLUMNS="200",
    )
    for name in SERVICES:
        environ[f"OMS_{name.upper()}_DATABASE_URL"] = await env.database(name)
        environ[f"OMS_{name.upper()}_URL"] = f"http://127.0.0.1:{_free_port()}"
    logs = tmp_path / "logs"
    output = tmp_path / "run.out"
    run = _start([str(OMS), "run", "--no-stack", "--logs", str(logs)], environ, output)
    try:

        async def ready() -> str | None:
            text = output.read_text()
            assert run.poll() is None, text
            return text if f"all {len(SERVICES)} services ready" in text else None

        text = await wait_for(ready, timeout=180, interval=0.5, what="every service ready")
        pids = {m[0]: int(m[1]) for m in re.findall(r"started (\w+) pid (\d+)", text)}
        assert sorted(pids) == sorted(SERVICES)
        assert all(alive(pid) for pid in pids.values())
        assert (logs / "api-key").stat().st_mode & 0o777 == 0o600

        run.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(run.wait, 60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert code == 0, output.read_text()
    assert not [name for name, pid in pids.items() if alive(pid)]
    text = output.read_text()
    assert sorted(re.findall(r"stopped (\w+) \(exit", text)) == sorted(SERVICES)
    assert all((logs / f"{name}.log").exists() for name in SERVICES)
