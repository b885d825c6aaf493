"""Who calls the staff API: per-location API keys, configured only as SHA-256 digests.

``OMS_SHIPPING_API_KEYS`` maps the hex SHA-256 digest of each key to a location's devices
(``{"location": "store-berlin"}``: they see and work that location's fulfilment orders only)
or to an operator (``{"role": "operator", "actor_id": "ops-1"}``: every location). Keys
travel as ``Authorization: Bearer <key>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Security
from pydantic import BaseModel, ConfigDict, TypeAdapter

from oms_runtime import KeyOwnerId, OperatorKey, api_key_caller, parse_key_digests

__all__ = ["Staff", "parse_staff_keys", "staff_security"]


class _LocationKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    location: KeyOwnerId


_SHAPES: TypeAdapter[_LocationKey | OperatorKey] = TypeAdapter(_LocationKey | OperatorKey)


@dataclass(frozen=True)
class Staff:
    """A location's devices (``location_id`` set) or an operator (every location)."""

    actor_id: str
    location_id: str | None = None

    def may_work_at(self, location_id: str) -> bool:
        return self.location_id is None or self.location_id == location_id


def _staff(parsed: _LocationKey | OperatorKey) -> Staff:
    if isinstance(parsed, _LocationKey):
        return Staff(actor_id=f"location:{parsed.location}", location_id=parsed.location)
    return Staff(actor_id=parsed.actor_id)


def parse_staff_keys(text: str) -> dict[str, Staff]:
    """Read the ``OMS_SHIPPING_API_KEYS`` document; ValueError says what is wrong and where."""
    return parse_key_digests(
        text,
        _SHAPES,
        _staff,
        '{"location": "<location id>"} or {"role": "operator", "actor_id": "<operator id>"}',
    )


def staff_security(keys: Mapping[str, Staff]) -> Any:
    """The dependency naming the caller of a staff API route (``401`` without a known key)."""
    return Security(api_key_caller(keys, "oms-shipping", lambda s: s.actor_id))
