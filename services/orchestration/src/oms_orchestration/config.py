"""The orchestration service's settings, read from the environment."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import field_validator

from oms_orchestration.domain.config import SourcingConfig
from oms_orchestration.files import read_config
from oms_runtime import RuntimeSettings
from oms_runtime.documents import DocumentError

__all__ = ["OrchestrationSettings"]


class OrchestrationSettings(RuntimeSettings):
    http_port: int = 8003
    # The network and the sourcing profiles (YAML or JSON); see docs/orchestration-service.md.
    sourcing_config: Path = Path("deploy/demo/sourcing.yaml")

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
