"""Prometheus metrics every service exposes on /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "BATCH_SECONDS",
    "CONSUMER_LAG",
    "DEAD_LETTERS",
    "EVENTS_IN",
    "EVENTS_OUT",
    "OUTBOX_BACKLOG",
]

EVENTS_IN = Counter(
    "oms_events_in_total",
    "Records consumed, by outcome (processed, duplicate, ignored, dead_lettered).",
    ["service", "topic", "outcome"],
)
EVENTS_OUT = Counter(
    "oms_events_out_total", "Records published by the relay.", ["service", "topic"]
)
DEAD_LETTERS = Counter(
    "oms_dead_letters_total", "Records dead-lettered, by reason.", ["service", "topic", "reason"]
)
BATCH_SECONDS = Histogram(
    "oms_handler_batch_seconds",
    "Time to handle one consumed batch, its transaction included.",
    ["service", "topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_BACKLOG = Gauge("oms_outbox_backlog", "Outbox rows not yet published.", ["service"])
CONSUMER_LAG = Gauge(
    "oms_consumer_lag",
    "High watermark minus next offset to process.",
    ["service", "topic", "partition"],
)
