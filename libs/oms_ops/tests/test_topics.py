"""The topic registry compared with what a cluster has, without a broker."""

from __future__ import annotations

import pytest

from oms_events.topics import TOPICS
from oms_ops.topics import ActualTopic, WantedTopic, compare, wanted_topics


def _orders(prefix: str = "t1.") -> WantedTopic:
    [orders] = wanted_topics(prefix, ["oms.orders"])
    return orders


def test_the_registry_is_every_topic_and_its_dead_letter_twin_under_the_prefix() -> None:
    every = wanted_topics("t1.")
    assert len(every) == 2 * len(TOPICS)
    assert {w.name for w in every} == {
        f"t1.{t.name}{twin}" for t in TOPICS for twin in ("", ".dlq")
    }
    assert every[0].name == "t1.oms.channel-order-intake"
    assert every[1].name == "t1.oms.channel-order-intake.dlq"
    assert every[1].config == {"cleanup.policy": "delete", "retention.ms": str(30 * 86400000)}
    assert [w.name for w in wanted_topics("t1.", ["oms.orders", "t1.oms.orders.dlq"])] == [
        "t1.oms.orders",
        "t1.oms.orders.dlq",
    ]
    with pytest.raises(ValueError, match="not a registry topic"):
        wanted_topics("t1.", ["oms.order"])


def test_a_missing_topic_has_no_drift_and_a_matching_one_none() -> None:
    orders = _orders()
    assert compare(orders, None).present is False
    same = ActualTopic(orders.name, 6, {**orders.config, "segment.ms": "1"})
    assert compare(orders, same).drift == ()


def test_drift_is_fixable_for_configs_and_more_partitions_never_fewer() -> None:
    orders = _orders()
    fewer = compare(orders, ActualTopic(orders.name, 3, {"cleanup.policy": "compact"}))
    assert [(d.setting, d.wanted, d.actual, d.fixable) for d in fewer.drift] == [
        ("partitions", "6", "3", True),
        ("cleanup.policy", "delete", "compact", True),
        ("retention.ms", "-1", None, True),
    ]
    more = compare(orders, ActualTopic(orders.name, 12, orders.config))
    assert [(d.setting, d.fixable) for d in more.drift] == [("partitions", False)]
    assert more.as_dict()["drift"][0]["actual"] == "12"
