"""The order service's settings, read from the environment."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, field_validator

from oms_order.domain.validation import load_policies
from oms_runtime import RuntimeSettings

__all__ = ["OrderSettings"]


class OrderSettings(RuntimeSettings):
    http_port: int = 8001
    payment_provider: Literal["sandbox"] = "sandbox"
    payment_attempts: int = Field(default=4, ge=1, le=10)
    payment_backoff_s: float = Field(default=0.2, gt=0, le=30)
    # JSON: {"validation": {...}, "risk": {...}}; see docs/order-service.md.
    order_policies: str = "{}"

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
