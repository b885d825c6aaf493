"""What a shipping label says, whatever it is printed as (PDF for office printers, ZPL for
thermal ones): both addresses, the carrier's service, the weight, the parcel's place in
the shipment and the tracking number as a Code 128 barcode."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from oms_shipping.domain.dispatch import PostalAddress

__all__ = ["LabelContent", "LabelKind", "address_lines"]


class LabelKind(StrEnum):
    OUTBOUND = "outbound"
    RETURN = "return"


@dataclass(frozen=True)
class LabelContent:
    kind: LabelKind
    tracking_number: str
    carrier: str
    service: str
    weight_grams: int
    parcel_number: int
    parcel_count: int
    ship_from: PostalAddress
    ship_to: PostalAddress
    reference: str
    """The order id, for the people at either end."""
    printed_on: date


def address_lines(address: PostalAddress) -> list[str]:
    lines = [address.name, address.line1]
    if address.line2:
        lines.append(address.line2)
    lines.append(f"{address.postal_code} {address.city}")
    lines.append(address.country)
    return lines
