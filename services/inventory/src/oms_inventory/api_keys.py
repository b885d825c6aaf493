"""Who calls the availability API: ``OMS_INVENTORY_API_KEYS`` maps the SHA-256 digest of each
key to a sales channel (``{"channel": "web-de"}``: sees only the locations serving it) or an
operator (``{"role": "operator", "actor_id": "ops-1"}``: sees every location and bucket)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, TypeAdapter, ValidationError

from oms_runtime.api_keys import parse_key_digests

__all__ = ["Caller", "parse_api_keys"]

_Id = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    channel: _Id


class _Operator(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Literal["operator"]
    actor_id: _Id


_SHAPES: TypeAdapter[_Channel | _Operator] = TypeAdapter(_Channel | _Operator)


@dataclass(frozen=True)
class Caller:
    """A sales channel (``channel`` set) or an operator (``channel`` None)."""

    actor_id: str
    channel: str | None = None


def _caller(spec: Any) -> Caller | None:
    try:
        parsed = _SHAPES.validate_python(spec)
    except ValidationError:
        return None
    if isinstance(parsed, _Channel):
        return Caller(actor_id=parsed.channel, channel=parsed.channel)
    return Caller(actor_id=parsed.actor_id)


def parse_api_keys(text: str) -> dict[str, Caller]:
    return parse_key_digests(
        text,
        _caller,
        '{"channel": "<channel id>"} or {"role": "operator", "actor_id": "<operator id>"}',
    )
