"""Rate shopping at packing: each parcel of work going to a carrier gets the service its
delivery method's policy chooses, with every alternative and why it lost."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from oms_shipping.domain.boxes import BoxCatalogue
from oms_shipping.domain.carrier_choice import CarrierChoice, choose
from oms_shipping.domain.dispatch import DispatchConfig, PolicyConfig, PostalAddress
from oms_shipping.domain.fulfilment import ActionRefused, FulfilmentOrder, Parcel
from oms_shipping.domain.rating import Destination, Dimensions, quotes

__all__ = ["Shopped", "parcel_dimensions", "shop"]


def parcel_dimensions(parcel: Parcel, boxes: BoxCatalogue) -> Dimensions | None:
    """A parcel's outer dimensions, for dimensional weight: its box's outer size (none for a
    box the catalogue does not know: then the actual weight is billed)."""
    box = boxes.find(parcel.box)
    if box is None:
        return None
    return Dimensions(box.outer.length_mm, box.outer.width_mm, box.outer.height_mm)


@dataclass(frozen=True)
class Shopped:
    """Packed work's carrier choices, one per parcel in packing order."""

    policy: PolicyConfig
    ship_from: PostalAddress
    ship_to: PostalAddress
    choices: tuple[tuple[Parcel, CarrierChoice], ...]

    @property
    def promise_at_risk(self) -> bool:
        return any(choice.meets_promise is False for _, choice in self.choices)


def _ship_to(config: DispatchConfig, fo: FulfilmentOrder) -> PostalAddress:
    """Pickup work sourced elsewhere travels to the pickup store; the rest to the customer."""
    if fo.pickup_store_id:
        store = config.locations.get(fo.pickup_store_id)
        if store is None:
            raise ActionRefused("no_destination", f"{fo.pickup_store_id} has no address configured")
        return store.address
    if fo.ship_to is None:
        raise ActionRefused("no_destination", "the work has no shipping address")
    return fo.ship_to


def shop(
    config: DispatchConfig, fo: FulfilmentOrder, packed_at: datetime, boxes: BoxCatalogue
) -> Shopped:
    """Choose a carrier service for every parcel of ``fo`` packed at ``packed_at`` (billed
    by the larger of its weight and its box's dimensional weight); refused when the
    location, the destination or every parcel's service is unknown."""
    ship_from = config.locations.get(fo.location_id)
    if ship_from is None:
        raise ActionRefused("no_ship_from_address", f"{fo.location_id} has no address configured")
    policy = config.policies.get(fo.delivery_method)
    if policy is None:
        raise ActionRefused("no_policy", f"no rate-shopping policy for {fo.delivery_method}")
    ship_to = _ship_to(config, fo)
    timezone = ZoneInfo(ship_from.timezone)
    promised = fo.promised_by.astimezone(timezone).date() if fo.promised_by else None
    to = Destination(ship_to.country, ship_to.postal_code)
    choices = []
    for parcel in fo.parcels:
        offers = quotes(
            config, parcel.weight_grams, parcel_dimensions(parcel, boxes), to, packed_at, timezone
        )
        choice = choose(offers, policy, promised)
        if choice is None:
            reasons = sorted({q.unavailable or "" for q in offers})
            raise ActionRefused(
                "no_carrier_service",
                f"parcel {parcel.parcel_id}: no service takes it ({', '.join(reasons)})",
            )
        choices.append((parcel, choice))
    return Shopped(policy, ship_from.address, ship_to, tuple(choices))
