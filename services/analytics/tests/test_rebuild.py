"""The rebuild's declaration and its comparison of two states, on dicts: what ``oms rebuild``
reads from ``rebuild-spec``, and which differences count (the journal and a funds day's count
of changes do not; a lost, extra or changed key does, named)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import TopicPartition

from oms_analytics.adapters.changelog import Held, canonical, changelog_topic
from oms_analytics.config import AnalyticsSettings
from oms_analytics.entrypoints.rebuild import (
    HISTORY_TABLES,
    MemoryState,
    NotRebuildable,
    _Counter,
    _Expiring,
    _refuse_stops_past_the_end,
    compare_states,
    compare_with_live,
    counted_stops,
    describe,
    journals_at,
    recovered,
)
from oms_analytics.service_layer.counting import Read
from oms_analytics.service_layer.stuck import Outcome
from oms_events.codec import encode
from oms_ops.rebuild import check_spec
from oms_runtime import ConsumedRecord
from tests.support.analytics import accepted, at, envelope

SETTINGS = AnalyticsSettings(
    database_url="postgresql://oms_analytics@127.0.0.1/oms_analytics",
    topic_prefix="t1.",
    group_suffix="-r1",
)
_DAY = {"amounts": {"authorised": {"EUR": 3000}}, "exceptional_orders": [], "version": 3}
LIVE: Held = {
    "journal/0": (0, {"applied": {"t1.oms.orders": 41}, "writes": {}, "gone": []}),
    "ledgers/C1": (0, {"channel": "web-de", "closure": "completed"}),
    'funds/["web-de", "2026-11-24", 0]': (0, _DAY),
    "orders/C1": (0, {"channel": "web-de"}),
}


def _mismatched(live: Held, rebuilt: Held) -> list[str]:
    compared, _ = compare_states(live, rebuilt)
    return [c["table"] for c in compared if c["live"] != c["rebuilt"]]


def _with(**changes: Any) -> Held:
    rebuilt = dict(LIVE)
    for key, value in changes.items():
        name = key.replace("__", "/")
        if value is None:
            rebuilt.pop(name)
        else:
            rebuilt[name] = (0, value)
    return rebuilt


def test_the_spec_names_the_source_topics_the_history_and_the_changelog() -> None:
    spec = check_spec(describe(SETTINGS))
    assert spec["topics"] == [
        f"t1.oms.{name}"
        for name in ("orders", "payments", "shipments", "returns", "sourcing", "inventory")
    ]
    assert [t["name"] for t in spec["tables"]] == list(HISTORY_TABLES)
    assert all("updated_at" in t["excluded"] for t in spec["tables"])
    days = next(t for t in spec["tables"] if t["name"] == "analytics_funds_days")
    assert "version" in days["excluded"]
    assert spec["outbox"] is False
    assert spec["state"]["changelog"] == "t1.oms-analytics-r1-state-changelog"
    assert changelog_topic(SETTINGS) == spec["state"]["changelog"]


def test_the_journal_and_a_day_s_count_of_changes_are_no_difference() -> None:
    other_batches = {"applied": {"t1.oms.orders": 41}, "writes": {"orders/C1": {}}, "gone": []}
    rebuilt = _with(journal__0=other_batches, **{'funds__["web-de", "2026-11-24", 0]': {
        **_DAY, "version": 7}})  # fmt: skip
    compared, differing = compare_states(LIVE, rebuilt)
    assert differing == {}
    assert all(c["live"] == c["rebuilt"] for c in compared)
    funds = next(c for c in compared if c["table"] == "state/funds")
    assert funds["live"]["rows"] == 1 and "version" in funds["excluded"]


def test_a_lost_an_extra_or_a_changed_key_is_named() -> None:
    lost = _with(ledgers__C1=None)
    assert _mismatched(LIVE, lost) == ["state/ledgers"]
    assert compare_states(LIVE, lost)[1] == {"ledgers": ["ledgers/C1"]}
    extra = _with(orders__C2={"channel": "web-de"})
    assert compare_states(LIVE, extra)[1] == {"orders": ["orders/C2"]}
    amounts = {**_DAY, "amounts": {"authorised": {"EUR": 2999}}}
    changed = _with(**{'funds__["web-de", "2026-11-24", 0]': amounts})
    assert _mismatched(LIVE, changed) == ["state/funds"]


def test_a_value_is_compared_as_a_worker_recovers_it() -> None:
    # A tuple in memory is a list once through the changelog's JSON; a dict's order is none.
    assert canonical({"b": (1, 2), "a": None}) == {"b": [1, 2], "a": None}
    reordered = _with(ledgers__C1={"closure": "completed", "channel": "web-de"})
    assert compare_states(LIVE, reordered)[1] == {}


async def test_a_key_the_live_worker_was_about_to_expire_is_no_difference() -> None:
    live = MemoryState()
    uses, _ = live.use_cases(SETTINGS)

    async def keep(outcome: Outcome) -> None:
        uses.stuck.apply(outcome)

    # Three days apart on one partition: the first order's minute windows (kept 48 hours)
    # have expired by the second's time, and the live worker has not swept yet.
    placed = [(accepted("A1", "web-de", 1000), at("10:00")), (accepted("A2", "web-de", 900),
              at("10:00", day=27))]  # fmt: skip
    reads = [
        Read("t1.oms.orders", 0, offset, envelope(payload, when), payload)
        for offset, (payload, when) in enumerate(placed)
    ]
    await uses.counting.count(reads, keep)
    held = {key: (p, canonical(value)) for key, (p, value) in live.held.items()}
    rebuilt = MemoryState(held)
    swept = rebuilt.expire(SETTINGS)
    assert swept["windows"] > 0
    assert "windows" in compare_states(held, rebuilt.held)[1]
    compared, differing = compare_with_live(SETTINGS, held, rebuilt.held)
    assert differing == {}
    assert all(c["live"] == c["rebuilt"] for c in compared)


def test_the_live_state_is_read_as_a_worker_recovers_it_its_torn_batch_written_again() -> None:
    # A worker killed while sending: its last batch's journal record reached the changelog,
    # one of its two writes did not, and a key it deleted is still there.
    torn = {
        "applied": {"t1.oms.orders": 57},
        "writes": {"orders/C1": {"channel": "web-de", "closed": True}, "orders/C2": {"x": 1}},
        "gone": ["orders/C3"],
    }
    changelog: Held = {
        "journal/1": (1, torn),
        "orders/C1": (1, {"channel": "web-de", "closed": True}),
        "orders/C3": (1, {"channel": "pos"}),
    }
    state = recovered(changelog)
    assert state["orders/C2"] == (1, {"x": 1})
    assert "orders/C3" not in state
    assert state["orders/C1"] == changelog["orders/C1"]


def test_events_counted_past_the_committed_offsets_are_counted_by_the_rebuild_too() -> None:
    live: Held = {"journal/1": (1, {"applied": {"t1.oms.orders": 57, "t1.oms.gone": 3}})}
    stop_at = {("t1.oms.orders", 1): 50, ("t1.oms.orders", 0): 9, ("t1.oms.payments", 1): 4}
    assert counted_stops(stop_at, live) == {
        ("t1.oms.orders", 1): 58,  # the worker counted up to 57 before it could commit
        ("t1.oms.orders", 0): 9,
        ("t1.oms.payments", 1): 4,
    }
    assert counted_stops(stop_at, {"journal/1": (1, {"applied": {"t1.oms.orders": 20}})}) == (
        stop_at
    )


def test_a_swap_s_journal_lists_every_event_before_the_stops_and_no_batch() -> None:
    stops = {("t1.oms.orders", 1): 58, ("t1.oms.payments", 1): 4, ("t1.oms.orders", 2): 0}
    assert journals_at(stops) == {
        "journal/1": (
            1,
            {"applied": {"t1.oms.orders": 57, "t1.oms.payments": 3}, "writes": {}, "gone": []},
        )
    }


def test_a_journal_past_the_end_of_its_log_is_refused_with_the_cause() -> None:
    ends = {TopicPartition("t1.oms.orders", 1): 40, TopicPartition("t1.oms.orders", 0): 9}
    _refuse_stops_past_the_end({("t1.oms.orders", 1): 40, ("t1.oms.orders", 0): 9}, ends)
    with pytest.raises(
        NotRebuildable, match=r"recreated\?\): t1\.oms\.orders\[1\] to 58, ends at 40$"
    ):
        _refuse_stops_past_the_end({("t1.oms.orders", 1): 58, ("t1.oms.orders", 0): 9}, ends)


async def test_a_record_the_codec_refuses_is_skipped_and_counted_as_the_worker_skips_it() -> None:
    uses, journal = MemoryState().use_cases(SETTINGS)
    counter = _Counter(uses, _Expiring(uses, journal, pool=None))  # type: ignore[arg-type]
    good = encode(envelope(accepted("A1", "web-de", 1000), at("10:00")))
    records = [
        ConsumedRecord("t1.oms.orders", 0, 0, b"A1", b"{not json"),
        ConsumedRecord("t1.oms.orders", 0, 1, b"A1", good),
    ]
    reads = await counter.prepare(records)
    assert [r.offset for r in reads] == [1]
    assert counter.undecodable == 1
