"""The use cases over one journaled store, wired alike for the worker (a faust table) and for
a rebuild (a dict in memory): the same counting, the same clocks, the same expiry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from oms_analytics.config import AnalyticsSettings
from oms_analytics.domain.expiry import partition_now
from oms_analytics.service_layer.counting import Counting
from oms_analytics.service_layer.expiry import Expiry
from oms_analytics.service_layer.funds import Funds
from oms_analytics.service_layer.journal import Journal
from oms_analytics.service_layer.stock import Stock
from oms_analytics.service_layer.stuck import StuckOrders
from oms_analytics.service_layer.tracking import Analytics

__all__ = ["TABLES", "Behind", "UseCases", "compose"]

TABLES = ("orders", "windows", "locations", "marks", "ledgers", "funds", "stays", "stock")
"""The use cases' tables, views of the one store: the orders' facts, the windows per channel
and per location, the watermarks and late counts, the money ledgers and days, the order
stays, the stock per SKU and location."""

Behind = Callable[[int], set[str]]
"""The order topics with records still to read on a source partition held here."""


@dataclass(frozen=True)
class UseCases:
    journal: Journal
    analytics: Analytics
    funds: Funds
    stuck: StuckOrders
    stock: Stock
    counting: Counting
    expiry: Expiry


def compose(
    settings: AnalyticsSettings,
    journal: Journal,
    source_names: Sequence[str],
    partitions: int,
    behind: Behind,
) -> UseCases:
    """``source_names``: the order topics' full names, then oms.inventory's."""
    tables = {name: journal.table(name) for name in TABLES}
    analytics = Analytics(
        tables["orders"],
        tables["windows"],
        tables["marks"],
        grace=timedelta(seconds=settings.analytics_grace_s),
        locations=tables["locations"],
    )
    funds = Funds(tables["ledgers"], tables["funds"])
    stuck = StuckOrders(tables["stays"], settings.stuck_policy())
    order_topics, inventory_topic = list(source_names[:-1]), source_names[-1]

    def inventory_now() -> datetime | None:
        """The latest event time read on oms.inventory: "now" for the stock figures."""
        marks = [analytics.watermark(inventory_topic, p) for p in range(partitions)]
        return max((mark for mark in marks if mark is not None), default=None)

    def source_now(partition: int | None) -> datetime | None:
        """ "Now" for the expiry on a source partition of the order topics (None: the latest
        of every partition): ``domain.expiry.partition_now``."""
        if partition is None:
            marks = [source_now(each) for each in range(partitions)]
            return max((mark for mark in marks if mark is not None), default=None)
        watermarks = {name: analytics.watermark(name, partition) for name in order_topics}
        return partition_now(watermarks, behind(partition))

    stock = Stock(tables["stock"], inventory_now)
    counting = Counting(journal, analytics, funds, stuck, stock, order_topics, inventory_topic)
    expiry = Expiry(analytics, funds, stuck, stock, settings.retention(), source_now)
    return UseCases(journal, analytics, funds, stuck, stock, counting, expiry)
