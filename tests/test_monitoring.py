"""deploy/monitoring's Grafana dashboard and Prometheus config match what the services export."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from oms_runtime import _metrics
from tests.test_compose import REPO, compose_services, environment, oms_services

MONITORING = REPO / "deploy" / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "oms-services.json"
SAMPLE_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
}


def exported_samples() -> set[str]:
    names = set()
    for collector in (getattr(_metrics, name) for name in _metrics.__all__):
        for family in collector.describe():
            names |= {family.name + suffix for suffix in SAMPLE_SUFFIXES[family.type]}
    return names


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def expressions() -> Iterator[str]:
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            yield target["expr"]


def variable_queries() -> Iterator[str]:
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            yield variable["definition"]


def test_dashboard_queries_only_metrics_the_runtime_exports() -> None:
    exported = exported_samples()
    queries = [*expressions(), *variable_queries()]
    used = {m for expr in queries for m in re.findall(r"\boms_[a-z_]+\b", expr)}
    assert used, "the dashboard queries no OMS metric"
    assert used <= exported, f"not exported by oms_runtime: {sorted(used - exported)}"


def test_every_oms_query_follows_the_service_filter() -> None:
    for expr in expressions():
        if "oms_" in expr:
            assert 'service=~"$service"' in expr, expr


def test_panels_have_unique_ids_and_the_templated_data_source() -> None:
    panels = dashboard()["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


def test_prometheus_scrapes_every_service_on_its_http_port() -> None:
    config = yaml.safe_load((MONITORING / "prometheus" / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "oms"]
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    expected = {
        f"{name}:{environment(spec)['OMS_HTTP_PORT']}" for name, spec in oms_services().items()
    }
    assert targets == expected


def test_compose_monitoring_mounts_existing_files() -> None:
    services = compose_services()
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"], name
        for volume in services[name]["volumes"]:
            source = volume.split(":", 1)[0]
            assert (REPO / Path(source)).exists(), f"{name} mounts missing {source}"
