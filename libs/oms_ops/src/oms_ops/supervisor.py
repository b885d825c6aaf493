"""Service workers as supervised processes: started with their logs in files, awaited until
ready, restarted with backoff when they crash, and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["Supervisor", "Worker", "backoff", "restart_delay"]

_HTTP_TIMEOUT = aiohttp.ClientTimeout(total=2)


def backoff(failures: int, initial: float = 1.0, maximum: float = 30.0) -> float:
    """Seconds to wait before the next start after ``failures`` crashes in a row."""
    return float(min(initial * 2 ** max(failures, 0), maximum))


_STALLED = 75  # EX_TEMPFAIL: a worker's stall watch ended it to be started again
_SESSION_S = 10.0  # the runtime's default OMS_KAFKA_SESSION_TIMEOUT_S


def restart_delay(
    code: int | None, failures: int, env: Mapping[str, str], initial: float, maximum: float
) -> float:
    """The backoff, and after a stall at least the worker's Kafka session and a second: it
    exits without leaving its consumer group, and a worker started before that membership
    expires recovers while the group rebalances around it, which can stall it again
    (docs/analytics.md, "A stalled worker")."""
    delay = backoff(failures, initial, maximum)
    if code == _STALLED:
        try:
            session = float(env.get("OMS_KAFKA_SESSION_TIMEOUT_S", _SESSION_S))
        except ValueError:
            session = _SESSION_S  # the worker refuses it with a clear error on its start
        delay = max(delay, session + 1)
    return delay


@dataclass
class Worker:
    name: str
    env: Mapping[str, str]
    log: Path
    url: str
    argv: list[str] = field(default_factory=list)
    process: Any = None
    started_at: float = 0.0
    failures: int = 0
    restarts: int = 0

    def command(self) -> list[str]:
        return self.argv or [sys.executable, "-m", f"oms_{self.name}", "worker"]


class Supervisor:
    def __init__(
        self,
        workers: list[Worker],
        *,
        say: Callable[[str], None],
        initial_backoff: float = 1.0,
        max_backoff: float = 30.0,
        stable_after: float = 60.0,
    ) -> None:
        self.workers = workers
        self._say = say
        self._initial = initial_backoff
        self._max = max_backoff
        self._stable_after = stable_after
        self._stopping = asyncio.Event()

    async def _start(self, worker: Worker) -> None:
        worker.log.parent.mkdir(parents=True, exist_ok=True)
        with worker.log.open("ab") as log:
            worker.process = await asyncio.create_subprocess_exec(
                *worker.command(),
                env=dict(worker.env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # its own process group: a terminal's Ctrl-C is ours
            )
        worker.started_at = asyncio.get_running_loop().time()
        self._say(f"started {worker.name} pid {worker.process.pid} (log: {worker.log})")

    async def start(self) -> None:
        for worker in self.workers:
            await self._start(worker)

    async def wait_ready(self, within: float) -> list[str]:
        """Wait until every worker's /health says ok with partitions assigned; the names of
        those still not ready after ``within`` seconds (or when asked to stop)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        waiting = {w.name: w for w in self.workers}
        async with aiohttp.ClientSession(timeout=_HTTP_TIMEOUT) as session:
            while waiting and loop.time() < deadline and not self._stopping.is_set():
                for name, worker in list(waiting.items()):
                    if await _ready(session, worker.url):
                        self._say(f"ready {name} {worker.url}")
                        del waiting[name]
                if waiting:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), 0.3)
        return sorted(waiting)

    async def supervise(self) -> None:
        """Restart crashed workers until asked to stop."""
        watchers = [asyncio.create_task(self._watch(w)) for w in self.workers]
        try:
            await self._stopping.wait()
        finally:
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)

    async def _watch(self, worker: Worker) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            code = await worker.process.wait()
            if self._stopping.is_set():
                return
            if loop.time() - worker.started_at >= self._stable_after:
                worker.failures = 0
            delay = restart_delay(code, worker.failures, worker.env, self._initial, self._max)
            worker.failures += 1
            worker.restarts += 1
            self._say(
                f"{worker.name} exited with {code}; restarting in {delay:g}s (log: {worker.log})"
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return
            await self._start(worker)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def request_stop(self) -> None:
        self._stopping.set()

    async def stop(self, grace: float = 20.0) -> None:
        """SIGTERM to every worker's process group; SIGKILL to those still running after
        ``grace`` seconds."""
        self._stopping.set()
        running = [w for w in self.workers if w.process and w.process.returncode is None]
        for worker in running:
            _signal(worker.process.pid, signal.SIGTERM)
        for worker in running:
            try:
                await asyncio.wait_for(worker.process.wait(), grace)
            except TimeoutError:
                _signal(worker.process.pid, signal.SIGKILL)
                await worker.process.wait()
            self._say(f"stopped {worker.name} (exit {worker.process.returncode})")


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


async def _ready(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(f"{url}/health") as response:
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return False
    return (
        isinstance(body, dict)
        and body.get("status") == "ok"
        and bool(body.get("assigned_partitions"))
    )
