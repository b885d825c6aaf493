"""Reading the carrier files: the carriers' status codes, and how parcels leave (locations,
carrier services and rates, policies). YAML or JSON, each validated as a whole, every
problem named by its place and the file's name."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from oms_runtime import DocumentError, read_document, validated
from oms_shipping.domain.dispatch import DispatchConfig
from oms_shipping.domain.tracking import CarrierCodes

__all__ = ["WHAT", "read_carrier_codes", "read_dispatch"]

WHAT = "carrier status codes"
_M = TypeVar("_M", bound=BaseModel)


def _read(model: type[_M], path: Path, what: str) -> _M:
    try:
        return validated(model, read_document(path, what), what)
    except DocumentError as exc:
        named = [e if e.startswith(str(path)) else f"{path}: {e}" for e in exc.errors]
        raise DocumentError(what, named) from None


def read_carrier_codes(path: Path) -> CarrierCodes:
    return _read(CarrierCodes, path, WHAT)


def read_dispatch(path: Path) -> DispatchConfig:
    return _read(DispatchConfig, path, "dispatch (locations, carrier services, policies)")
