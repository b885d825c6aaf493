"""Carrier tracking: each carrier's own status codes normalised to the few statuses the OMS
speaks, and the rule that a parcel only ever moves forward in time.

The mapping per carrier is configuration (``carriers.yaml``, read by the adapters); a code a
carrier's mapping does not list is never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from oms_events import StrictModel

__all__ = [
    "CarrierCodes",
    "CarrierStatus",
    "NotNormalised",
    "ParcelState",
    "ParcelStatus",
    "TrackingVerdict",
    "judge",
]


class ParcelStatus(StrEnum):
    HANDED_OVER = "handed_over"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    DELIVERY_EXCEPTION = "delivery_exception"
    RETURNED_TO_SENDER = "returned_to_sender"


FINAL = frozenset({ParcelStatus.DELIVERED, ParcelStatus.RETURNED_TO_SENDER})

_Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]
_CarrierCode = Annotated[str, StringConstraints(min_length=1, max_length=64)]
_Carrier = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class CarrierStatus(StrictModel):
    """What one carrier code means: a status, and for an exception its normalised code."""

    status: ParcelStatus
    exception: _Code | None = None
    """For ``delivery_exception``: e.g. ``recipient_absent``, ``address_not_found``."""

    @model_validator(mode="after")
    def _exception_code(self) -> CarrierStatus:
        if self.status is ParcelStatus.HANDED_OVER:
            raise ValueError("handed_over comes from the staff's hand-over, not a carrier")
        if (self.status is ParcelStatus.DELIVERY_EXCEPTION) != (self.exception is not None):
            raise ValueError("an exception code is given for delivery_exception, and only then")
        return self


class CarrierCodes(StrictModel):
    """Per carrier (its id in hand-overs and scans), its status codes and what they mean."""

    carriers: Annotated[
        dict[_Carrier, Annotated[dict[_CarrierCode, CarrierStatus], Field(min_length=1)]],
        Field(min_length=1),
    ]

    def normalise(self, carrier: str, code: str) -> CarrierStatus:
        """What ``code`` of ``carrier`` means; NotNormalised says which of the two is unknown.
        Codes are matched as the carrier sends them, then upper-cased."""
        codes = self.carriers.get(carrier)
        if codes is None:
            raise NotNormalised("unknown_carrier", f"no status codes configured for {carrier}")
        found = codes.get(code) or codes.get(code.strip().upper())
        if found is None:
            raise NotNormalised(
                "unknown_carrier_status_code", f"{carrier} code {code[:64]!r} is not mapped"
            )
        return found


class NotNormalised(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ParcelState:
    status: ParcelStatus
    latest_at: datetime
    """When the scan the status came from happened (the hand-over for a new parcel)."""


@dataclass(frozen=True)
class TrackingVerdict:
    applied: bool
    note: str | None = None
    """Why an update was kept but not applied: ``older_than_latest`` or ``after_final``."""


def judge(parcel: ParcelState, status: ParcelStatus, occurred_at: datetime) -> TrackingVerdict:
    """Whether a scan moves the parcel: only a scan newer than the parcel's latest does, and
    nothing moves a parcel once delivered or returned. Carriers resend and reorder scans, so
    an older one is kept for the record and never takes the parcel back."""
    if occurred_at <= parcel.latest_at:
        return TrackingVerdict(False, "older_than_latest")
    if parcel.status in FINAL:
        return TrackingVerdict(False, "after_final")
    return TrackingVerdict(True)
