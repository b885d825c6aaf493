"""Who calls the HTTP API: per-caller API keys, configured only as SHA-256 digests.

``OMS_ORDER_API_KEYS`` maps the hex SHA-256 digest of each key to its principal, a sales
channel (``{"channel": "web-de"}``) or a customer-service desk
(``{"role": "customer_service", "actor_id": "cs-desk-1"}``). Keys travel as
``Authorization: Bearer <key>``; only their digests are ever stored or compared.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, TypeAdapter, ValidationError

from oms_events.values import Actor, ActorRole

__all__ = [
    "MAX_KEY_LENGTH",
    "ApiKeys",
    "Principal",
    "authenticate",
    "bearer_key",
    "key_digest",
    "parse_api_keys",
]

MAX_KEY_LENGTH = 512
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
# Like the contract's Identifier, without control characters (they could never be matched).
_Id = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    channel: _Id


class _CustomerService(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Literal["customer_service"]
    actor_id: _Id


_PRINCIPAL: TypeAdapter[_Channel | _CustomerService] = TypeAdapter(_Channel | _CustomerService)


@dataclass(frozen=True)
class Principal:
    """A sales channel (``channel`` set) or a customer-service desk (``channel`` None)."""

    actor_id: str
    channel: str | None = None

    @property
    def is_customer_service(self) -> bool:
        return self.channel is None

    @property
    def actor(self) -> Actor:
        """Who the timeline names: the desk, or the channel acting for its customer."""
        if self.channel is not None:
            return Actor(actor_id=self.channel, role=ActorRole.CUSTOMER)
        return Actor(actor_id=self.actor_id, role=ActorRole.CUSTOMER_SERVICE)

    def may_see(self, channel: str | None) -> bool:
        """Customer service sees every order; a channel only its own."""
        return self.is_customer_service or self.channel == channel


ApiKeys = Mapping[str, Principal]
"""Lower-case hex SHA-256 digest of a key -> its principal."""


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def parse_api_keys(text: str) -> dict[str, Principal]:
    """Read the ``OMS_ORDER_API_KEYS`` document; ValueError says what is wrong and where."""
    try:
        document: Any = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError("must be a JSON object mapping SHA-256 hex digests to principals")
    keys: dict[str, Principal] = {}
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
            parsed = _PRINCIPAL.validate_python(spec)
        except ValidationError:
            raise ValueError(
                f"principal of digest {normalised[:12]}... must be"
                ' {"channel": "<channel id>"} or'
                ' {"role": "customer_service", "actor_id": "<desk id>"}'
            ) from None
        if isinstance(parsed, _Channel):
            keys[normalised] = Principal(actor_id=parsed.channel, channel=parsed.channel)
        else:
            keys[normalised] = Principal(actor_id=parsed.actor_id)
    return keys


def bearer_key(authorization: str | None) -> str | None:
    """The key in an ``Authorization: Bearer <key>`` header, or None."""
    if not authorization:
        return None
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key or len(key) > MAX_KEY_LENGTH:
        return None
    return key


def authenticate(authorization: str | None, keys: ApiKeys) -> Principal | None:
    """The principal whose key is presented, or None.

    Every configured digest is compared in constant time, so neither a match nor its
    position shows in how long the answer takes.
    """
    key = bearer_key(authorization)
    if key is None:
        return None
    presented = key_digest(key).encode()
    found: Principal | None = None
    for digest, principal in keys.items():
        if hmac.compare_digest(presented, digest.encode()):
            found = principal
    return found
