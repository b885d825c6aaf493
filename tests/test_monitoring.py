"""deploy/monitoring's Grafana dashboard and Prometheus config match what the services export:
the services' panels query the runtime's metrics, the Analytics row the analytics worker's, each
with labels its metric carries."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple
from unittest import mock

import faust
import yaml
from prometheus_client.registry import Collector

from oms_analytics.config import AnalyticsSettings
from oms_analytics.entrypoints import streams
from oms_analytics.entrypoints.metrics import Metrics
from oms_runtime import _metrics
from tests.test_compose import REPO, compose_services, environment, oms_services

MONITORING = REPO / "deploy" / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "oms-services.json"
SAMPLE_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
}
TARGET_LABELS = frozenset({"job", "instance"})
"""Labels Prometheus adds to every sample it scrapes."""
SERVICES, ANALYTICS = "", "Analytics"
"""The dashboard's sections: the services' panels above the first row, the Analytics row."""
OMS_METRIC = re.compile(r"\boms_[a-z_]+\b")
RATED = re.compile(r"\b(?:rate|irate|increase)\(\s*(oms_[a-z_]+)\b")


class Sample(NamedTuple):
    labels: frozenset[str]
    cumulative: bool
    """A counter's or a histogram's: rate() and increase() over it, never over a gauge."""


Exported = dict[str, Sample]
"""Sample name -> what it carries."""


def samples(collectors: Iterable[Collector]) -> Exported:
    """The samples ``collectors`` export, with their labels (a histogram's buckets add le)."""
    exported: Exported = {}
    for collector in collectors:
        # prometheus_client keeps a metric's label names there; describe() omits them.
        labels = frozenset(getattr(collector, "_labelnames", ()))
        for family in collector.describe():
            for suffix in SAMPLE_SUFFIXES[family.type]:
                bucket = {"le"} if suffix == "_bucket" else set()
                exported[family.name + suffix] = Sample(labels | bucket, family.type != "gauge")
    return exported


def runtime_samples() -> Exported:
    return samples(getattr(_metrics, name) for name in _metrics.__all__)


@cache
def analytics_samples() -> Exported:
    """What the analytics worker's /metrics serves: its app built as the worker builds it (no
    broker needed), the metrics it registers for /metrics caught on their way there."""
    registered: list[Metrics] = []
    register = streams.register_metrics

    def catch(app: faust.App, metrics: Metrics) -> None:
        registered.append(metrics)
        register(app, metrics)

    settings = AnalyticsSettings(database_url="postgresql://oms_analytics@127.0.0.1/oms_analytics")
    with mock.patch.object(streams, "register_metrics", catch):
        streams.build_app(settings)
    (metrics,) = registered
    # The registry's collectors, all that /metrics serves (generate_latest over the registry).
    return samples(metrics.registry._collector_to_names)


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def sections() -> dict[str, list[dict[str, Any]]]:
    """The panels under each row, by the row's title (``SERVICES`` for those above the first
    row): a row holds the panels below it up to the next, as Grafana lays them out."""
    found: dict[str, list[dict[str, Any]]] = {SERVICES: []}
    section = SERVICES

    def position(panel: dict[str, Any]) -> tuple[int, int]:
        return panel["gridPos"]["y"], panel["gridPos"]["x"]

    for panel in sorted(dashboard()["panels"], key=position):
        if panel["type"] == "row":
            section = panel["title"]
            found[section] = list(panel.get("panels", []))  # a collapsed row holds its own
        else:
            found[section].append(panel)
    return found


def panels() -> Iterator[dict[str, Any]]:
    for section in sections().values():
        yield from section


def targets(section: str) -> Iterator[dict[str, Any]]:
    for panel in sections()[section]:
        yield from panel["targets"]


def metrics_in(queries: Iterable[str]) -> set[str]:
    return {m for query in queries for m in OMS_METRIC.findall(query)}


def variable_queries() -> Iterator[str]:
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            yield variable["definition"]


def labels_used(target: dict[str, Any]) -> set[str]:
    """The labels a query matches on or groups by, and those its legend shows."""
    expr = target["expr"]
    matched = {
        name
        for selector in re.findall(r"\{([^}]*)\}", expr)
        for name in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector)
    }
    grouped = {
        name.strip()
        for names in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr)
        for name in names.split(",")
        if name.strip()
    }
    shown = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
    return matched | grouped | shown


