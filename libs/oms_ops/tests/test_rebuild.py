"""The rebuild's plan and comparison, without a broker or a database."""

from __future__ import annotations

import pytest

from oms_ops.kafka import PartitionOffsets
from oms_ops.rebuild import (
    NotRebuildable,
    TableSum,
    checksum_query,
    compare,
    database_name,
    stop_offsets,
    with_database,
)


def _p(partition: int, committed: int | None, beginning: int = 0) -> PartitionOffsets:
    return PartitionOffsets("t.oms.orders", partition, committed, beginning, 40)


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


def test_the_checksum_covers_the_named_columns_of_rows_sorted_by_their_text() -> None:
    query = checksum_query("stock", ["location_id", "on_hand", 'we"ird'])
    assert 'ROW(t."location_id", t."on_hand", t."we""ird")::text' in query
    assert "ORDER BY r" in query
    assert 'FROM "stock" t' in query


def test_database_names_come_from_the_url() -> None:
    url = "postgresql://oms:secret@db:5432/oms_inventory"
    assert database_name(url) == "oms_inventory"
    assert with_database(url, "oms_inventory_rebuild") == (
        "postgresql://oms:secret@db:5432/oms_inventory_rebuild"
    )
    with pytest.raises(ValueError, match="names no database"):
        database_name("postgresql://db:5432")
