"""The orchestration service's settings, read from the environment."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator

from oms_orchestration.adapters.config_file import read_config
from oms_orchestration.domain.config import SourcingConfig
from oms_runtime import DocumentError, RuntimeSettings, parse_caller_keys

__all__ = ["OrchestrationSettings"]


class OrchestrationSettings(RuntimeSettings):
    http_port: int = 8003
    # The network and the sourcing profiles (YAML or JSON); see docs/orchestration-service.md.
    sourcing_config: Path = Path("deploy/demo/sourcing.yaml")
    # How often fulfilment orders past their accept_by are taken from their location.
    deadline_sweep_s: float = Field(default=5.0, gt=0, le=3600)
    # JSON: {"<sha256 hex of a key>": {"channel": "web-de"}
    #        | {"role": "operator", "actor_id": "ops-1"}}; digests only, never keys.
    orchestration_api_keys: str = "{}"

    @field_validator("orchestration_api_keys")
    @classmethod
    def _api_keys_parse(cls, value: str) -> str:
        parse_caller_keys(value)
        return value

    @field_validator("sourcing_config")
    @classmethod
    def _config_loads(cls, value: Path) -> Path:
        try:
            read_config(value)
        except DocumentError as exc:
            raise ValueError(str(exc)) from None
        return value

    @cached_property
    def sourcing(self) -> SourcingConfig:
        return read_config(self.sourcing_config)
