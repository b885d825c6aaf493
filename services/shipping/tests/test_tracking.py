"""Carrier codes normalised from configuration, and scans that never take a parcel back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oms_runtime import DocumentError
from oms_shipping.adapters.carrier_file import read_carrier_codes
from oms_shipping.domain.tracking import (
    CarrierCodes,
    NotNormalised,
    ParcelState,
    ParcelStatus,
    judge,
)

REPO = Path(__file__).resolve().parents[3]
P = ParcelStatus
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)

CODES = CarrierCodes.model_validate(
    {
        "carriers": {
            "dhl": {
                "PU": {"status": "in_transit"},
                "OD": {"status": "out_for_delivery"},
                "DL": {"status": "delivered"},
                "NA": {"status": "delivery_exception", "exception": "recipient_absent"},
                "RT": {"status": "returned_to_sender"},
            },
            "ups": {"D": {"status": "delivered"}},
        }
    }
)


@pytest.mark.parametrize(
    ("carrier", "code", "status", "exception"),
    [
        ("dhl", "PU", P.IN_TRANSIT, None),
        ("dhl", "od", P.OUT_FOR_DELIVERY, None),  # upper-cased when not listed as sent
        ("dhl", " DL ", P.DELIVERED, None),
        ("dhl", "NA", P.DELIVERY_EXCEPTION, "recipient_absent"),
        ("dhl", "RT", P.RETURNED_TO_SENDER, None),
        ("ups", "D", P.DELIVERED, None),
    ],
)
def test_each_carrier_code_means_one_status(
    carrier: str, code: str, status: ParcelStatus, exception: str | None
) -> None:
    meaning = CODES.normalise(carrier, code)
    assert (meaning.status, meaning.exception) == (status, exception)


@pytest.mark.parametrize(
    ("carrier", "code", "reason"),
    [
        ("dhl", "ZZ", "unknown_carrier_status_code"),
        ("ups", "PU", "unknown_carrier_status_code"),  # another carrier's code
        ("fedex", "DL", "unknown_carrier"),
    ],
)
def test_an_unmapped_code_or_carrier_is_never_guessed(carrier: str, code: str, reason: str) -> None:
    with pytest.raises(NotNormalised) as caught:
        CODES.normalise(carrier, code)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "document",
    [
        {"carriers": {}},
        {"carriers": {"dhl": {}}},
        {"carriers": {"dhl": {"NA": {"status": "delivery_exception"}}}},
        {"carriers": {"dhl": {"DL": {"status": "delivered", "exception": "damaged"}}}},
        {"carriers": {"dhl": {"HO": {"status": "handed_over"}}}},
        {"carriers": {"dhl": {"DL": {"status": "arrived"}}}},
        {"carriers": {"dhl": {"NA": {"status": "delivery_exception", "exception": "Bad Code"}}}},
        {"carriers": {"dhl": {"DL": {"status": "delivered"}}}, "extra": 1},
    ],
)
def test_a_bad_mapping_is_refused(document: object, tmp_path: Path) -> None:
    path = tmp_path / "carriers.json"
    path.write_text(json.dumps(document))
    with pytest.raises(DocumentError) as caught:
        read_carrier_codes(path)
    assert str(path) in str(caught.value)


def test_the_shipped_mapping_loads() -> None:
    codes = read_carrier_codes(REPO / "deploy" / "demo" / "carriers.yaml")
    assert {"dhl", "ups", "dpd"} <= set(codes.carriers)
    assert codes.normalise("dhl", "DL").status is P.DELIVERED


def test_a_newer_scan_moves_the_parcel_and_an_older_one_is_kept_only() -> None:
    parcel = ParcelState(P.OUT_FOR_DELIVERY, T0)
    assert judge(parcel, P.DELIVERED, T0 + timedelta(minutes=5)).applied
    older = judge(parcel, P.IN_TRANSIT, T0 - timedelta(hours=2))
    assert (older.applied, older.note) == (False, "older_than_latest")
    same = judge(parcel, P.IN_TRANSIT, T0)
    assert (same.applied, same.note) == (False, "older_than_latest")


def test_an_exception_is_followed_by_a_newer_scan() -> None:
    parcel = ParcelState(P.DELIVERY_EXCEPTION, T0)
    assert judge(parcel, P.OUT_FOR_DELIVERY, T0 + timedelta(days=1)).applied


def test_nothing_moves_a_delivered_or_returned_parcel() -> None:
    for final in (P.DELIVERED, P.RETURNED_TO_SENDER):
        verdict = judge(ParcelState(final, T0), P.IN_TRANSIT, T0 + timedelta(hours=1))
        assert (verdict.applied, verdict.note) == (False, "after_final")
