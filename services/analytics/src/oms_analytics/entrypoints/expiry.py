"""Deletes the expired keys from the tables, from the worker: a timer every
``OMS_ANALYTICS_EXPIRY_INTERVAL_S``, once the history has been written since the start (until
then the history may not hold what the tables recovered), not while partitions move or
recover. A pass pauses every couple of thousand keys, so events and requests go on.

A deletion outside an event has no event partition for faust to send it to, so it goes to the
key's changelog partition explicitly (the source partition the key was written from, or every
one when the key does not say) as a tombstone, after the key is taken out of that partition's
journal record (service_layer/journal.py), and the key leaves the store: a recovery replays
the tombstone and the key stays gone.
"""

from __future__ import annotations

import asyncio

import faust
import structlog

from oms_analytics.config import AnalyticsSettings
from oms_analytics.entrypoints.history import History
from oms_analytics.entrypoints.metrics import Metrics
from oms_analytics.service_layer.expiry import Expiry
from oms_analytics.service_layer.journal import Journal

__all__ = ["register_expiry"]

log = structlog.get_logger("oms_analytics")


def register_expiry(
    app: faust.App,
    settings: AnalyticsSettings,
    expiry: Expiry,
    history: History,
    metrics: Metrics,
    journal: Journal,
) -> None:
    tombstone = journal.deleter(app.conf.topic_partitions)

    async def expire() -> None:
        async for _ in app.itertimer(settings.analytics_expiry_interval_s, name="expiry"):
            if not history.caught_up or app.rebalancing or app.in_recovery:
                continue
            sweep = expiry.start(tombstone)
            for _ in expiry.steps(sweep):
                await asyncio.sleep(0)  # events and requests go on between the keys
                if app.rebalancing or app.in_recovery:
                    break  # the partitions move: the next pass
            deleted = expiry.counts(sweep)
            for table, count in deleted.items():
                metrics.expired(table, count)
            if any(deleted.values()):
                log.info("expired_keys", **deleted)

    app.task(expire)
