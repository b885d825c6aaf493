"""Business-rule validation and risk rules of the order domain, and their settings.

Each case mutates one valid baseline order (built from plain dicts, since the models are
frozen) and asserts the exact (code, field) pairs, so codes stay a stable contract.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsError

from oms_events.orders import OrderSubmitted, RejectionReason
from oms_order.config import OrderSettings
from oms_order.domain.request import OrderRequest
from oms_order.domain.validation import (
    RiskPolicy,
    ValidationPolicy,
    address_key,
    assess_risk,
    validate_order,
)
from oms_order.service_layer.translation import request_of
from oms_runtime import invalid_configuration

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DEFAULT = ValidationPolicy()


def money(amount: int, currency: str = "EUR") -> dict[str, Any]:
    return {"amount_minor": amount, "currency": currency}


def address(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Jana Keller",
        "line1": "Kastanienallee 12",
        "city": "Berlin",
        "postal_code": "10435",
        "country": "DE",
    } | overrides


def line(
    line_id: str, sku: str, quantity: int, unit: int, discount: int, tax: int
) -> dict[str, Any]:
    return {
        "line_id": line_id,
        "sku": sku,
        "quantity": quantity,
        "unit_price": money(unit),
        "discount": money(discount),
        "tax": money(tax),
        "line_total": money(unit * quantity - discount + tax),
    }


def rebalance(data: dict[str, Any], shipping: int = 499) -> dict[str, Any]:
    """Recompute totals and payment from the lines, so a test can change one line alone."""
    lines = data["lines"]
    subtotal = sum(x["unit_price"]["amount_minor"] * x["quantity"] for x in lines)
    discount = sum(x["discount"]["amount_minor"] for x in lines)
    tax = sum(x["tax"]["amount_minor"] for x in lines)
    grand = subtotal - discount + tax + shipping
    data["totals"] = {
        "subtotal": money(subtotal),
        "discount_total": money(discount),
        "tax_total": money(tax),
        "shipping_total": money(shipping),
        "grand_total": money(grand),
    }
    data["payment"]["amount"] = money(grand)
    return data


def order_data() -> dict[str, Any]:
    """A valid home-delivery order: 2 x 10.00 - 2.00 + 3.42, 1 x 5.00 + 0.95, 4.99 shipping."""
    return rebalance(
        {
            "channel": "webshop",
            "external_order_id": "WEB-1001",
            "placed_at": (NOW - timedelta(minutes=1)).isoformat(),
            "customer": {"customer_id": "cust-7", "email": "jana@example.com"},
            "billing_address": address(),
            "shipping_address": address(),
            "delivery_method": "home_delivery",
            "currency": "EUR",
            "lines": [
                line("l1", "SKU-A", 2, 1000, 200, 342),
                line("l2", "SKU-B", 1, 500, 0, 95),
            ],
            "payment": {
                "method": "card",
                "provider": "sandbox",
                "card_token": "tok_approve",
                "amount": money(0),
            },
        }
    )


def build(data: dict[str, Any]) -> OrderRequest:
    """The domain's view of an order, through the same translation the service uses."""
    return request_of(OrderSubmitted.model_validate(data))


def problems(
    data: dict[str, Any], policy: ValidationPolicy = DEFAULT
) -> list[tuple[str, str | None]]:
    return [(r.code, r.field) for r in validate_order(build(data), policy, now=NOW)]


