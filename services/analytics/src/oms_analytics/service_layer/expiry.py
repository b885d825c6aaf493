"""The expiry use case: delete from the tables what the retention no longer keeps, on event
time (``domain/expiry.py`` says when a key has expired), and only what the history in
PostgreSQL holds as it stands (the use cases know which keys it may not hold yet).

Run on a timer by the worker once the history has been written since the start or the last
rebalance, in steps (``Sweep``) that let the worker's events through; each deletion goes to
the key's changelog partition, so recovery agrees."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from oms_analytics.domain.expiry import Retention, expired_through
from oms_analytics.service_layer.funds import Funds
from oms_analytics.service_layer.stock import Stock
from oms_analytics.service_layer.stuck import StuckOrders
from oms_analytics.service_layer.sweeping import Delete, Now, Sweep
from oms_analytics.service_layer.tracking import Analytics

__all__ = ["TABLES", "Expiry"]

TABLES = ("windows", "locations", "orders", "funds", "ledgers", "stays", "stock")
"""The tables the expiry deletes from (``marks`` keeps its few keys)."""


class Expiry:
    def __init__(
        self,
        analytics: Analytics,
        funds: Funds,
        stuck: StuckOrders,
        stock: Stock,
        retention: Retention,
        now: Now,
    ) -> None:
        self.analytics = analytics
        self.funds = funds
        self.stuck = stuck
        self.stock = stock
        self.retention = retention
        self.now = now

    def sweep(self, delete: Delete) -> dict[str, int]:
        """Delete every expired key in one go: per table, how many."""
        sweep = self.start(delete)
        for _ in self.steps(sweep):
            pass
        return self.counts(sweep)

    def start(self, delete: Delete) -> Sweep:
        return Sweep(self.now, delete)

    def steps(self, sweep: Sweep) -> Iterator[None]:
        """Delete every expired key, pausing (a ``yield``) every so many keys: the worker
        lets its events and requests through there."""
        yield from self.analytics.expire(self.retention, sweep)
        yield from self.funds.expire(self.retention, sweep)
        yield from self.stuck.expire(self.retention, sweep)
        yield from self.stock.expire(self.retention, sweep)

    @staticmethod
    def counts(sweep: Sweep) -> dict[str, int]:
        return {table: sweep.deleted[table] for table in TABLES}

    def expired_through(self) -> date | None:
        """The last day the tables may no longer hold (by the latest watermark of every
        partition): the daily report reads the days up to it from the history."""
        return expired_through(self.retention, self.now(None))
