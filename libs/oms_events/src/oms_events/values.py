"""Value types shared by event payloads.

Validation here is *structural* (types, ISO codes, signs). Business rules such as
"line totals add up" belong to the order service, which answers with OrderRejected
and a reason instead of dead-lettering the record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import pycountry
from pydantic import (
    AfterValidator,
    AwareDatetime,
    Field,
    StringConstraints,
    model_validator,
)

from oms_events._model import StrictModel

__all__ = [
    "Actor",
    "ActorRole",
    "Address",
    "CountryCode",
    "CurrencyCode",
    "DeliveryMethod",
    "Email",
    "Identifier",
    "LineQuantity",
    "LocationType",
    "Money",
    "OrderLine",
    "OrderTotals",
    "Quantity",
    "Sku",
    "StockQuantity",
    "UtcDatetime",
    "ValueModel",
]

# Sets, not pycountry look-ups: look-ups on hostile strings are slower and their
# exception types have changed between pycountry releases.
_CURRENCIES: frozenset[str] = frozenset(c.alpha_3 for c in pycountry.currencies)
_COUNTRIES: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries)


def _iso_currency(code: str) -> str:
    if code not in _CURRENCIES:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return code


def _iso_country(code: str) -> str:
    if code not in _COUNTRIES:
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


CurrencyCode = Annotated[
    str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_iso_currency)
]
"""ISO 4217 alphabetic code, upper case (``EUR``)."""

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$"), AfterValidator(_iso_country)]
"""ISO 3166-1 alpha-2 code, upper case (``DE``)."""

UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware instant, normalised to UTC; naive datetimes are rejected."""

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=200)]
"""An opaque id (order, line, location, ...); never parsed by consumers."""

Sku = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^@\s]+$")]
"""Stock keeping unit; no ``@`` or whitespace so ``sku@location`` keys stay unambiguous."""

Email = Annotated[str, StringConstraints(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]

Quantity = Annotated[int, Field(strict=True, gt=0)]
"""A positive count of units; strict so ``1.0`` or ``"1"`` is rejected."""

StockQuantity = Annotated[int, Field(strict=True, ge=0)]
"""A non-negative stock level."""


class ValueModel(StrictModel):
    """Base of value objects: immutable and closed, like the payloads that embed them."""


class Money(ValueModel):
    """An amount in integer minor units (cents) of an ISO 4217 currency; never a float."""

    amount_minor: Annotated[int, Field(strict=True)]
    currency: CurrencyCode

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(amount_minor=0, currency=currency)

    def __add__(self, other: Money) -> Money:
        if self.currency != other.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(amount_minor=self.amount_minor + other.amount_minor, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        if self.currency != other.currency:
            raise ValueError(f"cannot subtract {other.currency} from {self.currency}")
        return Money(amount_minor=self.amount_minor - other.amount_minor, currency=self.currency)

    def times(self, quantity: int) -> Money:
        return Money(amount_minor=self.amount_minor * quantity, currency=self.currency)


class Address(ValueModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    line1: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    line2: Annotated[str, StringConstraints(max_length=200)] | None = None
    city: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    region: Annotated[str, StringConstraints(max_length=100)] | None = None
    country: CountryCode
    email: Email | None = None
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()\-]{5,20}$")] | None = None


class DeliveryMethod(StrEnum):
    HOME_DELIVERY = "home_delivery"
    CLICK_AND_COLLECT = "click_and_collect"
    SHIP_TO_STORE = "ship_to_store"


class LocationType(StrEnum):
    WAREHOUSE = "warehouse"
    STORE = "store"
    DROP_SHIPPER = "drop_shipper"


class ActorRole(StrEnum):
    CUSTOMER = "customer"
    CUSTOMER_SERVICE = "customer_service"
    OPERATOR = "operator"
    STAFF = "staff"
    SYSTEM = "system"


class Actor(ValueModel):
    """Who asked for a change; the audited timeline shows it."""

    actor_id: Identifier
    role: ActorRole


class OrderLine(ValueModel):
    """One ordered line as the channel priced it.

    ``line_total`` is what the channel charged for the line
    (unit_price x quantity - discount + tax); the order service checks the arithmetic.
    """

    line_id: Identifier
    sku: Sku
    quantity: Quantity
    unit_price: Money
    tax: Money
    discount: Money
    line_total: Money
    name: Annotated[str, StringConstraints(max_length=300)] | None = None

    @model_validator(mode="after")
    def _non_negative(self) -> OrderLine:
        for field in ("unit_price", "tax", "discount", "line_total"):
            if getattr(self, field).amount_minor < 0:
                raise ValueError(f"{field} must not be negative")
        return self


class OrderTotals(ValueModel):
    subtotal: Money
    discount_total: Money
    tax_total: Money
    shipping_total: Money
    grand_total: Money


class LineQuantity(ValueModel):
    """A quantity of one order line (cancellations, allocations, receipts)."""

    line_id: Identifier
    sku: Sku
    quantity: Quantity
