"""Reading the carriers' status codes: a YAML or JSON file validated as a whole, every problem
named by its place and the file's name."""

from __future__ import annotations

from pathlib import Path

from oms_shipping.adapters.config_files import read_config
from oms_shipping.domain.tracking import CarrierCodes

__all__ = ["WHAT", "read_carrier_codes"]

WHAT = "carrier status codes"


def read_carrier_codes(path: Path) -> CarrierCodes:
    return read_config(CarrierCodes, path, WHAT)
