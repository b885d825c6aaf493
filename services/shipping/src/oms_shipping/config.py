"""The shipping service's settings, read from the environment."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from oms_runtime import DocumentError, RuntimeSettings
from oms_shipping.adapters.carrier_file import read_carrier_codes
from oms_shipping.domain.tracking import CarrierCodes
from oms_shipping.entrypoints.api_auth import parse_staff_keys
from oms_shipping.service_layer.uncollected import UncollectedPolicy

__all__ = ["ShippingSettings"]


class ShippingSettings(RuntimeSettings):
    http_port: int = 8004
    # Each carrier's tracking status codes and what they mean (YAML or JSON); see
    # docs/shipping-service.md.
    carrier_codes: Path = Path("deploy/demo/carriers.yaml")
    # Digests of the staff API's keys: a location's devices or operators (see
    # oms_shipping.entrypoints.api_auth).
    shipping_api_keys: str = "{}"
    # Each carrier's webhook secret (JSON object carrier -> secret, at least 16 characters);
    # a carrier without one cannot call the tracking webhook.
    carrier_webhook_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    # How far a signed request's timestamp may be from now.
    carrier_webhook_tolerance: timedelta = timedelta(minutes=5)
    # How long click & collect work waits at the counter (ISO 8601 or seconds).
    pickup_hold: timedelta = timedelta(days=7)
    # What happens to a pickup not collected by then: "cancel" (its lines canceled and
    # refunded, its units back on the store's shelf) or "manual" (it waits; staff decide).
    uncollected_policy: UncollectedPolicy = UncollectedPolicy.CANCEL
    # How often pickups past their hold are looked for, and how many per transaction.
    pickup_sweep_s: float = Field(default=60.0, gt=0, le=3600)
    pickup_sweep_batch: int = Field(default=200, ge=1, le=10_000)

    @field_validator("shipping_api_keys")
    @classmethod
    def _api_keys_parse(cls, value: str) -> str:
        parse_staff_keys(value)
        return value

    @field_validator("carrier_webhook_secrets")
    @classmethod
    def _secrets_long_enough(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        short = sorted(c for c, secret in value.items() if len(secret.get_secret_value()) < 16)
        if short:
            raise ValueError(f"the secrets of {', '.join(short)} are shorter than 16 characters")
        return value

    @field_validator("pickup_hold")
    @classmethod
    def _hold_positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be positive")
        return value

    @field_validator("carrier_codes")
    @classmethod
    def _codes_load(cls, value: Path) -> Path:
        try:
            read_carrier_codes(value)
        except DocumentError as exc:
            raise ValueError(str(exc)) from None
        return value

    @cached_property
    def carriers(self) -> CarrierCodes:
        return read_carrier_codes(self.carrier_codes)
