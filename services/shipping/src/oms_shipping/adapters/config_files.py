"""Reading the shipping service's configuration documents (YAML or JSON), each validated as a
whole, every problem named by its place and the file's name."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from oms_runtime import DocumentError, read_document, validated
from oms_shipping.domain.boxes import BoxCatalogue
from oms_shipping.domain.catalogue import ItemCatalogue
from oms_shipping.domain.pick_path import PickBins

__all__ = ["read_boxes", "read_config", "read_item_catalogue", "read_pick_bins"]

M = TypeVar("M", bound=BaseModel)


def read_config(model: type[M], path: Path, what: str) -> M:
    try:
        return validated(model, read_document(path, what), what)
    except DocumentError as exc:
        named = [e if e.startswith(str(path)) else f"{path}: {e}" for e in exc.errors]
        raise DocumentError(what, named) from None


def read_boxes(path: Path) -> BoxCatalogue:
    return read_config(BoxCatalogue, path, "boxes")


def read_pick_bins(path: Path) -> PickBins:
    return read_config(PickBins, path, "pick bins")


def read_item_catalogue(path: Path) -> ItemCatalogue:
    return read_config(ItemCatalogue, path, "catalogue")
