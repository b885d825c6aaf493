"""The daily history's upserts, built from the figures' fields (the SQL itself runs in the
worker's integration tests)."""

from __future__ import annotations

import json
from datetime import date

from oms_analytics.adapters.history import DailyRow, _daily_columns, _daily_upsert
from oms_analytics.domain.kpis import LeadTimes, WindowFigures
from oms_analytics.domain.locations import LocationFigures


def test_a_location_day_is_upserted_into_its_table_version_guarded() -> None:
    statement = " ".join(_daily_upsert(LocationFigures).split())
    assert statement.startswith(
        "INSERT INTO analytics_daily_location_days AS stored (day, location, source_partition,"
        " offered, rejected, resourced, lead_times_s, on_time, late, version)"
    )
    assert "ARRAY(SELECT jsonb_array_elements_text(lead_times_s)::double precision)" in statement
    assert "$10::int[]) AS excluded" in statement  # ten columns, the version last
    assert "ON CONFLICT (day, location, source_partition) DO UPDATE" in statement
    assert statement.endswith("WHERE stored.version <= excluded.version")


def test_a_channel_day_goes_in_as_columns_in_the_tables_order_with_its_version() -> None:
    figures = WindowFigures(
        orders_placed=2,
        revenue_minor={"EUR": 1500, "CHF": 700},
        lead_times_s=LeadTimes.of([3600.0, 1800.0]),
        returned_units={"damaged": 1},
        returns=1,
    )
    columns = _daily_columns(DailyRow(date(2026, 11, 24), "web", 3, figures))
    assert columns == (
        date(2026, 11, 24), "web", 3, 2, json.dumps({"CHF": 700, "EUR": 1500}), 0, 0,
        "[1800.0, 3600.0]", 1, '{"damaged": 1}', 0, 0, "[]", 0, 0, 5,
    )  # fmt: skip
