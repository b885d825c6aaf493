"""The inventory service's settings, read from the environment."""

from __future__ import annotations

from pydantic import Field, field_validator

from oms_runtime import RuntimeSettings, parse_caller_keys

__all__ = ["InventorySettings"]


class InventorySettings(RuntimeSettings):
    http_port: int = 8002
    # Held units are given back if not committed (shipped) within this time, unless the
    # request says otherwise.
    reservation_hold_s: int = Field(default=30 * 60, ge=1, le=90 * 24 * 60 * 60)
    # Expired holds are swept this often: seconds late against holds of minutes, and an
    # idle worker asks the database five times less often than every second.
    reservation_sweep_s: float = Field(default=5.0, gt=0, le=300)
    reservation_sweep_batch: int = Field(default=500, ge=1, le=10_000)
    # Once a UTC day has ended, its StockDayClosed events are published at the first sweep
    # after midnight: at most this late (taken_at). A worker that has closed the day does
    # not look at the database again before the next one ends.
    stock_day_close_sweep_s: float = Field(default=60.0, gt=0, le=3600)
    # Stock rows closed per transaction (and events per commit).
    stock_day_close_batch: int = Field(default=1000, ge=1, le=10_000)
    # JSON: {"<sha256 hex of a key>": {"channel": "web-de"}
    #        | {"role": "operator", "actor_id": "ops-1"}}; digests only, never keys.
    inventory_api_keys: str = "{}"

    @field_validator("inventory_api_keys")
    @classmethod
    def _api_keys_parse(cls, value: str) -> str:
        parse_caller_keys(value)
        return value
