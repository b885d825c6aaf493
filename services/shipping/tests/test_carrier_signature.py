"""The carrier webhook's signature: the carrier's own requests pass, nothing else does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from oms_shipping.domain.carrier_signature import sign, why_refused

SECRET = "whsec-carrier-0123456789"
NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)
BODY = b'{"updates": []}'
SENT = int(NOW.timestamp())


def check(timestamp: str | None, signature: str | None, body: bytes = BODY) -> str | None:
    return why_refused(SECRET, timestamp, signature, body, now=NOW, tolerance=timedelta(minutes=5))


def test_a_request_signed_by_the_carrier_passes() -> None:
    assert sign(SECRET, SENT, BODY).startswith("sha256=")
    assert check(str(SENT), sign(SECRET, SENT, BODY)) is None
    assert check(str(SENT - 299), sign(SECRET, SENT - 299, BODY)) is None


@pytest.mark.parametrize(
    ("timestamp", "signature", "body", "reason"),
    [
        (None, sign(SECRET, SENT, BODY), BODY, "unsigned"),
        (str(SENT), None, BODY, "unsigned"),
        ("yesterday", sign(SECRET, SENT, BODY), BODY, "bad_timestamp"),
        (str(SENT - 301), sign(SECRET, SENT - 301, BODY), BODY, "stale"),
        (str(SENT + 301), sign(SECRET, SENT + 301, BODY), BODY, "stale"),
        (str(SENT), sign(SECRET, SENT, BODY), BODY + b" ", "bad_signature"),  # body changed
        (str(SENT), sign(SECRET, SENT - 1, BODY), BODY, "bad_signature"),  # timestamp changed
        (str(SENT), sign("another-secret-0123", SENT, BODY), BODY, "bad_signature"),
    ],
)
def test_anything_else_is_refused_with_its_reason(
    timestamp: str | None, signature: str | None, body: bytes, reason: str
) -> None:
    assert check(timestamp, signature, body) == reason
