"""Exit codes, time arguments and how answers are printed (a table, or JSON with --json)."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

import orjson

__all__ = ["Exit", "count_cell", "emit_json", "emit_line", "format_age", "parse_when"]


class Exit(IntEnum):
    """The command's exit status, for scripts (docs/operations.md lists them)."""

    OK = 0
    ERROR = 1
    """The broker, a database or a service could not be reached, or a step failed."""
    USAGE = 2
    """Bad arguments or configuration (an unknown service, a missing database URL)."""
    REFUSED = 3
    """Refused: the consumer group has active members (by the command or by Kafka)."""
    NOT_FOUND = 4
    """What was asked for does not exist (a dead letter, an order's events)."""
    DEGRADED = 5
    """``oms status``: a service is not healthy or cannot be reached."""
    DRIFT = 6
    """``oms topics apply``: a topic differs from the registry and was left so."""
    INVALID = 7
    """``oms publish``: the file holds invalid events; nothing was sent."""
    MISMATCH = 8
    """``oms rebuild``: the rebuilt state differs from the live state (a swap is refused)."""
    NOT_REBUILDABLE = 9
    """``oms rebuild``: the service's state cannot be reproduced exactly from its topics."""


_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """``2h``, ``30m``, ``7d`` (that long ago) or an ISO 8601 time (UTC when it names no zone)."""
    now = now or datetime.now(UTC)
    relative = _RELATIVE.match(text.strip())
    if relative:
        amount, unit = relative.groups()
        return now - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (30m, 2h, 7d) nor an ISO 8601 time"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def format_age(seconds: float) -> str:
    seconds = max(seconds, 0)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def emit_json(document: Any) -> None:
    sys.stdout.write(
        orjson.dumps(document, option=orjson.OPT_INDENT_2, default=str).decode() + "\n"
    )
    sys.stdout.flush()


def emit_line(document: Any) -> None:
    """One JSON document on one line (JSON Lines), for commands that print a stream."""
    sys.stdout.write(orjson.dumps(document, default=str).decode() + "\n")
    sys.stdout.flush()


def count_cell(value: int | None, error: str | None) -> str:
    """A table cell for a count read from a service, why it could not be read, or ``-`` for
    a count the service does not keep."""
    if value is not None:
        return str(value)
    return f"[yellow]{error}[/yellow]" if error else "-"
