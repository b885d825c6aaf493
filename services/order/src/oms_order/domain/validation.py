"""Business rules for an intake order, and the risk rules that put it on hold.

The pydantic contract already guarantees types, ISO codes and positive quantities;
what is left here is what a channel can get *consistently wrong*: arithmetic that does
not add up, a delivery method without its address or store, amounts our columns cannot
hold. Every problem is reported at once (a channel fixing one reason per round trip
is slow and noisy), each with a stable ``code`` that channels can program against.

Risk rules are separate on purpose: a risky order is valid and is accepted, then held
for review, while an invalid order is rejected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from oms_events.orders import PaymentMethod, RejectionReason
from oms_events.values import Address, DeliveryMethod, Money
from oms_order.domain.request import OrderRequest

__all__ = [
    "AddressKey",
    "RiskFlag",
    "RiskPolicy",
    "ValidationPolicy",
    "address_key",
    "assess_risk",
    "validate_order",
]

_PICKUP_METHODS = frozenset({DeliveryMethod.CLICK_AND_COLLECT, DeliveryMethod.SHIP_TO_STORE})
_LINE_MONEY_FIELDS = ("unit_price", "discount", "tax", "line_total")
_TOTALS_FIELDS = ("subtotal", "discount_total", "tax_total", "shipping_total", "grand_total")


@dataclass(frozen=True)
class ValidationPolicy:
    """Per-deployment limits; the defaults accept everything the contract accepts.

    ``max_amount_minor`` (10**11) also keeps every amount inside the store's bigint
    columns with room for sums. ``None`` allow-lists mean "any ISO code". Operators set it
    in ``OMS_ORDER_POLICIES``, read by ``oms_order.config``.
    """

    max_lines: int = 500
    max_quantity_per_line: int = 10_000
    max_amount_minor: int = 10**11
    currencies: frozenset[str] | None = None
    ship_to_countries: frozenset[str] | None = None
    clock_skew: timedelta = timedelta(minutes=5)
    allow_free_orders: bool = False

    def __post_init__(self) -> None:
        for name in ("max_lines", "max_quantity_per_line", "max_amount_minor"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.clock_skew < timedelta(0):
            raise ValueError(f"clock_skew must not be negative, got {self.clock_skew}")
        for name in ("currencies", "ship_to_countries"):
            allowed = getattr(self, name)
            if allowed is not None:  # accept any iterable, keep the frozen promise
                object.__setattr__(self, name, frozenset(allowed))


AddressKey = tuple[str, str, str]
"""Normalised (line1, postal_code, country) used to match blocklisted addresses."""


def address_key(line1: str, postal_code: str, country: str) -> AddressKey:
    """Normalise so that case, punctuation and spacing cannot dodge the blocklist."""
    street = " ".join(re.sub(r"[^\w\s]", " ", line1.casefold()).split())
    postal = re.sub(r"[\s\-]", "", postal_code).upper()
    return (street, postal, country.strip().upper())


@dataclass(frozen=True)
class RiskPolicy:
    """Thresholds and blocklists for holding an order for manual review.

    Thresholds are in minor units, so they differ by currency (100_000 is 1,000.00 EUR
    but only 100,000 JPY); ``review_amount_minor_by_currency`` overrides the default.
    Emails and addresses are normalised on construction, so lookups are exact.
    """

    review_amount_minor: int = 100_000
    review_amount_minor_by_currency: Mapping[str, int] = field(default_factory=dict)
    blocked_emails: frozenset[str] = frozenset()
    blocked_addresses: frozenset[AddressKey] = frozenset()

    def __post_init__(self) -> None:
        if self.review_amount_minor < 0:
            raise ValueError(
                f"review_amount_minor must not be negative, got {self.review_amount_minor}"
            )
        for currency, threshold in self.review_amount_minor_by_currency.items():
            if threshold < 0:
                raise ValueError(
                    f"review_amount_minor_by_currency[{currency!r}] must not be negative,"
                    f" got {threshold}"
                )
        # Frozen means frozen: a caller's dict must not change the policy afterwards.
        object.__setattr__(
            self,
            "review_amount_minor_by_currency",
            MappingProxyType(dict(self.review_amount_minor_by_currency)),
        )
        object.__setattr__(
            self, "blocked_emails", frozenset(e.strip().casefold() for e in self.blocked_emails)
        )
        object.__setattr__(
            self,
            "blocked_addresses",
            frozenset(address_key(*key) for key in self.blocked_addresses),
        )

    def review_threshold(self, currency: str) -> int:
        return self.review_amount_minor_by_currency.get(currency, self.review_amount_minor)


@dataclass(frozen=True)
class RiskFlag:
    """Why an otherwise valid order should be held; ``rule`` is stable, ``note`` is prose."""

    rule: str
    note: str


# --- validation ---------------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.reasons: list[RejectionReason] = []

    def add(self, code: str, field: str | None, message: str) -> None:
        self.reasons.append(RejectionReason(code=code, field=field, message=message))


def _fmt(money: Money) -> str:
    return f"{money.amount_minor} {money.currency}"


def validate_order(
    order: OrderRequest, policy: ValidationPolicy, *, now: datetime
) -> list[RejectionReason]:
    """Every business-rule violation of ``order``, in a stable order; ``[]`` if it is valid.

    ``now`` is passed in (not read from the clock) so the result is reproducible when a
    record is redelivered or replayed. Amounts in messages are in minor units.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    problems = _Problems()
    currency = order.currency

    if policy.currencies is not None and currency not in policy.currencies:
        problems.add(
            "unsupported_currency",
            "currency",
            f"currency {currency} is not accepted; expected one of {sorted(policy.currencies)}",
        )

    lines_consistent = _check_lines(order, policy, problems)
    grand_total_ok = _check_totals(order, policy, problems, lines_consistent)
    _check_payment(order, policy, problems, grand_total_ok)
    _check_delivery(order, policy, problems)

    latest = now + policy.clock_skew
    if order.placed_at > latest:
        problems.add(
            "placed_in_future",
            "placed_at",
            f"placed_at {order.placed_at.isoformat()} is after now {now.isoformat()}"
            f" plus the allowed clock skew of {policy.clock_skew}",
        )
    if order.promised_by is not None and order.promised_by < order.placed_at:
        problems.add(
            "promised_before_placed",
            "promised_by",
            f"promised_by {order.promised_by.isoformat()} is before placed_at"
            f" {order.placed_at.isoformat()}",
        )
    return problems.reasons


