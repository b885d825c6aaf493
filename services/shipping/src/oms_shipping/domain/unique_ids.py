"""Ids a configuration document lists once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

__all__ = ["repeated", "require_unique"]


def repeated(ids: Iterable[str]) -> list[str]:
    """The ids listed more than once, sorted."""
    return sorted(i for i, n in Counter(ids).items() if n > 1)


def require_unique(what: str, ids: Iterable[str]) -> None:
    """ValueError naming ``what`` (``boxes: id``) and the ids listed more than once."""
    twice = repeated(ids)
    if twice:
        raise ValueError(f"{what} {', '.join(twice)} listed more than once")
