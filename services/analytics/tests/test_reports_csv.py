"""Reports as CSV: a header, the rows in the JSON's field order, a mapping spread over one
column per key (amounts over every currency of the report), empty cells for no value."""

from __future__ import annotations

from oms_analytics.entrypoints.reports import to_csv


def test_amounts_share_the_reports_currencies_and_other_mappings_their_own_keys() -> None:
    rows = [
        {
            "day": "2026-11-24",
            "captured_minor": {"EUR": 500},
            "refunded_minor": {},
            "rate": None,
            "returned_units_by_reason": {"damaged": 2},
        },
        {
            "day": "2026-11-25",
            "captured_minor": {},
            "refunded_minor": {"CHF": 70},
            "rate": 0.5,
            "returned_units_by_reason": {},
        },
    ]
    assert to_csv(rows) == (
        "day,captured_minor_CHF,captured_minor_EUR,refunded_minor_CHF,refunded_minor_EUR,rate,"
        "returned_units_by_reason_damaged\n"
        "2026-11-24,0,500,0,0,,2\n"
        "2026-11-25,0,0,70,0,0.5,0\n"
    )


def test_text_with_commas_is_quoted_and_no_rows_give_an_empty_body() -> None:
    assert to_csv([{"code": "x", "why": "a, b"}]) == 'code,why\nx,"a, b"\n'
    assert to_csv([]) == ""
