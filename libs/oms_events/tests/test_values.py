from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import TypeAdapter, ValidationError

from oms_events.values import Address, Money, OrderLine, Quantity, UtcDatetime


def eur(amount: int) -> Money:
    return Money(amount_minor=amount, currency="EUR")


def address(**overrides: object) -> dict[str, object]:
    return {
        "name": "Jana Keller",
        "line1": "Kastanienallee 12",
        "city": "Berlin",
        "postal_code": "10435",
        "country": "DE",
    } | overrides


class TestMoney:
    def test_accepts_integer_minor_units(self) -> None:
        assert Money(amount_minor=1999, currency="EUR").amount_minor == 1999
        assert (
            Money.model_validate_json('{"amount_minor": 500, "currency": "JPY"}').currency == "JPY"
        )

    @pytest.mark.parametrize("amount", [19.99, 10.0, "1000", True])
    def test_rejects_anything_but_an_int(self, amount: object) -> None:
        with pytest.raises(ValidationError, match="amount_minor"):
            Money.model_validate({"amount_minor": amount, "currency": "EUR"})

    def test_rejects_a_float_in_json(self) -> None:
        with pytest.raises(ValidationError, match="amount_minor"):
            Money.model_validate_json('{"amount_minor": 10.0, "currency": "EUR"}')

    @pytest.mark.parametrize("currency", ["EUX", "eur", "EURO", "", "€"])
    def test_rejects_unknown_currency(self, currency: str) -> None:
        with pytest.raises(ValidationError, match="currency"):
            Money(amount_minor=1, currency=currency)

    def test_arithmetic_keeps_the_currency(self) -> None:
        assert eur(100) + eur(50) == eur(150)
        assert eur(100) - eur(150) == eur(-50)
        assert eur(250).times(3) == eur(750)
        assert Money.zero("USD") == Money(amount_minor=0, currency="USD")

    def test_arithmetic_refuses_mixed_currencies(self) -> None:
        with pytest.raises(ValueError, match="USD"):
            eur(1) + Money(amount_minor=1, currency="USD")

    def test_is_immutable(self) -> None:
        with pytest.raises(ValidationError):
            eur(1).amount_minor = 2  # type: ignore[misc]


class TestAddress:
    def test_valid(self) -> None:
        a = Address.model_validate(address(email="jana@example.com", phone="+49 30 1234567"))
        assert a.country == "DE"
        assert a.line2 is None

    @pytest.mark.parametrize("country", ["XX", "de", "DEU", "", "D"])
    def test_rejects_non_iso_country(self, country: str) -> None:
        with pytest.raises(ValidationError, match="country"):
            Address.model_validate(address(country=country))

    @pytest.mark.parametrize("field,value", [("email", "not-an-email"), ("phone", "call me")])
    def test_rejects_bad_contact_details(self, field: str, value: str) -> None:
        with pytest.raises(ValidationError, match=field):
            Address.model_validate(address(**{field: value}))

    def test_rejects_unknown_fields(self) -> None:
        with pytest.raises(ValidationError, match="street"):
            Address.model_validate(address(street="x"))


class TestOrderLine:
    def line(self, **overrides: object) -> dict[str, object]:
        return {
            "line_id": "1",
            "sku": "SKU-1",
            "quantity": 2,
            "unit_price": {"amount_minor": 1000, "currency": "EUR"},
            "tax": {"amount_minor": 380, "currency": "EUR"},
            "discount": {"amount_minor": 0, "currency": "EUR"},
            "line_total": {"amount_minor": 2380, "currency": "EUR"},
        } | overrides

    def test_valid(self) -> None:
        assert OrderLine.model_validate(self.line()).quantity == 2

    @pytest.mark.parametrize("quantity", [0, -1, 1.5, "2"])
    def test_quantity_must_be_a_positive_int(self, quantity: object) -> None:
        with pytest.raises(ValidationError, match="quantity"):
            OrderLine.model_validate(self.line(quantity=quantity))

    def test_rejects_negative_money(self) -> None:
        with pytest.raises(ValidationError, match="discount must not be negative"):
            OrderLine.model_validate(self.line(discount={"amount_minor": -5, "currency": "EUR"}))

    def test_sku_cannot_contain_the_key_separator(self) -> None:
        with pytest.raises(ValidationError, match="sku"):
            OrderLine.model_validate(self.line(sku="SKU@store"))


def test_quantity_type_is_strictly_positive() -> None:
    adapter: TypeAdapter[int] = TypeAdapter(Quantity)
    assert adapter.validate_python(3) == 3
    with pytest.raises(ValidationError):
        adapter.validate_python(0)


class TestUtcDatetime:
    adapter: TypeAdapter[datetime] = TypeAdapter(UtcDatetime)

    def test_normalises_to_utc(self) -> None:
        cest = timezone(timedelta(hours=2))
        value = self.adapter.validate_python(datetime(2024, 6, 11, 11, 0, tzinfo=cest))
        assert value == datetime(2024, 6, 11, 9, 0, tzinfo=UTC)
        assert value.utcoffset() == timedelta(0)

    def test_rejects_naive(self) -> None:
        with pytest.raises(ValidationError):
            self.adapter.validate_python(datetime(2024, 6, 11, 11, 0))
        with pytest.raises(ValidationError):
            self.adapter.validate_json('"2024-06-11T11:00:00"')
