"""Files of events checked and keyed, copy ranges planned: without a broker."""

from __future__ import annotations

from types import SimpleNamespace

from oms_events.topics import topic
from oms_ops.records import CopyRange, check_file, copy_ranges, record_key
from tests.support.operator import canceled


def test_keys_follow_the_registry() -> None:
    stock = SimpleNamespace(sku="SKU-1", location_id="WH-2")
    assert record_key(topic("oms.availability"), stock, "ORD-1") == "SKU-1@WH-2"
    intake = SimpleNamespace(channel="web", external_order_id="W-9")
    assert record_key(topic("oms.channel-order-intake"), intake, "x") == "web:W-9"
    assert record_key(topic("oms.orders"), SimpleNamespace(order_id="ORD-7"), "s") == "ORD-7"
    assert record_key(topic("oms.operator-audit"), SimpleNamespace(), "subj") == "subj"
    # A payload without the field: the subject, as the services' outboxes key by default.
    assert record_key(topic("oms.inventory"), SimpleNamespace(sku="S"), "ORD-3") == "ORD-3"


def test_a_file_is_checked_line_by_line_against_the_contract_and_the_topic() -> None:
    lines = [canceled("ORD-1"), b"  ", b"[1]", canceled("ORD-2"), b'{"type": 1}']
    events, bad = check_file(lines, topic("oms.orders"))
    assert [(e.line, e.key, e.event_type) for e in events] == [
        (1, "ORD-1", "OrderCanceled"),
        (4, "ORD-2", "OrderCanceled"),
    ]
    assert [b.line for b in bad] == [3, 5]
    assert str(bad[0]).startswith("line 3: malformed")
    _, wrong_topic = check_file([canceled("ORD-1")], topic("oms.payments"))
    assert [str(b) for b in wrong_topic] == ["line 1: OrderCanceled is not carried by oms.payments"]


def test_copy_ranges_are_clamped_to_what_each_partition_holds() -> None:
    bounds = [(0, 0, 10), (1, 5, 8)]
    assert copy_ranges("t", bounds) == [CopyRange("t", 0, 0, 10), CopyRange("t", 1, 5, 8)]
    assert copy_ranges("t", bounds, from_offset=3, to_offset=9) == [
        CopyRange("t", 0, 3, 9),
        CopyRange("t", 1, 5, 8),
    ]
    by_time = copy_ranges("t", bounds, since={0: 4, 1: 8}, until={0: 6})
    assert [(r.start, r.end, r.records) for r in by_time] == [(4, 6, 2), (8, 8, 0)]