class TestBaseline:
    def test_the_baseline_is_valid(self) -> None:
        data = order_data()
        assert data["totals"]["grand_total"]["amount_minor"] == 3236
        assert validate_order(build(data), DEFAULT, now=NOW) == []

    def test_a_pickup_order_without_shipping_address_is_valid(self) -> None:
        data = order_data() | {
            "delivery_method": "click_and_collect",
            "pickup_store_id": "store-berlin-1",
            "shipping_address": None,
        }
        assert problems(data) == []

    def test_duplicate_skus_are_allowed(self) -> None:
        data = order_data()
        data["lines"][1]["sku"] = "SKU-A"
        assert problems(data) == []

    def test_non_card_payments_need_no_token(self) -> None:
        data = order_data()
        data["payment"] |= {"method": "invoice", "card_token": None}
        assert problems(data) == []

    def test_now_must_be_timezone_aware(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            validate_order(build(order_data()), DEFAULT, now=datetime(2025, 3, 1, 12))


class TestArithmetic:
    def test_line_total_mismatch(self) -> None:
        data = order_data()
        data["lines"][1]["line_total"] = money(600)
        assert problems(data) == [("line_total_mismatch", "lines[1].line_total")]

    def test_line_total_message_names_expected_and_actual(self) -> None:
        data = order_data()
        data["lines"][1]["line_total"] = money(600)
        [reason] = validate_order(build(data), DEFAULT, now=NOW)
        assert "600 EUR" in reason.message
        assert "expected 595" in reason.message

    def test_discount_exceeds_line(self) -> None:
        data = order_data()
        data["lines"][1] = line("l2", "SKU-B", 1, 500, 600, 200)  # line total 100, still >= 0
        rebalance(data)
        assert problems(data) == [("discount_exceeds_line", "lines[1].discount")]

    @pytest.mark.parametrize(
        ("name", "code"),
        [
            ("subtotal", "subtotal_mismatch"),
            ("discount_total", "discount_total_mismatch"),
            ("tax_total", "tax_total_mismatch"),
        ],
    )
    def test_total_against_lines(self, name: str, code: str) -> None:
        data = order_data()
        totals = data["totals"]
        sign = -1 if name == "discount_total" else 1
        totals[name] = money(totals[name]["amount_minor"] + 1)
        # Keep grand_total consistent with the stated totals, so only one problem shows.
        grand = totals["grand_total"]["amount_minor"] + sign
        totals["grand_total"] = money(grand)
        data["payment"]["amount"] = money(grand)
        assert problems(data) == [(code, f"totals.{name}")]

    def test_grand_total_mismatch(self) -> None:
        data = order_data()
        data["totals"]["grand_total"] = money(3237)
        data["payment"]["amount"] = money(3237)
        assert problems(data) == [("grand_total_mismatch", "totals.grand_total")]

    def test_payment_amount_mismatch(self) -> None:
        data = order_data()
        data["payment"]["amount"] = money(3000)
        assert problems(data) == [("payment_amount_mismatch", "payment.amount")]

    def test_negative_total(self) -> None:
        data = rebalance(order_data(), shipping=-100)
        assert problems(data) == [("negative_amount", "totals.shipping_total")]

    def test_zero_total_is_refused_unless_free_orders_are_allowed(self) -> None:
        data = order_data()
        data["lines"] = [line("l1", "SKU-GIFT", 1, 0, 0, 0)]
        rebalance(data, shipping=0)
        assert problems(data) == [("zero_total", "totals.grand_total")]
        assert problems(data, ValidationPolicy(allow_free_orders=True)) == []


class TestCurrency:
    def test_line_currency_mismatch_skips_arithmetic_for_that_currency(self) -> None:
        data = order_data()
        data["lines"][1]["unit_price"] = money(500, "USD")
        assert problems(data) == [("currency_mismatch", "lines[1].unit_price.currency")]

    def test_totals_currency_mismatch(self) -> None:
        data = order_data()
        data["totals"]["shipping_total"] = money(499, "USD")
        assert problems(data) == [("currency_mismatch", "totals.shipping_total.currency")]

    def test_payment_currency_mismatch(self) -> None:
        data = order_data()
        data["payment"]["amount"] = money(3236, "USD")
        assert problems(data) == [("currency_mismatch", "payment.amount.currency")]

    def test_unsupported_currency(self) -> None:
        policy = ValidationPolicy(currencies=frozenset({"USD", "GBP"}))
        assert problems(order_data(), policy) == [("unsupported_currency", "currency")]


class TestDelivery:
    def test_shipping_address_required(self) -> None:
        data = order_data() | {"shipping_address": None}
        assert problems(data) == [("shipping_address_required", "shipping_address")]

    @pytest.mark.parametrize("method", ["click_and_collect", "ship_to_store"])
    def test_pickup_store_required(self, method: str) -> None:
        data = order_data() | {"delivery_method": method, "shipping_address": None}
        assert problems(data) == [("pickup_store_required", "pickup_store_id")]

    def test_unexpected_pickup_store(self) -> None:
        data = order_data() | {"pickup_store_id": "store-berlin-1"}
        assert problems(data) == [("unexpected_pickup_store", "pickup_store_id")]

    def test_unsupported_country(self) -> None:
        policy = ValidationPolicy(ship_to_countries=frozenset({"AT", "CH"}))
        assert problems(order_data(), policy) == [
            ("unsupported_country", "shipping_address.country")
        ]
        assert problems(order_data(), ValidationPolicy(ship_to_countries=frozenset({"DE"}))) == []


class TestLinesAndLimits:
    def test_duplicate_line_id(self) -> None:
        data = order_data()
        data["lines"][1]["line_id"] = "l1"
        [reason] = validate_order(build(data), DEFAULT, now=NOW)
        assert (reason.code, reason.field) == ("duplicate_line_id", "lines[1].line_id")
        assert "lines[0]" in reason.message

    def test_too_many_lines(self) -> None:
        assert problems(order_data(), ValidationPolicy(max_lines=1)) == [
            ("too_many_lines", "lines")
        ]

    def test_quantity_too_large(self) -> None:
        policy = ValidationPolicy(max_quantity_per_line=1)
        assert problems(order_data(), policy) == [("quantity_too_large", "lines[0].quantity")]

    def test_amount_too_large(self) -> None:
        policy = ValidationPolicy(max_amount_minor=2500)  # subtotal 2500 is still fine
        assert problems(order_data(), policy) == [
            ("amount_too_large", "totals.grand_total"),
            ("amount_too_large", "payment.amount"),
        ]

    def test_amount_too_large_by_default_protects_bigint_columns(self) -> None:
        data = order_data()
        data["lines"] = [line("l1", "SKU-A", 1, 10**11 + 1, 0, 0)]
        rebalance(data, shipping=0)
        found = problems(data)
        assert ("amount_too_large", "lines[0].unit_price") in found
        assert ("amount_too_large", "lines[0].line_total") in found


class TestTimeAndPayment:
    def test_placed_in_future(self) -> None:
        data = order_data() | {"placed_at": (NOW + timedelta(minutes=6)).isoformat()}
        assert problems(data) == [("placed_in_future", "placed_at")]

    def test_clock_skew_is_tolerated(self) -> None:
        data = order_data() | {"placed_at": (NOW + timedelta(minutes=4)).isoformat()}
        assert problems(data) == []

    def test_a_promise_before_the_order_was_placed(self) -> None:
        placed = NOW - timedelta(hours=1)
        data = order_data() | {"placed_at": placed.isoformat()}
        late = data | {"promised_by": (placed + timedelta(days=2)).isoformat()}
        early = data | {"promised_by": (placed - timedelta(seconds=1)).isoformat()}
        assert problems(late) == []
        assert problems(early) == [("promised_before_placed", "promised_by")]

    def test_card_token_required(self) -> None:
        data = order_data()
        data["payment"]["card_token"] = None
        assert problems(data) == [("card_token_required", "payment.card_token")]


def test_every_problem_is_reported_at_once() -> None:
    data = order_data() | {
        "shipping_address": None,
        "placed_at": (NOW + timedelta(hours=1)).isoformat(),
    }
    data["lines"][0]["line_total"] = money(1)
    data["lines"][1]["line_id"] = "l1"
    data["payment"]["card_token"] = None
    data["payment"]["amount"] = money(1)
    policy = ValidationPolicy(currencies=frozenset({"USD"}))
    assert problems(data, policy) == [
        ("unsupported_currency", "currency"),
        ("line_total_mismatch", "lines[0].line_total"),
        ("duplicate_line_id", "lines[1].line_id"),
        ("payment_amount_mismatch", "payment.amount"),
        ("card_token_required", "payment.card_token"),
        ("shipping_address_required", "shipping_address"),
        ("placed_in_future", "placed_at"),
    ]


def test_reasons_fit_the_event_contract() -> None:
    data = order_data()
    data["lines"][1]["line_total"] = money(600)
    [reason] = validate_order(build(data), DEFAULT, now=NOW)
    assert isinstance(reason, RejectionReason)


# --- risk ---------------------------------------------------------------------------------


def rules(data: dict[str, Any], policy: RiskPolicy) -> list[str]:
    return [flag.rule for flag in assess_risk(build(data), policy)]


class TestRisk:
    def test_a_plain_order_raises_no_flag(self) -> None:
        assert assess_risk(build(order_data()), RiskPolicy()) == []

    def test_amount_over_threshold(self) -> None:
        assert rules(order_data(), RiskPolicy(review_amount_minor=3235)) == [
            "amount_over_threshold"
        ]
        assert rules(order_data(), RiskPolicy(review_amount_minor=3236)) == []

    def test_threshold_per_currency(self) -> None:
        policy = RiskPolicy(review_amount_minor_by_currency={"EUR": 3000, "JPY": 10})
        assert rules(order_data(), policy) == ["amount_over_threshold"]
        assert rules(order_data(), RiskPolicy(review_amount_minor_by_currency={"JPY": 10})) == []

    def test_country_mismatch(self) -> None:
        data = order_data() | {"shipping_address": address(country="AT", postal_code="1010")}
        [flag] = assess_risk(build(data), RiskPolicy())
        assert flag.rule == "country_mismatch"
        assert "DE" in flag.note and "AT" in flag.note

    def test_no_country_mismatch_for_pickup(self) -> None:
        data = order_data() | {
            "billing_address": address(country="AT"),
            "shipping_address": None,
            "delivery_method": "click_and_collect",
            "pickup_store_id": "store-berlin-1",
        }
        assert rules(data, RiskPolicy()) == []

    def test_blocklisted_email_is_case_insensitive(self) -> None:
        data = order_data()
        data["customer"]["email"] = "Jana@Example.COM"
        assert rules(data, RiskPolicy(blocked_emails=frozenset({"jANA@example.com"}))) == [
            "blocklisted_email"
        ]
        assert rules(data, RiskPolicy(blocked_emails=frozenset({"other@example.com"}))) == []

    def test_blocklisted_address_is_normalised(self) -> None:
        blocked = frozenset({("KASTANIENALLEE  12.", "104 35", "de")})
        [flag] = assess_risk(build(order_data()), RiskPolicy(blocked_addresses=blocked))
        assert flag.rule == "blocklisted_address"
        assert "billing and shipping" in flag.note

    def test_other_addresses_are_not_blocklisted(self) -> None:
        blocked = frozenset({("Kastanienallee 14", "10435", "DE")})
        assert rules(order_data(), RiskPolicy(blocked_addresses=blocked)) == []

    def test_address_key(self) -> None:
        assert address_key(" Main St. 5, ", "ab-1 2", "gb") == ("main st 5", "AB12", "GB")

    def test_policy_is_not_changed_by_its_input_dict(self) -> None:
        thresholds = {"EUR": 10}
        policy = RiskPolicy(review_amount_minor_by_currency=thresholds)
        thresholds["EUR"] = 10**9
        assert policy.review_threshold("EUR") == 10


# --- policy settings (OMS_ORDER_POLICIES) -------------------------------------------------


def settings_with(monkeypatch: pytest.MonkeyPatch, policies: object) -> OrderSettings:
    """The order settings as the worker reads them, with ``policies`` as the variable."""
    monkeypatch.setenv("OMS_DATABASE_URL", "postgresql://db/oms")
    text = policies if isinstance(policies, str) else json.dumps(policies)
    monkeypatch.setenv("OMS_ORDER_POLICIES", text)
    return OrderSettings()


class TestPolicySettings:
    def test_empty_config_gives_defaults(self, monkeypatch: pytest.MonkeyPatch) -> None:
        policies = settings_with(monkeypatch, {}).order_policies
        assert (policies.validation.policy(), policies.risk.policy()) == (
            ValidationPolicy(),
            RiskPolicy(),
        )
        monkeypatch.delenv("OMS_ORDER_POLICIES")
        assert OrderSettings().order_policies == policies

    def test_full_config(self, monkeypatch: pytest.MonkeyPatch) -> None:
        policies = settings_with(
            monkeypatch,
            {
                "validation": {
                    "max_lines": 50,
                    "max_quantity_per_line": 99,
                    "max_amount_minor": 10**9,
                    "currencies": ["EUR", "CHF"],
                    "ship_to_countries": ["DE", "AT"],
                    "clock_skew_seconds": 30,
                    "allow_free_orders": True,
                },
                "risk": {
                    "review_amount_minor": 50_000,
                    "review_amount_minor_by_currency": {"JPY": 150_000},
                    "blocked_emails": ["Fraud@Example.com"],
                    "blocked_addresses": [
                        {"line1": "Main St 1", "postal_code": "12345", "country": "US"}
                    ],
                },
            },
        ).order_policies
        validation, risk = policies.validation.policy(), policies.risk.policy()
        assert validation == ValidationPolicy(
            max_lines=50,
            max_quantity_per_line=99,
            max_amount_minor=10**9,
            currencies=frozenset({"EUR", "CHF"}),
            ship_to_countries=frozenset({"DE", "AT"}),
            clock_skew=timedelta(seconds=30),
            allow_free_orders=True,
        )
        assert risk.review_threshold("JPY") == 150_000
        assert risk.review_threshold("EUR") == 50_000
        assert risk.blocked_emails == frozenset({"fraud@example.com"})
        assert risk.blocked_addresses == frozenset({("main st 1", "12345", "US")})

    @pytest.mark.parametrize(
        ("config", "message"),
        [
            ("not JSON", "OMS_ORDER_POLICIES: not valid JSON: Expecting value"),
            ([], "OMS_ORDER_POLICIES: Input should be a valid dictionary"),
            ({"validaton": {}}, "OMS_ORDER_POLICIES: validaton: Extra inputs are not permitted"),
            ({"validation": {"max_line": 3}}, "validation.max_line: Extra inputs are not"),
            ({"risk": {"blocked_email": []}}, "risk.blocked_email: Extra inputs are not"),
            ({"validation": []}, "validation: Input should be a valid dictionary"),
            (
                {"validation": {"max_lines": "10"}},
                "validation.max_lines: Input should be a valid int",
            ),
            (
                {"validation": {"max_lines": True}},
                "validation.max_lines: Input should be a valid int",
            ),
            (
                {"validation": {"max_lines": 0}},
                "validation.max_lines: Input should be greater than",
            ),
            (
                {"validation": {"currencies": "EUR"}},
                "validation.currencies: Input should be a valid",
            ),
            (
                {"validation": {"currencies": ["eur"]}},
                "validation.currencies[0]: String should match",
            ),
            (
                {"validation": {"ship_to_countries": ["XX"]}},
                "validation.ship_to_countries[0]: Value error, 'XX' is not an ISO 3166-1",
            ),
            (
                {"validation": {"clock_skew_seconds": "5"}},
                "validation.clock_skew_seconds: Input should be a valid number",
            ),
            (
                {"validation": {"clock_skew_seconds": 10**9}},
                "validation.clock_skew_seconds: Input should be less than or equal to 86400",
            ),
            (
                {"validation": {"allow_free_orders": "yes"}},
                "validation.allow_free_orders: Input should be a valid boolean",
            ),
            ({"risk": {"review_amount_minor": 1.5}}, "risk.review_amount_minor: Input should be a"),
            ({"risk": {"review_amount_minor": -1}}, "risk.review_amount_minor: Input should be gr"),
            (
                {"risk": {"review_amount_minor_by_currency": {"EUR": "1"}}},
                "risk.review_amount_minor_by_currency.EUR: Input should be a valid integer",
            ),
            (
                {"risk": {"blocked_emails": [1]}},
                "risk.blocked_emails[0]: Input should be a valid str",
            ),
            (
                {"risk": {"blocked_addresses": [{"line1": "x", "postal_code": "1"}]}},
                "risk.blocked_addresses[0].country: Field required",
            ),
            (
                {"risk": {"blocked_addresses": ["Main St 1"]}},
                "risk.blocked_addresses[0]: Input should be a valid dictionary",
            ),
        ],
    )
    def test_bad_config_is_refused_with_a_specific_message(
        self, monkeypatch: pytest.MonkeyPatch, config: object, message: str
    ) -> None:
        with pytest.raises((ValidationError, SettingsError)) as refused:
            settings_with(monkeypatch, config)
        assert isinstance(refused.value, ValidationError | SettingsError)
        assert message in invalid_configuration(refused.value)
