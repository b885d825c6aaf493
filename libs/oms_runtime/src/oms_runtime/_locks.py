"""Keys of PostgreSQL advisory locks, one way for every service."""

from __future__ import annotations

import hashlib

__all__ = ["advisory_key"]


def advisory_key(name: bytes | str) -> int:
    """The bigint lock key of ``name``: the first eight bytes of its SHA-256, so keys of
    different names (prefixed by what they lock) do not collide in practice."""
    data = name.encode() if isinstance(name, str) else name
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big", signed=True)
