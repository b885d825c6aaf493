"""The order service's settings, read from the environment."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator

from oms_events import StrictModel
from oms_events.values import CountryCode, CurrencyCode
from oms_order.domain.status import OrderStatus
from oms_order.domain.stuck import StuckPolicy
from oms_order.domain.validation import RiskPolicy, ValidationPolicy
from oms_order.entrypoints.api_auth import parse_api_keys
from oms_runtime import RuntimeSettings

__all__ = ["BlockedAddress", "OrderPolicies", "OrderSettings", "RiskSettings", "ValidationSettings"]

_Minor = Annotated[int, Field(ge=0)]
_MINUTE = 60
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_STUCK_AFTER_S: dict[OrderStatus, int] = {
    OrderStatus.PENDING: 15 * _MINUTE,
    OrderStatus.CONFIRMED: 30 * _MINUTE,
    OrderStatus.ALLOCATED: 2 * _HOUR,
    OrderStatus.BACKORDERED: 7 * _DAY,
    OrderStatus.RELEASED: 2 * _DAY,
}


class _Policies(StrictModel):
    # Operators write JSON: no "10" for 10, no true for 1 (JSON arrays arrive as lists).
    model_config = ConfigDict(strict=True)


class ValidationSettings(_Policies):
    """Limits an order must keep to (``validation`` in ``OMS_ORDER_POLICIES``)."""

    max_lines: int = Field(default=500, ge=1)
    max_quantity_per_line: int = Field(default=10_000, ge=1)
    max_amount_minor: int = Field(default=10**11, ge=1)
    currencies: list[CurrencyCode] | None = None
    """Accepted order currencies; null accepts any ISO currency."""
    ship_to_countries: list[CountryCode] | None = None
    """Countries delivered to; null accepts any ISO country."""
    clock_skew_seconds: float = Field(default=300, ge=0, le=86_400, allow_inf_nan=False)
    """How far in the future ``placed_at`` may be."""
    allow_free_orders: bool = False

    def policy(self) -> ValidationPolicy:
        return ValidationPolicy(
            max_lines=self.max_lines,
            max_quantity_per_line=self.max_quantity_per_line,
            max_amount_minor=self.max_amount_minor,
            currencies=None if self.currencies is None else frozenset(self.currencies),
            ship_to_countries=(
                None if self.ship_to_countries is None else frozenset(self.ship_to_countries)
            ),
            clock_skew=timedelta(seconds=self.clock_skew_seconds),
            allow_free_orders=self.allow_free_orders,
        )


class BlockedAddress(_Policies):
    """Matched after normalising case, punctuation and spacing."""

    line1: str
    postal_code: str
    country: str


class RiskSettings(_Policies):
    """When an accepted order is held for review (``risk`` in ``OMS_ORDER_POLICIES``)."""

    review_amount_minor: _Minor = 100_000
    review_amount_minor_by_currency: dict[CurrencyCode, _Minor] = Field(default_factory=dict)
    blocked_emails: list[str] = Field(default_factory=list)
    blocked_addresses: list[BlockedAddress] = Field(default_factory=list)

    def policy(self) -> RiskPolicy:
        return RiskPolicy(
            review_amount_minor=self.review_amount_minor,
            review_amount_minor_by_currency=self.review_amount_minor_by_currency,
            blocked_emails=frozenset(self.blocked_emails),
            blocked_addresses=frozenset(
                (a.line1, a.postal_code, a.country) for a in self.blocked_addresses
            ),
        )


class OrderPolicies(_Policies):
    """``OMS_ORDER_POLICIES``: every key optional, an unknown key refused (a typo would
    otherwise fall back to a default unnoticed)."""

    validation: ValidationSettings = ValidationSettings()
    risk: RiskSettings = RiskSettings()


class OrderSettings(RuntimeSettings):
    http_port: int = 8001
    payment_provider: Literal["sandbox"] = "sandbox"
    payment_attempts: int = Field(default=4, ge=1, le=10)
    payment_backoff_s: float = Field(default=0.2, gt=0, le=30)
    # JSON, decoded by pydantic-settings: {"validation": {...}, "risk": {...}};
    # see docs/order-service.md.
    order_policies: OrderPolicies = OrderPolicies()
    # JSON: {"<sha256 hex of a key>": {"channel": "web-de"}
    #        | {"role": "customer_service", "actor_id": "cs-desk-1"}
    #        | {"role": "staff", "actor_id": "pos-1", "location_id": "store-berlin"}};
    # digests only, never keys.
    order_api_keys: str = "{}"
    # Days after an order's last delivery during which its units may be returned.
    return_window_days: int = Field(default=30, ge=1, le=3650)
    # JSON: status -> seconds an order may sit in it before OrderStuck is published; replaces
    # the defaults (a status not listed is never reported; {} reports none).
    order_stuck_after_s: dict[OrderStatus, Annotated[int, Field(strict=True, ge=1)]] = Field(
        default_factory=lambda: dict(_STUCK_AFTER_S)
    )
    # How often the stuck-order sweep runs.
    stuck_sweep_s: float = Field(default=60.0, gt=0, le=3600)

    @field_validator("order_stuck_after_s")
    @classmethod
    def _stuck_statuses(cls, value: dict[OrderStatus, int]) -> dict[OrderStatus, int]:
        StuckPolicy({s: timedelta(seconds=t) for s, t in value.items()})
        return value

    def stuck_policy(self) -> StuckPolicy:
        return StuckPolicy({s: timedelta(seconds=t) for s, t in self.order_stuck_after_s.items()})

    @field_validator("order_api_keys")
    @classmethod
    def _api_keys_parse(cls, value: str) -> str:
        parse_api_keys(value)
        return value
