"""Order identity: one order per (channel, external order id), whichever path it came by."""

from __future__ import annotations

import uuid

__all__ = ["order_id_for"]

_NAMESPACE = uuid.UUID("6f1c1c1e-8d4f-4b8e-9a7c-2f0d3c9b5e11")


def order_id_for(channel: str, external_order_id: str) -> str:
    """A stable id, so a copy of the same order maps to the same id on every path."""
    name = f"{channel}\x1f{external_order_id}"
    return f"ord_{uuid.uuid5(_NAMESPACE, name).hex}"
