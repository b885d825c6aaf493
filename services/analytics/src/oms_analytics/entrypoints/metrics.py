"""``/metrics``: the worker's Prometheus metrics in the text format.

The records read and the alerts published carry the names and labels every service's
runtime uses (``oms_events_in_total``, ``oms_events_out_total``, with ``service`` =
``analytics``), so the services' Grafana dashboard shows analytics beside them; the
analytics figures worth an alert are gauges read from the tables when scraped. They live in
their own registry: the runtime's collectors of the same names are in the default one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import generate_latest

__all__ = ["Metrics", "register_metrics"]

SERVICE = "analytics"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.events_in = Counter(
            "oms_events_in_total",
            "Records consumed, by outcome (processed, ignored, undecodable).",
            ["service", "topic", "outcome"],
            registry=self.registry,
        )
        self.events_out = Counter(
            "oms_events_out_total",
            "Records published.",
            ["service", "topic"],
            registry=self.registry,
        )
        self.expired_keys = Counter(
            "oms_analytics_expired_keys_total",
            "Keys deleted from the tables by the expiry.",
            ["table"],
            registry=self.registry,
        )
        self.gauges: dict[str, tuple[Gauge, Callable[[], float]]] = {}
        self.labelled: dict[str, tuple[Gauge, Callable[[], Mapping[str, float]]]] = {}

    def consumed(self, topic: str, outcome: str) -> None:
        self.events_in.labels(SERVICE, topic, outcome).inc()

    def published(self, topic: str) -> None:
        self.events_out.labels(SERVICE, topic).inc()

    def expired(self, table: str, keys: int) -> None:
        self.expired_keys.labels(table).inc(keys)

    def labelled_gauge(
        self, name: str, documentation: str, label: str, read: Callable[[], Mapping[str, float]]
    ) -> None:
        """``name`` per ``label`` value, set from ``read()`` at each scrape."""
        gauge = Gauge(name, documentation, [label], registry=self.registry)
        self.labelled[name] = (gauge, read)

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """``name`` set from ``read()`` at each scrape."""
        self.gauges[name] = (Gauge(name, documentation, registry=self.registry), read)

    def exposition(self) -> bytes:
        for gauge, read in self.gauges.values():
            gauge.set(read())
        for labelled, read_all in self.labelled.values():
            for value, figure in read_all().items():
                labelled.labels(value).set(figure)
        return generate_latest(self.registry)


def register_metrics(app: faust.App, metrics: Metrics) -> None:
    class MetricsPage(View):
        async def get(self, request: Request) -> Response:
            # aiohttp takes no charset in content_type: the header as the runtime sends it.
            headers = {"Content-Type": CONTENT_TYPE_LATEST}
            return self.bytes(metrics.exposition(), headers=headers)

    app.page("/metrics")(MetricsPage)
