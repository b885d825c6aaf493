"""The rebuild's plan and comparison, without a broker or a database."""

from __future__ import annotations

import pytest

from oms_ops.kafka import PartitionOffsets
from oms_ops.rebuild import (
    NotRebuildable,
    RebuildFailed,
    TableSum,
    check_spec,
    checksum_query,
    compare,
    compared_columns,
    database_name,
    derived_names,
    moved_offsets,
    stop_offsets,
    with_database,
)


def _p(partition: int, committed: int | None, beginning: int = 0) -> PartitionOffsets:
    return PartitionOffsets("t.oms.orders", partition, committed, beginning, 40)


def test_a_committed_offset_past_the_end_of_the_log_is_refused() -> None:
    with pytest.raises(NotRebuildable, match=r"recreated.*t\.oms\.orders\[1\] committed 41"):
        stop_offsets([_p(0, 12), _p(1, 41)])


def test_a_swap_needs_the_committed_offsets_the_rebuild_stopped_at() -> None:
    planned = {("t.oms.orders", 0): 12, ("t.oms.orders", 1): 0, ("t.oms.orders", 2): 40}
    assert moved_offsets(planned, [_p(0, 12), _p(1, None), _p(2, 40)]) == []
    assert moved_offsets(planned, [_p(0, 15), _p(1, 3), _p(2, 40)]) == [
        "t.oms.orders[0] rebuilt to 12, committed 15",
        "t.oms.orders[1] rebuilt to 0, committed 3",
    ]
    # A partition added since the plan, with commits: moved too.
    assert moved_offsets(planned, [_p(0, 12), _p(1, None), _p(2, 40), _p(3, 1)]) == [
        "t.oms.orders[3] rebuilt to 0, committed 1"
    ]


def test_derived_database_names_are_refused_when_postgresql_would_cut_them() -> None:
    assert derived_names("oms_inventory", "20261202T160000") == (
        "oms_inventory_rebuild",
        "oms_inventory_before_rebuild_20261202T160000",
    )
    # 55 bytes: "_rebuild" fits (63), "_before_rebuild_<time>" does not.
    with pytest.raises(ValueError, match="longer than PostgreSQL's 63 bytes"):
        derived_names("d" * 55, "20261202T160000")
    # 63 bytes: "<db>_rebuild" would be cut back to the live name.
    with pytest.raises(ValueError, match="63 bytes"):
        derived_names("d" * 63, "20261202T160000")
    # Bytes, not characters.
    with pytest.raises(ValueError, match="63 bytes"):
        derived_names("ä" * 20, "20261202T160000")


def test_a_spec_is_an_object_without_a_topic_both_read_and_recorded() -> None:
    spec = {"rebuildable": True, "topics": ["a", "b"], "recorded_topics": ["c"], "tables": []}
    assert check_spec(spec) is spec
    with pytest.raises(RebuildFailed, match="not a JSON object"):
        check_spec([1, 2])
    with pytest.raises(RebuildFailed, match="b both as an input and as a recorded topic"):
        check_spec(spec | {"recorded_topics": ["b"]})
    with pytest.raises(RebuildFailed, match="no list 'tables'"):
        check_spec({"rebuildable": True, "topics": [], "recorded_topics": []})
    assert check_spec({"rebuildable": False, "reason": "x"}) == {
        "rebuildable": False,
        "reason": "x",
    }


def test_excluded_columns_must_exist() -> None:
    present = ["sku", "on_hand", "updated_at"]
    assert compared_columns("stock", present, {"updated_at": "clock"}) == ["sku", "on_hand"]
    with pytest.raises(RebuildFailed, match="excludes columns recorded_at, x that table stock"):
        compared_columns("stock", present, {"x": "", "recorded_at": "", "updated_at": ""})


def test_the_rebuild_stops_at_the_live_groups_committed_offsets() -> None:
    assert stop_offsets([_p(0, 12), _p(1, None), _p(2, 40)]) == {
        ("t.oms.orders", 0): 12,
        ("t.oms.orders", 1): 0,  # never committed: the live service applied nothing there
        ("t.oms.orders", 2): 40,
    }


def test_a_topic_whose_first_records_are_gone_cannot_be_rebuilt_from() -> None:
    with pytest.raises(NotRebuildable, match=r"retention.*t\.oms\.orders\[1\] from 7"):
        stop_offsets([_p(0, 12), _p(1, 20, beginning=7)])


def test_tables_match_only_with_the_same_rows_and_checksum() -> None:
    tables = [{"name": "stock", "excluded": {"updated_at": "processing time"}}, {"name": "x"}]
    same = TableSum(3, "abc")
    live = {"stock": same, "x": TableSum(2, "def")}
    rebuilt = {"stock": TableSum(3, "abc"), "x": TableSum(2, "dee")}
    stock, x = compare(tables, live, rebuilt)
    assert stock.match and not x.match
    assert stock.as_dict()["excluded"] == {"updated_at": "processing time"}
    assert x.as_dict() | {"excluded": None} == {
        "table": "x",
        "rows_live": 2,
        "rows_rebuilt": 2,
        "checksum_live": "def",
        "checksum_rebuilt": "dee",
        "match": False,
        "excluded": None,
    }


def test_the_checksum_hashes_each_row_and_combines_the_sorted_hashes() -> None:
    query = checksum_query("stock", ["location_id", "on_hand", 'we"ird'])
    assert 'md5(ROW(t."location_id", t."on_hand", t."we""ird")::text) AS h' in query
    assert "md5(string_agg(h, '' ORDER BY h COLLATE \"C\"))" in query
    assert 'FROM "stock" t' in query


def test_database_names_come_from_the_url() -> None:
    url = "postgresql://oms:secret@db:5432/oms_inventory"
    assert database_name(url) == "oms_inventory"
    assert with_database(url, "oms_inventory_rebuild") == (
        "postgresql://oms:secret@db:5432/oms_inventory_rebuild"
    )
    with pytest.raises(ValueError, match="names no database"):
        database_name("postgresql://db:5432")
