"""Per-caller API keys for the services' HTTP APIs, configured only as SHA-256 digests.

A service's setting maps the hex SHA-256 digest of each key to its principal (what the key
may do is the service's business). Keys travel as ``Authorization: Bearer <key>`` (the APIs'
security dependency, ``api_key_caller``, reads them); only their digests are ever stored or
compared.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, StringConstraints, TypeAdapter, ValidationError

__all__ = [
    "MAX_KEY_LENGTH",
    "Caller",
    "ChannelKey",
    "OperatorKey",
    "authenticate",
    "key_digest",
    "parse_caller_keys",
    "parse_key_digests",
]

MAX_KEY_LENGTH = 512
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
P = TypeVar("P")
S = TypeVar("S")


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def parse_key_digests(
    text: str, shapes: TypeAdapter[S], principal: Callable[[S], P], expected: str
) -> dict[str, P]:
    """Read a JSON object of digests to principals; ValueError says what is wrong and where.

    Each entry's value must validate as one of ``shapes`` (pydantic models of the accepted
    forms), which ``principal`` turns into the service's principal; ``expected`` describes
    the shapes for the error message.
    """
    try:
        document: Any = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError("must be a JSON object mapping SHA-256 hex digests to principals")
    keys: dict[str, P] = {}
    for digest, spec in document.items():
        normalised = digest.strip().lower()
        if not _DIGEST.match(normalised):
            raise ValueError(
                f"{digest[:80]!r} is not a SHA-256 hex digest (64 hex digits); configure the"
                " digest of each key, never the key itself"
            )
        if normalised in keys:
            raise ValueError(f"digest {normalised[:12]}... is configured twice")
        try:
            shape = shapes.validate_python(spec)
        except ValidationError:
            raise ValueError(
                f"principal of digest {normalised[:12]}... must be {expected}"
            ) from None
        keys[normalised] = principal(shape)
    return keys


def authenticate(key: str | None, keys: Mapping[str, P]) -> P | None:
    """The principal whose key is presented, or None.

    Every configured digest is compared in constant time, so neither a match nor its
    position shows in how long the answer takes.
    """
    if not key or len(key) > MAX_KEY_LENGTH:
        return None
    presented = key_digest(key).encode()
    found: P | None = None
    for digest, principal in keys.items():
        if hmac.compare_digest(presented, digest.encode()):
            found = principal
    return found


# Like the contract's Identifier, without control characters (they could never be matched).
KeyOwnerId = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]


class ChannelKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    channel: KeyOwnerId


class OperatorKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Literal["operator"]
    actor_id: KeyOwnerId


_CALLER_SHAPES: TypeAdapter[ChannelKey | OperatorKey] = TypeAdapter(ChannelKey | OperatorKey)


@dataclass(frozen=True)
class Caller:
    """A sales channel (``channel`` set: sees what serves it) or an operator (sees all)."""

    actor_id: str
    channel: str | None = None


def _caller(parsed: ChannelKey | OperatorKey) -> Caller:
    if isinstance(parsed, ChannelKey):
        return Caller(actor_id=parsed.channel, channel=parsed.channel)
    return Caller(actor_id=parsed.actor_id)


def parse_caller_keys(text: str) -> dict[str, Caller]:
    """Key digests of sales channels and operators (``OMS_INVENTORY_API_KEYS``...)."""
    return parse_key_digests(
        text,
        _CALLER_SHAPES,
        _caller,
        '{"channel": "<channel id>"} or {"role": "operator", "actor_id": "<operator id>"}',
    )
