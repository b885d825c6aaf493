"""Who calls the HTTP API: per-caller API keys, configured only as SHA-256 digests.

``OMS_ORDER_API_KEYS`` maps the hex SHA-256 digest of each key to its principal, a sales
channel (``{"channel": "web-de"}``), a customer-service desk
(``{"role": "customer_service", "actor_id": "cs-desk-1"}``) or the staff of a store or
warehouse (``{"role": "staff", "actor_id": "berlin-pos-1", "location_id": "store-berlin"}``),
who take returns in and inspect them there. Keys travel as
``Authorization: Bearer <key>`` (the API's security scheme); only their digests are ever
stored or compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter

from oms_events.values import Actor, ActorRole
from oms_runtime import ChannelKey, KeyOwnerId, parse_key_digests

__all__ = ["ApiKeys", "Principal", "parse_api_keys"]


class _CustomerService(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Literal["customer_service"]
    actor_id: KeyOwnerId


class _Staff(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Literal["staff"]
    actor_id: KeyOwnerId
    location_id: KeyOwnerId


_Parsed = ChannelKey | _CustomerService | _Staff
_PRINCIPAL: TypeAdapter[_Parsed] = TypeAdapter(_Parsed)


@dataclass(frozen=True)
class Principal:
    """A sales channel (``channel`` set), the staff of a location (``location_id`` set) or a
    customer-service desk (neither)."""

    actor_id: str
    channel: str | None = None
    location_id: str | None = None

    @property
    def is_customer_service(self) -> bool:
        return self.channel is None and self.location_id is None

    @property
    def is_staff(self) -> bool:
        return self.location_id is not None

    @property
    def actor(self) -> Actor:
        """Who the timeline names: the desk or the staff member, or the channel acting for
        its customer."""
        if self.channel is not None:
            return Actor(actor_id=self.channel, role=ActorRole.CUSTOMER)
        if self.location_id is not None:
            return Actor(actor_id=self.actor_id, role=ActorRole.STAFF)
        return Actor(actor_id=self.actor_id, role=ActorRole.CUSTOMER_SERVICE)

    def may_see(self, channel: str | None) -> bool:
        """Customer service sees every order; a channel only its own."""
        return self.is_customer_service or self.channel == channel


ApiKeys = Mapping[str, Principal]
"""Lower-case hex SHA-256 digest of a key -> its principal."""


def _principal(parsed: _Parsed) -> Principal:
    if isinstance(parsed, ChannelKey):
        return Principal(actor_id=parsed.channel, channel=parsed.channel)
    if isinstance(parsed, _Staff):
        return Principal(actor_id=parsed.actor_id, location_id=parsed.location_id)
    return Principal(actor_id=parsed.actor_id)


def parse_api_keys(text: str) -> dict[str, Principal]:
    """Read the ``OMS_ORDER_API_KEYS`` document; ValueError says what is wrong and where."""
    return parse_key_digests(
        text,
        _PRINCIPAL,
        _principal,
        '{"channel": "<channel id>"}, {"role": "customer_service", "actor_id": "<desk id>"} or'
        ' {"role": "staff", "actor_id": "<staff id>", "location_id": "<location id>"}',
    )