def test_the_services_panels_query_only_metrics_the_runtime_exports() -> None:
    exported = runtime_samples()
    used = metrics_in([*(t["expr"] for t in targets(SERVICES)), *variable_queries()])
    assert used, "the dashboard queries no OMS metric"
    assert used <= exported.keys(), f"not exported by oms_runtime: {sorted(used - exported.keys())}"


def test_the_analytics_row_queries_only_metrics_the_analytics_worker_exports() -> None:
    exported = analytics_samples()
    used = metrics_in(t["expr"] for t in targets(ANALYTICS))
    assert used <= exported.keys(), f"not on analytics' /metrics: {sorted(used - exported.keys())}"


def test_the_analytics_row_shows_every_analytics_metric() -> None:
    own = {name for name in analytics_samples() if name.startswith("oms_analytics_")}
    assert own, "the analytics worker exports no oms_analytics_* metric"
    shown = metrics_in(t["expr"] for t in targets(ANALYTICS))
    assert own <= shown, f"no panel for {sorted(own - shown)}"


def test_queries_use_only_labels_their_metrics_carry() -> None:
    for section, exported in ((SERVICES, runtime_samples()), (ANALYTICS, analytics_samples())):
        for target in targets(section):
            for metric in metrics_in([target["expr"]]):
                unknown = labels_used(target) - exported[metric].labels - TARGET_LABELS
                assert not unknown, f"{metric} has no {sorted(unknown)}: {target['expr']}"


def test_rates_are_over_counters_and_gauges_are_read_as_they_stand() -> None:
    for section, exported in ((SERVICES, runtime_samples()), (ANALYTICS, analytics_samples())):
        for target in targets(section):
            rated = set(RATED.findall(target["expr"]))
            for metric in metrics_in([target["expr"]]):
                cumulative = exported[metric].cumulative
                assert cumulative == (metric in rated), f"{metric} in {target['expr']}"


def test_every_services_query_follows_the_service_filter() -> None:
    for target in targets(SERVICES):
        if "oms_" in target["expr"]:
            assert 'service=~"$service"' in target["expr"], target["expr"]


def test_the_analytics_row_reads_the_runtimes_metric_names_of_analytics_only() -> None:
    # oms_events_* carry every service's samples; the oms_analytics_* gauges and counters have
    # no service label (only analytics exports them), so the Service variable cannot filter
    # them and the row does not follow it.
    for target in targets(ANALYTICS):
        if "oms_events_" in target["expr"]:
            assert 'service="analytics"' in target["expr"], target["expr"]


def test_panels_have_unique_ids_and_the_templated_data_source() -> None:
    rows = [p for p in dashboard()["panels"] if p["type"] == "row"]
    ids = [p["id"] for p in [*rows, *panels()]]
    assert len(ids) == len(set(ids))
    for panel in panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


def test_panels_fit_the_grid_without_overlapping() -> None:
    assert ANALYTICS in sections()
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard()["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[x, y]}"
                cells[x, y] = panel["title"]


def test_prometheus_scrapes_every_service_on_its_http_port() -> None:
    config = yaml.safe_load((MONITORING / "prometheus" / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "oms"]
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    expected = {
        f"{name}:{environment(spec)['OMS_HTTP_PORT']}" for name, spec in oms_services().items()
    }
    assert "analytics" in oms_services()
    assert targets == expected


def test_compose_monitoring_mounts_existing_files() -> None:
    services = compose_services()
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"], name
        for volume in services[name]["volumes"]:
            source = volume.split(":", 1)[0]
            assert (REPO / Path(source)).exists(), f"{name} mounts missing {source}"
