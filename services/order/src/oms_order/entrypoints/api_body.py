"""Reading hostile request bodies: strict JSON, values the store can keep, and the fingerprint
that tells an idempotent retry from a different request under the same key.

Pure functions, no HTTP: the views in :mod:`oms_order.entrypoints.api` call them.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

from pydantic import ValidationError

__all__ = [
    "MAX_BODY_BYTES",
    "BodyError",
    "field_errors",
    "is_storable_text",
    "parse_json",
    "request_fingerprint",
    "unstorable_values",
    "valid_idempotency_key",
]

MAX_BODY_BYTES = 1_048_576
"""Largest body accepted (1 MiB), the same limit as an event on the intake topic."""

_INT64 = 2**63
_IDEMPOTENCY_KEY = re.compile(r"^[\x20-\x7e]{1,200}$")


class BodyError(ValueError):
    """The body is not a JSON document; the message says why (never quoting the body)."""


def _no_constants(name: str) -> Any:
    raise BodyError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """Strict JSON in UTF-8: no NaN or Infinity, no other encodings, nothing after the value."""
    if not raw.strip():
        raise BodyError("the body is empty; expected a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_no_constants)
    except BodyError:
        raise
    except json.JSONDecodeError as exc:
        raise BodyError(
            f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise BodyError("the body is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer with too many digits
        raise BodyError(f"the body is not usable JSON: {exc}") from None


def is_storable_text(text: str) -> bool:
    """PostgreSQL text holds neither NUL nor lone surrogates (which JSON escapes can carry)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _path(parts: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in parts)


def unstorable_values(document: Any) -> list[tuple[str, str]]:
    """(field path, problem) for every value no column could keep: text with NUL or lone
    surrogates (in keys too), integers beyond 64 bits, numbers out of range.

    Walks without recursion, so a deeply nested document cannot exhaust the stack.
    """
    problems: list[tuple[str, str]] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if not is_storable_text(key):
                    problems.append(
                        (_safe_path(path), "a field name contains NUL or an invalid character")
                    )
                    continue
                stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, index), item) for index, item in enumerate(value))
        elif isinstance(value, str):
            if not is_storable_text(value):
                problems.append((_safe_path(path), "text contains NUL or an invalid character"))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if not -_INT64 <= value < _INT64:
                problems.append((_safe_path(path), "integer out of the 64-bit range"))
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append((_safe_path(path), "number out of range"))
    return sorted(problems)


def _safe_path(path: tuple[str | int, ...]) -> str:
    return _path(path)[:200]


def field_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """(field path, message) per error, like the intake topic's; input is never quoted."""
    return [
        (_path(tuple(err["loc"])), err["msg"])
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def request_fingerprint(document: Any) -> str:
    """SHA-256 of the document in canonical JSON: key order and whitespace do not matter,
    any change of a value does."""
    canonical = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def valid_idempotency_key(value: str | None) -> bool:
    """1-200 printable ASCII characters (a UUID is the usual choice)."""
    return value is not None and bool(_IDEMPOTENCY_KEY.match(value))
