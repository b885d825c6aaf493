"""Reading the carriers' status codes: a YAML or JSON file validated as a whole, every problem
named by its place and the file's name."""

from __future__ import annotations

from pathlib import Path

from oms_runtime import DocumentError, read_document, validated
from oms_shipping.domain.tracking import CarrierCodes

__all__ = ["WHAT", "read_carrier_codes"]

WHAT = "carrier status codes"


def read_carrier_codes(path: Path) -> CarrierCodes:
    try:
        return validated(CarrierCodes, read_document(path, WHAT), WHAT)
    except DocumentError as exc:
        named = [e if e.startswith(str(path)) else f"{path}: {e}" for e in exc.errors]
        raise DocumentError(WHAT, named) from None
