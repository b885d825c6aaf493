"""Reading a catalogue document: the schema, then the ids that appear twice, every problem
named by its place; nothing is written unless the whole document is valid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oms_inventory.domain.catalogue import Catalogue, catalogue_problems
from oms_runtime import DocumentError, read_document, validated

__all__ = ["WHAT", "parse_catalogue", "read_catalogue"]

WHAT = "catalogue"


def parse_catalogue(document: Any) -> Catalogue:
    catalogue = validated(Catalogue, document, WHAT)
    problems = catalogue_problems(catalogue)
    if problems:
        raise DocumentError(WHAT, problems)
    return catalogue


def read_catalogue(path: Path) -> Catalogue:
    return parse_catalogue(read_document(path, WHAT))