def _check_money(
    money: Money, path: str, currency: str, policy: ValidationPolicy, problems: _Problems
) -> bool:
    """Currency and size of one amount; True if its currency is the order's."""
    if abs(money.amount_minor) > policy.max_amount_minor:
        problems.add(
            "amount_too_large",
            path,
            f"{path} is {_fmt(money)}, more than the maximum of {policy.max_amount_minor}",
        )
    if money.currency != currency:
        problems.add(
            "currency_mismatch",
            f"{path}.currency",
            f"{path} is in {money.currency}, expected the order currency {currency}",
        )
        return False
    return True


def _check_lines(order: OrderRequest, policy: ValidationPolicy, problems: _Problems) -> bool:
    """Per-line rules; True if every line amount is in the order currency."""
    if len(order.lines) > policy.max_lines:
        problems.add(
            "too_many_lines",
            "lines",
            f"the order has {len(order.lines)} lines, more than the maximum of {policy.max_lines}",
        )
    first_index: dict[str, int] = {}
    all_consistent = True
    for i, line in enumerate(order.lines):
        path = f"lines[{i}]"
        if line.line_id in first_index:
            problems.add(
                "duplicate_line_id",
                f"{path}.line_id",
                f"line_id {line.line_id!r} is already used by lines[{first_index[line.line_id]}];"
                " expected a unique line_id",
            )
        else:
            first_index[line.line_id] = i
        if line.quantity > policy.max_quantity_per_line:
            problems.add(
                "quantity_too_large",
                f"{path}.quantity",
                f"{path}.quantity is {line.quantity}, more than the maximum of"
                f" {policy.max_quantity_per_line}",
            )
        consistent = True
        for name in _LINE_MONEY_FIELDS:
            ok = _check_money(
                getattr(line, name), f"{path}.{name}", order.currency, policy, problems
            )
            consistent = consistent and ok
        if not consistent:
            all_consistent = False
            continue  # arithmetic across currencies would only add noise
        gross = line.unit_price.amount_minor * line.quantity
        if line.discount.amount_minor > gross:
            problems.add(
                "discount_exceeds_line",
                f"{path}.discount",
                f"{path}.discount is {_fmt(line.discount)}, more than unit_price"
                f" {line.unit_price.amount_minor} x quantity {line.quantity} = {gross}",
            )
        expected = gross - line.discount.amount_minor + line.tax.amount_minor
        if line.line_total.amount_minor != expected:
            problems.add(
                "line_total_mismatch",
                f"{path}.line_total",
                f"{path}.line_total is {_fmt(line.line_total)}, expected {expected}"
                f" = unit_price {line.unit_price.amount_minor} x quantity {line.quantity}"
                f" - discount {line.discount.amount_minor} + tax {line.tax.amount_minor}",
            )
    return all_consistent


