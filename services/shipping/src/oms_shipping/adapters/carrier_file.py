"""Reading the carrier files: the carriers' status codes, and how parcels leave (locations,
carrier services and rates, policies). YAML or JSON, each validated as a whole, every
problem named by its place and the file's name."""

from __future__ import annotations

from pathlib import Path

from oms_shipping.adapters.config_files import read_config
from oms_shipping.domain.dispatch import DispatchConfig
from oms_shipping.domain.tracking import CarrierCodes

__all__ = ["WHAT", "read_carrier_codes", "read_dispatch"]

WHAT = "carrier status codes"


def read_carrier_codes(path: Path) -> CarrierCodes:
    return read_config(CarrierCodes, path, WHAT)


def read_dispatch(path: Path) -> DispatchConfig:
    return read_config(DispatchConfig, path, "dispatch (locations, carrier services, policies)")
