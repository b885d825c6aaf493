"""The worker's metrics in the Prometheus text format, with the runtime's names."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from oms_analytics.entrypoints.metrics import Metrics


def test_records_alerts_expired_keys_and_gauges_read_when_scraped() -> None:
    metrics = Metrics()
    stuck = [3]
    metrics.gauge("oms_analytics_stuck_orders", "Orders stuck now.", lambda: stuck[0])
    metrics.consumed("oms.orders", "processed")
    metrics.consumed("oms.orders", "processed")
    metrics.consumed("oms.orders", "undecodable")
    metrics.published("oms.analytics-alerts")
    keys = {"orders": 5, "windows": 40}
    metrics.labelled_gauge("oms_analytics_table_keys", "Keys.", "table", lambda: keys)
    metrics.expired("windows", 3)
    metrics.expired("windows", 0)
    stuck[0] = 2
    keys["orders"] = 4
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
    }
    orders = (("outcome", "processed"), ("service", "analytics"), ("topic", "oms.orders"))
    assert samples[("oms_events_in_total", orders)] == 2.0
    bad = (("outcome", "undecodable"), ("service", "analytics"), ("topic", "oms.orders"))
    assert samples[("oms_events_in_total", bad)] == 1.0
    alerts = (("service", "analytics"), ("topic", "oms.analytics-alerts"))
    assert samples[("oms_events_out_total", alerts)] == 1.0
    assert samples[("oms_analytics_stuck_orders", ())] == 2.0
    assert samples[("oms_analytics_table_keys", (("table", "orders"),))] == 4.0
    assert samples[("oms_analytics_table_keys", (("table", "windows"),))] == 40.0
    assert samples[("oms_analytics_expired_keys_total", (("table", "windows"),))] == 3.0
