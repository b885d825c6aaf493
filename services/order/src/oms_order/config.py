"""The order service's settings, read from the environment."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, field_validator

from oms_order.domain.validation import load_policies
from oms_order.entrypoints.api_auth import parse_api_keys
from oms_runtime import RuntimeSettings

__all__ = ["OrderSettings"]


class OrderSettings(RuntimeSettings):
    http_port: int = 8001
    payment_provider: Literal["sandbox"] = "sandbox"
    payment_attempts: int = Field(default=4, ge=1, le=10)
    payment_backoff_s: float = Field(default=0.2, gt=0, le=30)
    # JSON: {"validation": {...}, "risk": {...}}; see docs/order-service.md.
    order_policies: str = "{}"
    # JSON: {"<sha256 hex of a key>": {"channel": "web-de"}
    #        | {"role": "customer_service", "actor_id": "cs-desk-1"}}; digests only, never keys.
    order_api_keys: str = "{}"

    @field_validator("order_policies")
    @classmethod
    def _policies_parse(cls, value: str) -> str:
        try:
            document: Any = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise ValueError("must be a JSON object")
        load_policies(document)
        return value

    @field_validator("order_api_keys")
    @classmethod
    def _api_keys_parse(cls, value: str) -> str:
        parse_api_keys(value)
        return value
