"""Configuration documents operators write (catalogues, sourcing profiles): read from JSON or
YAML files and validated as a whole, with every problem named by its place."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import orjson
import yaml
from pydantic import BaseModel, ValidationError

__all__ = ["DocumentError", "read_document", "validated"]

M = TypeVar("M", bound=BaseModel)
_MAX_FILE_BYTES = 64 * 1024 * 1024


class DocumentError(ValueError):
    """The document is not what was expected; ``errors`` lists each problem with its place."""

    def __init__(self, what: str, errors: list[str]) -> None:
        super().__init__(f"invalid {what}:\n" + "\n".join(f"  {e}" for e in errors))
        self.what = what
        self.errors = errors


_SHOWN_INPUT_CHARS = 80


def validated(model: type[M], document: Any, what: str) -> M:
    """``document`` as ``model``; DocumentError lists every error as ``place: message``, with
    the value found when it is a single value (a list or a mapping is named by its place)."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise DocumentError(
            what,
            [
                f"{'.'.join(str(p) for p in error['loc']) or '(document)'}: {error['msg']}"
                + _found(error["input"])
                for error in exc.errors(include_url=False)
            ],
        ) from None


def _found(value: Any) -> str:
    if value is None or isinstance(value, dict | list | tuple | set):
        return ""
    shown = repr(value)
    if len(shown) > _SHOWN_INPUT_CHARS:
        shown = shown[: _SHOWN_INPUT_CHARS - 3] + "..."
    return f" (got {shown})"


def read_document(path: Path, what: str) -> Any:
    """The parsed content of a ``.yaml``/``.yml`` or JSON file; DocumentError names the file.

    JSON is read by orjson: strict (no NaN or Infinity, nesting at most 1024 deep), and an
    integer beyond 64 bits arrives as a float, which the documents' strict ints refuse.
    """
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise DocumentError(what, [f"{path}: larger than {_MAX_FILE_BYTES} bytes"])
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DocumentError(what, [f"{path}: cannot be read: {exc}"]) from None
    is_yaml = path.suffix.lower() in (".yaml", ".yml")
    try:
        return yaml.safe_load(text) if is_yaml else orjson.loads(text)
    except (yaml.YAMLError, orjson.JSONDecodeError, RecursionError) as exc:
        kind = "YAML" if is_yaml else "JSON"
        raise DocumentError(what, [f"{path}: not valid {kind}: {exc}"]) from None
