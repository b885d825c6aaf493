"""Services run as their own OS processes, as in production.

Each is forked from a process that has imported every service already (``zygote``): the
same ``python -m oms_<name> worker`` in a session of its own, without 1.5 s of CPU spent on
imports at each of the suite's some 200 starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.stack import REPO
from tests.support.waiting import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Zygote:
    """The test process's ``tests.support.zygote``, started at its first worker."""

    _lock = threading.Lock()
    _process: subprocess.Popen[bytes] | None = None

    @classmethod
    def fork(cls, module: str, args: list[str], env: dict[str, str], log: Path) -> ForkedProcess:
        exit_file = log.with_name(log.name + ".exit")
        exit_file.unlink(missing_ok=True)
        request = {
            "module": module,
            "args": args,
            "env": env,
            "log": str(log),
            "exit_file": str(exit_file),
        }
        with cls._lock:
            zygote = cls._process
            if zygote is None or zygote.poll() is not None:
                zygote = cls._process = subprocess.Popen(
                    [sys.executable, "-m", "tests.support.zygote"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    start_new_session=True,
                    # Found from any directory pytest runs in.
                    env={**os.environ, "PYTHONPATH": str(REPO)},
                )
            assert zygote.stdin is not None and zygote.stdout is not None
            try:
                zygote.stdin.write(json.dumps(request).encode() + b"\n")
                zygote.stdin.flush()
                reply = zygote.stdout.readline()
            except BaseException:
                # A reply left unread would answer the next request: start afresh.
                zygote.kill()
                cls._process = None
                raise
        assert reply, f"the zygote exited with {zygote.poll()}"
        return ForkedProcess(int(json.loads(reply)["pid"]), exit_file, zygote)


class ForkedProcess:
    """What the tests use of ``subprocess.Popen`` for a worker the zygote forked: its exit
    code arrives in ``exit_file`` once the zygote has reaped it."""

    def __init__(self, pid: int, exit_file: Path, zygote: subprocess.Popen[bytes]) -> None:
        self.pid = pid
        self._exit_file = exit_file
        self._zygote = zygote
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = int(self._exit_file.read_text())
            except FileNotFoundError:
                if self._zygote.poll() is not None and not alive(self.pid):
                    self.returncode = -signal.SIGKILL  # its zygote died: the code is lost
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
            time.sleep(0.02)
        return code


def alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (a zombie does)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_all(processes: list[ServiceProcess], timeout: float = 20.0) -> None:
    """SIGTERM every running process at once, then wait for each; SIGKILL what outlives the
    deadline. Stopping them together costs one graceful shutdown, not one per service."""
    running = [p for p in processes if p.proc is not None and p.proc.poll() is None]
    for process in running:
        process.kill(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in running:
        assert process.proc is not None
        try:
            process.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill(signal.SIGKILL)
            process.proc.wait(10)


class ServiceProcess:
    """``python -m oms_<name> worker`` with its own environment, log file and HTTP port."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.env = {**os.environ, **env, "OMS_HTTP_PORT": str(self.port)}
        self.log_path = log_dir / f"{name}-{self.port}.log"
        self.proc: ForkedProcess | None = None

    def start(self) -> ServiceProcess:
        self.proc = _Zygote.fork(f"oms_{self.name}", ["worker"], self.env, self.log_path)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def health(self) -> dict[str, Any] | None:
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{self.url}/health", timeout=aiohttp.ClientTimeout(2)) as r:
                    return dict(await r.json())
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    async def get_json(self, path: str, **query: str) -> Any:
        """The JSON body of a GET that must answer 200."""
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{self.url}{path}", params=query) as response:
                assert response.status == 200, await response.text()
                return await response.json()

    async def metrics(self) -> str:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{self.url}/metrics") as r:
                return await r.text()

    async def metric_lines(self, name: str, **labels: str) -> list[float]:
        """Values of a metric's samples whose labels include ``labels``."""
        values = []
        for line in (await self.metrics()).splitlines():
            if not line.startswith((name + "{", name + " ")):
                continue
            head, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                values.append(float(value))
        return values

    async def metric(self, name: str, **labels: str) -> float:
        """Sum of a metric's samples whose labels include ``labels``."""
        return sum(await self.metric_lines(name, **labels))

    async def wait_metric(self, name: str, value: float, **labels: str) -> None:
        """Wait until a metric's sum is ``value``: events on other topics may still be in flight."""

        async def seen() -> list[float]:
            total = await self.metric(name, **labels)
            return [total] if total >= value else []

        reached = await wait_for(seen, what=f"{self.name}'s {name} {labels} to reach {value}")
        assert reached == [value]

    async def wait_ready(self, timeout: float = 90.0) -> dict[str, Any]:
        """Ready: the database answers and the consumer group gave this worker partitions."""

        async def probe() -> dict[str, Any] | None:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}"
                )
            report = await self.health()
            if report and report["status"] == "ok" and report["assigned_partitions"] > 0:
                return report
            return None

        try:
            return await wait_for(probe, timeout=timeout, interval=0.2, what=f"{self.name} ready")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.tail()}") from None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # ended since the poll
                os.killpg(self.proc.pid, sig)

    def wait_exit(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        stop_all([self])

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