def _check_totals(
    order: OrderRequest, policy: ValidationPolicy, problems: _Problems, lines_consistent: bool
) -> bool:
    """Order totals against the lines and each other; True if grand_total is comparable."""
    totals = order.totals
    consistent: dict[str, bool] = {}
    for name in _TOTALS_FIELDS:
        money: Money = getattr(totals, name)
        path = f"totals.{name}"
        consistent[name] = _check_money(money, path, order.currency, policy, problems)
        if money.amount_minor < 0:
            problems.add("negative_amount", path, f"{path} is {_fmt(money)}, expected at least 0")

    sums = {
        "subtotal": ("subtotal_mismatch", "unit_price x quantity", _sum_gross(order)),
        "discount_total": (
            "discount_total_mismatch",
            "line discounts",
            sum(line.discount.amount_minor for line in order.lines),
        ),
        "tax_total": (
            "tax_total_mismatch",
            "line taxes",
            sum(line.tax.amount_minor for line in order.lines),
        ),
    }
    if lines_consistent:
        for name, (code, what, expected) in sums.items():
            stated: Money = getattr(totals, name)
            if consistent[name] and stated.amount_minor != expected:
                problems.add(
                    code,
                    f"totals.{name}",
                    f"totals.{name} is {_fmt(stated)}, expected {expected} (the sum of {what})",
                )

    all_consistent = all(consistent.values())
    if all_consistent:
        expected_grand = (
            totals.subtotal.amount_minor
            - totals.discount_total.amount_minor
            + totals.tax_total.amount_minor
            + totals.shipping_total.amount_minor
        )
        if totals.grand_total.amount_minor != expected_grand:
            problems.add(
                "grand_total_mismatch",
                "totals.grand_total",
                f"totals.grand_total is {_fmt(totals.grand_total)}, expected {expected_grand}"
                f" = subtotal {totals.subtotal.amount_minor}"
                f" - discount_total {totals.discount_total.amount_minor}"
                f" + tax_total {totals.tax_total.amount_minor}"
                f" + shipping_total {totals.shipping_total.amount_minor}",
            )
    if not policy.allow_free_orders and totals.grand_total.amount_minor <= 0:
        problems.add(
            "zero_total",
            "totals.grand_total",
            f"totals.grand_total is {_fmt(totals.grand_total)}, expected more than 0"
            " (free orders are not allowed)",
        )
    return consistent["grand_total"]


def _sum_gross(order: OrderRequest) -> int:
    return sum(line.unit_price.amount_minor * line.quantity for line in order.lines)


def _check_payment(
    order: OrderRequest, policy: ValidationPolicy, problems: _Problems, grand_total_ok: bool
) -> None:
    payment = order.payment
    ok = _check_money(payment.amount, "payment.amount", order.currency, policy, problems)
    if payment.amount.amount_minor < 0:
        problems.add(
            "negative_amount",
            "payment.amount",
            f"payment.amount is {_fmt(payment.amount)}, expected at least 0",
        )
    grand_total = order.totals.grand_total
    if ok and grand_total_ok and payment.amount.amount_minor != grand_total.amount_minor:
        problems.add(
            "payment_amount_mismatch",
            "payment.amount",
            f"payment.amount is {_fmt(payment.amount)},"
            f" expected the grand total {_fmt(grand_total)}",
        )
    if payment.method == PaymentMethod.CARD and not payment.card_token:
        problems.add(
            "card_token_required",
            "payment.card_token",
            "payment.card_token is missing, expected the provider's card token for a card payment",
        )


def _check_delivery(order: OrderRequest, policy: ValidationPolicy, problems: _Problems) -> None:
    method = order.delivery_method
    if method == DeliveryMethod.HOME_DELIVERY:
        if order.shipping_address is None:
            problems.add(
                "shipping_address_required",
                "shipping_address",
                "shipping_address is missing, expected one for home_delivery",
            )
        if order.pickup_store_id is not None:
            problems.add(
                "unexpected_pickup_store",
                "pickup_store_id",
                f"pickup_store_id is {order.pickup_store_id!r}, expected none for home_delivery",
            )
    elif method in _PICKUP_METHODS and order.pickup_store_id is None:
        problems.add(
            "pickup_store_required",
            "pickup_store_id",
            f"pickup_store_id is missing, expected one for {method.value}",
        )
    address = order.shipping_address
    allowed = policy.ship_to_countries
    if address is not None and allowed is not None and address.country not in allowed:
        problems.add(
            "unsupported_country",
            "shipping_address.country",
            f"shipping_address.country {address.country} is not served; expected one of"
            f" {sorted(allowed)}",
        )


# --- risk -----------------------------------------------------------------------------------


def assess_risk(order: OrderRequest, policy: RiskPolicy) -> list[RiskFlag]:
    """Every risk rule the order trips, in a stable order; ``[]`` means no hold is needed."""
    flags: list[RiskFlag] = []
    grand_total = order.totals.grand_total
    threshold = policy.review_threshold(grand_total.currency)
    if grand_total.amount_minor > threshold:
        flags.append(
            RiskFlag(
                "amount_over_threshold",
                f"grand total {_fmt(grand_total)} is over the review threshold of {threshold}",
            )
        )

    shipping = order.shipping_address
    billing = order.billing_address
    if shipping is not None and shipping.country != billing.country:
        flags.append(
            RiskFlag(
                "country_mismatch",
                f"billing country {billing.country} differs from shipping country"
                f" {shipping.country}",
            )
        )

    if order.customer.email.strip().casefold() in policy.blocked_emails:
        flags.append(RiskFlag("blocklisted_email", "the customer's email is blocklisted"))

    matches = [
        name
        for name, addr in (("billing", billing), ("shipping", shipping))
        if addr is not None and _key_of(addr) in policy.blocked_addresses
    ]
    if matches:
        flags.append(
            RiskFlag(
                "blocklisted_address",
                f"the {' and '.join(matches)} address matches a blocklisted address",
            )
        )
    return flags


def _key_of(address: Address) -> AddressKey:
    return address_key(address.line1, address.postal_code, address.country)
