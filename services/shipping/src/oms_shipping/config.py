"""The shipping service's settings, read from the environment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from oms_events.values import DeliveryMethod
from oms_runtime import DocumentError, RuntimeSettings
from oms_shipping.adapters.carrier_file import read_carrier_codes, read_dispatch
from oms_shipping.adapters.config_files import read_boxes, read_pick_bins
from oms_shipping.domain.boxes import BoxCatalogue
from oms_shipping.domain.dispatch import DispatchConfig
from oms_shipping.domain.pick_path import PickBins
from oms_shipping.domain.tracking import CarrierCodes
from oms_shipping.entrypoints.api_auth import parse_staff_keys
from oms_shipping.service_layer.uncollected import UncollectedPolicy

__all__ = ["ShippingSettings"]


class ShippingSettings(RuntimeSettings):
    http_port: int = 8004
    # Each carrier's tracking status codes and what they mean (YAML or JSON); see
    # docs/shipping-service.md.
    carrier_codes: Path = Path("deploy/demo/carriers.yaml")
    # How parcels leave: ship-from addresses, carrier services with their rates and transit
    # times, a rate-shopping policy per delivery method (YAML or JSON); see
    # docs/shipping-service.md.
    dispatch: Path = Path("deploy/demo/dispatch.yaml")
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
    # The boxes staff pack into (YAML or JSON); see docs/shipping-service.md.
    boxes: Path = Path("deploy/demo/boxes.yaml")
    # Each location's aisles, bins and the SKUs' pick bins (YAML or JSON).
    pick_bins: Path = Path("deploy/demo/bins.yaml")
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

    @field_validator("carrier_codes", "dispatch", "boxes", "pick_bins")
    @classmethod
    def _file_loads(cls, value: Path, info: ValidationInfo) -> Path:
        try:
            _READERS[info.field_name](value)
        except DocumentError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _dispatch_fits(self) -> ShippingSettings:
        """Every carrier that takes parcels has its status codes (else its scans could never
        be read) and every delivery method a policy."""
        dispatch = self.dispatch_config
        uncoded = sorted(set(dispatch.carriers) - set(self.carriers.carriers))
        if uncoded:
            raise ValueError(
                f"{self.dispatch}: carriers {', '.join(uncoded)} have no status codes in"
                f" {self.carrier_codes}"
            )
        methods = {m.value for m in DeliveryMethod}
        missing = sorted(methods - set(dispatch.policies))
        unknown = sorted(set(dispatch.policies) - methods)
        if missing or unknown:
            raise ValueError(
                f"{self.dispatch}: policies: one per delivery method"
                f" ({', '.join(sorted(methods))}); missing {missing}, unknown {unknown}"
            )
        return self

    @cached_property
    def carriers(self) -> CarrierCodes:
        return read_carrier_codes(self.carrier_codes)

    @cached_property
    def dispatch_config(self) -> DispatchConfig:
        return read_dispatch(self.dispatch)

    @cached_property
    def box_catalogue(self) -> BoxCatalogue:
        return read_boxes(self.boxes)

    @cached_property
    def bins(self) -> PickBins:
        return read_pick_bins(self.pick_bins)


_READERS: dict[str | None, Callable[[Path], object]] = {
    "carrier_codes": read_carrier_codes,
    "dispatch": read_dispatch,
    "boxes": read_boxes,
    "pick_bins": read_pick_bins,
}
