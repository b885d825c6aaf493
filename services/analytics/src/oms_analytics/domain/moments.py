"""Event times as the tables store them and as the reports print them."""

from __future__ import annotations

from datetime import datetime

__all__ = ["from_stored", "stored", "utc_iso"]


def stored(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def from_stored(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def utc_iso(moment: datetime) -> str:
    """``moment`` (UTC) as the reports print it: ``2026-11-24T09:00:00Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
