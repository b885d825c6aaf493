"""Waking a job when it has work instead of polling for it."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

__all__ = ["Wakeup"]


class Wakeup:
    """Wakes a waiting job early: when a unit of work that gave it work commits
    (:meth:`UnitOfWork.wake_on_commit`), or at the earliest time it was asked for (a retry
    falling due). The job still wakes at its longest interval to pick up what no one
    announced (another worker's expired lease, a timeout)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._due: float | None = None  # the event loop's clock

    def set(self) -> None:
        self._event.set()

    def at(self, when: datetime) -> None:
        """Wake no later than ``when`` (aware); the earliest of several wins."""
        loop = asyncio.get_running_loop()
        due = loop.time() + max((when - datetime.now(UTC)).total_seconds(), 0.0)
        if self._due is None or due < self._due:
            self._due = due

    async def wait(self, longest_s: float) -> None:
        """Until set, the earliest time asked for, or ``longest_s``: whichever comes first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + longest_s
        if self._due is not None:
            deadline = min(deadline, self._due)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await self._event.wait()
        self._event.clear()
        if self._due is not None and self._due <= loop.time():
            self._due = None
