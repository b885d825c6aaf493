"""The benchmarks' arguments: a bad rate or duration is refused by name before anything runs."""

from __future__ import annotations

import argparse

import pytest

from bench.order_pipeline import rate_list, seconds


def test_rates_are_whole_numbers_of_one_or_more() -> None:
    assert rate_list("5,100,200") == [5, 100, 200]
    for bad, why in [
        ("abc", "not a comma-separated list"),
        ("100,", "not a comma"),
        ("0,5", "1 or more"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=why):
            rate_list(bad)


def test_a_duration_is_more_than_zero_seconds() -> None:
    assert seconds("2.5") == 2.5
    for bad, why in [
        ("x", "not a number"),
        ("0", "more than 0"),
        ("-3", "more than 0"),
        ("nan", "more than 0"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=why):
            seconds(bad)
