"""The expiry use case: delete from the tables what the retention no longer keeps, on event
time (``domain/expiry.py`` says when a key has expired), and only what the history in
PostgreSQL holds as it stands (the use cases know which keys it may not hold yet).

Run on a timer by the worker once the history has been written since the start; each
deletion goes to the key's changelog partition, so recovery agrees."""

from __future__ import annotations

from datetime import date

from oms_analytics.domain.expiry import Retention, expired_through
from oms_analytics.service_layer.changes import Delete, Now
from oms_analytics.service_layer.funds import Funds
from oms_analytics.service_layer.stock import Stock
from oms_analytics.service_layer.stuck import StuckOrders
from oms_analytics.service_layer.tracking import Analytics

__all__ = ["Expiry"]


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
        """Delete every expired key: per table, how many."""
        return {
            **self.analytics.expire(self.retention, self.now, delete),
            **self.funds.expire(self.retention, self.now, delete),
            **self.stuck.expire(self.retention, self.now, delete),
            **self.stock.expire(self.retention, delete),
        }

    def expired_through(self) -> date | None:
        """The last day the tables may no longer hold (by the latest watermark of every
        partition): the daily report reads the days up to it from the history."""
        return expired_through(self.retention, self.now(None))
