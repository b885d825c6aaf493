"""Reading the sourcing configuration: the schema, then the cross-checks, every problem
named by its place (and the file's name)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oms_orchestration.domain.config import SourcingConfig, config_problems
from oms_runtime import DocumentError, read_document, validated

__all__ = ["WHAT", "parse_config", "read_config"]

WHAT = "sourcing configuration"


def parse_config(document: Any) -> SourcingConfig:
    config = validated(SourcingConfig, document, WHAT)
    problems = config_problems(config)
    if problems:
        raise DocumentError(WHAT, problems)
    return config


def read_config(path: Path) -> SourcingConfig:
    try:
        return parse_config(read_document(path, WHAT))
    except DocumentError as exc:
        named = [e if e.startswith(str(path)) else f"{path}: {e}" for e in exc.errors]
        raise DocumentError(WHAT, named) from None
