from __future__ import annotations

from collections import Counter

import pytest

from oms_events.registry import ALL_EVENT_TYPES
from oms_events.topics import (
    DEAD_LETTER_RETENTION_MS,
    TOPICS,
    TopicSpec,
    all_topic_names,
    all_topic_specs,
    topic,
    topic_for_event,
)

EXPECTED = {
    "oms.channel-order-intake",
    "oms.order-commands",
    "oms.orders",
    "oms.payments",
    "oms.returns",
    "oms.inventory",
    "oms.availability",
    "oms.inventory-feed",
    "oms.reservation-requests",
    "oms.sourcing",
    "oms.staff-actions",
    "oms.shipments",
    "oms.carrier-tracking",
    "oms.notifications",
    "oms.operations",
    "oms.analytics-alerts",
    "oms.operator-audit",
}


def test_the_catalogue_of_topics() -> None:
    assert {t.name for t in TOPICS} == EXPECTED
    assert len(TOPICS) == len(EXPECTED)


def test_every_event_type_is_on_exactly_one_topic() -> None:
    counts = Counter(e for t in TOPICS for e in t.event_types)
    assert set(counts) == set(ALL_EVENT_TYPES)
    assert [e for e, n in counts.items() if n != 1] == []
    for event_type in ALL_EVENT_TYPES:
        assert event_type in topic_for_event(event_type).event_types


def test_input_topics_are_written_by_the_outside_world() -> None:
    inputs = {t.name for t in TOPICS if t.input}
    assert inputs == {
        "oms.channel-order-intake",
        "oms.order-commands",
        "oms.inventory-feed",
        "oms.staff-actions",
        "oms.carrier-tracking",
    }
    for spec in TOPICS:
        assert spec.owner.startswith("external:") == spec.input, spec.name


def test_keys() -> None:
    assert topic("oms.orders").key == "order_id"
    assert topic("oms.availability").key == "sku@location"
    assert topic("oms.inventory").key == "sku@location"
    for spec in TOPICS:
        assert spec.partitions == 6


def test_lookup_errors_are_clear() -> None:
    with pytest.raises(KeyError, match=r"unknown topic 'oms\.nope'; known: oms\.analytics-alerts"):
        topic("oms.nope")
    with pytest.raises(KeyError, match="OrderTeleported"):
        topic_for_event("OrderTeleported")


def test_availability_is_compacted() -> None:
    cfg = topic("oms.availability").config()
    assert cfg["cleanup.policy"] == "compact"
    assert "retention.ms" not in cfg
    assert int(cfg["min.compaction.lag.ms"]) > 0


def test_delete_topics_config() -> None:
    assert topic("oms.orders").config() == {"cleanup.policy": "delete", "retention.ms": "-1"}
    assert topic("oms.channel-order-intake").config()["retention.ms"] == str(14 * 86_400_000)


def test_dead_letter_twins() -> None:
    spec = topic("oms.availability")
    dlq = spec.dead_letter_spec()
    assert spec.dead_letter == dlq.name == "oms.availability.dlq"
    assert dlq.partitions == spec.partitions
    assert dlq.config() == {
        "cleanup.policy": "delete",
        "retention.ms": str(DEAD_LETTER_RETENTION_MS),
    }
    assert DEAD_LETTER_RETENTION_MS == 30 * 86_400_000
    assert dlq.event_types == ()


def test_all_topic_names_include_dead_letters_and_prefix() -> None:
    names = all_topic_names("dev1.")
    assert len(names) == len(set(names)) == 2 * len(TOPICS)
    assert "dev1.oms.orders" in names
    assert "dev1.oms.orders.dlq" in names
    assert all(n.startswith("dev1.") for n in names)
    assert all_topic_names() == [s.name for s in all_topic_specs()]


def test_full_name() -> None:
    spec = TopicSpec(name="oms.x", owner="order", key="order_id", partitions=1)
    assert spec.full_name() == "oms.x"
    assert spec.full_name("ci-42.") == "ci-42.oms.x"
