"""Writes the funds and daily report history to the service's PostgreSQL database, from the worker.

A task started once the tables are recovered: it connects and applies the migrations (tried
again while the database is unreachable: the worker counts meanwhile), writes every key
the tables hold (what changed while no worker wrote is then stored too; again after each
rebalance, for the partitions it brought), then every
``OMS_ANALYTICS_HISTORY_INTERVAL_S`` the keys changed since, and a last round when the
worker stops. A write that fails keeps its keys for the next round when the database or
network failed (rows the database refuses are written again with their key's next change,
or at the next start); the worker keeps counting either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import faust
import structlog

from oms_analytics.adapters import MIGRATIONS
from oms_analytics.adapters.history import write_history
from oms_analytics.config import AnalyticsSettings
from oms_analytics.service_layer.funds import Funds
from oms_analytics.service_layer.tracking import Analytics
from oms_runtime import apply_migrations, create_pool, is_infrastructure_error, retried

__all__ = ["History", "register_history"]

log = structlog.get_logger("oms_analytics")


class History:
    """The history's database, once the worker has connected to it and migrated it, and
    what to write to it next."""

    def __init__(
        self, funds: Funds, analytics: Analytics, settled: Callable[[], bool] = lambda: True
    ) -> None:
        self.funds = funds
        self.analytics = analytics
        self.settled = settled
        """Whether the tables are recovered and no rebalance is under way: only a write of
        every key then covers every key the worker will hold."""
        self.pool: asyncpg.Pool | None = None
        self._everything = True
        """Every key, not only the changed ones: until a first write worked."""
        self.caught_up = False
        """Whether a write has worked since the start: the history then holds every key
        the tables recovered (the expiry waits for it)."""

    def start_over(self) -> None:
        """Partitions were assigned: their keys were recovered from changelogs that a worker
        killed before its last write may have written past the history, so the next write
        writes every key again, and the expiry waits for it."""
        self._everything = True
        self.caught_up = False

    async def write(self) -> None:
        if self.pool is None:
            return
        settled = self.settled()
        ledgers, days = self.funds.take_changes(self._everything)
        daily = self.analytics.take_changes(self._everything)
        try:
            await write_history(self.pool, ledgers, days, daily)
        except Exception as exc:  # the worker keeps counting whatever happened here
            if is_infrastructure_error(exc):
                self.funds.keep_changes(ledgers, days)
                self.analytics.keep_changes(daily)
            log.warning(
                "history_write_failed",
                error=type(exc).__name__,
                kept_for_retry=is_infrastructure_error(exc),
            )
            return
        self.funds.written(ledgers, days)
        self.analytics.written(daily)
        if settled:
            self._everything = False
            self.caught_up = True
        if ledgers or days or daily:
            log.info(
                "history_written", orders=len(ledgers), day_rows=len(days), daily_rows=len(daily)
            )


def register_history(
    app: faust.App, settings: AnalyticsSettings, funds: Funds, analytics: Analytics
) -> History:
    def settled() -> bool:
        recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        return bool(recovered and not app.in_recovery and not app.rebalancing)

    history = History(funds, analytics, settled)

    async def connect() -> asyncpg.Pool:
        pool = await create_pool(settings.database_url.get_secret_value(), max_size=2)
        try:
            await apply_migrations(pool, {"analytics": MIGRATIONS})
        except BaseException:
            await pool.close()
            raise
        return pool

    async def keep_history() -> None:
        pool = await retried(
            "history_database_unavailable",
            is_infrastructure_error,
            connect,
            first_s=1.0,
            max_s=30.0,
        )
        history.pool = pool
        try:
            # The timer ends early when the worker stops: then one last round.
            async for _ in app.itertimer(settings.analytics_history_interval_s, name="history"):
                await history.write()
            await _uncancelled(history.write())
        finally:
            history.pool = None
            await pool.close()

    @app.on_partitions_assigned.connect
    async def start_over(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        history.start_over()

    app.task(keep_history)
    return history


async def _uncancelled(work: Awaitable[None]) -> None:
    """Await ``work`` to its end (10 s at most) even if the task is canceled meanwhile, as
    the worker's stop does right after the timer ends; then let the cancellation through."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait_for(task, timeout=10)
        raise
