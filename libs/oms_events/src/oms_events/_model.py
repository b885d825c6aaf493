"""The payload base class and the registry it is declared into.

Kept apart from :mod:`oms_events.registry` so the payload modules can register
themselves without importing the module that imports them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

__all__ = [
    "REGISTRY",
    "EventPayload",
    "EventRegistry",
    "StrictModel",
    "Upcaster",
    "dataschema_urn",
    "event",
    "upcaster",
]

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns the ``data`` of version n into the ``data`` of version n + 1."""

P = TypeVar("P", bound="type[EventPayload]")
U = TypeVar("U", bound=Upcaster)


def dataschema_urn(event_type: str, version: int) -> str:
    """The ``dataschema`` of an event; also the ``$id`` of its committed JSON Schema."""
    return f"urn:oms:event:{event_type}:v{version}"


class StrictModel(BaseModel):
    """Frozen and closed: an unknown field is a mistake to refuse, not something to ignore.
    The base of every model the OMS reads: payloads, envelopes, values, configuration
    files and request bodies. Attribute docstrings describe the fields in the schemas."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class EventPayload(StrictModel):
    """Base of every event payload (the envelope's ``data``).

    ``event_type`` and ``version`` are set by the :func:`event` decorator.
    """

    event_type: ClassVar[str]
    version: ClassVar[int]


class EventRegistry:
    """(event type, version) -> payload model, plus the upcasters between versions."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, int], type[EventPayload]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        # Every decode asks for a type's versions; kept sorted per type, not scanned for.
        self._versions: dict[str, tuple[int, ...]] = {}

    def add_model(self, model: type[EventPayload]) -> None:
        key = (model.event_type, model.version)
        if key in self._models and self._models[key] is not model:
            raise ValueError(f"{key[0]} v{key[1]} is registered twice")
        self._models[key] = model
        self._versions[key[0]] = tuple(sorted({*self._versions.get(key[0], ()), key[1]}))

    def add_upcaster(self, event_type: str, from_version: int, fn: Upcaster) -> None:
        key = (event_type, from_version)
        if key in self._upcasters and self._upcasters[key] is not fn:
            raise ValueError(f"{event_type} v{from_version} has two upcasters")
        self._upcasters[key] = fn

    def event_types(self) -> tuple[str, ...]:
        return tuple(sorted(self._versions))

    def versions(self, event_type: str) -> tuple[int, ...]:
        return self._versions.get(event_type, ())

    def entries(self) -> Iterator[tuple[str, int, type[EventPayload]]]:
        """Every registered (type, version, model), sorted."""
        for (event_type, version), model in sorted(self._models.items()):
            yield event_type, version, model

    def is_known(self, event_type: str) -> bool:
        return event_type in self._versions

    def latest_version(self, event_type: str) -> int:
        versions = self.versions(event_type)
        if not versions:
            raise KeyError(f"unknown event type {event_type!r}")
        return versions[-1]

    def payload_model(self, event_type: str, version: int) -> type[EventPayload]:
        try:
            return self._models[(event_type, version)]
        except KeyError:
            raise KeyError(f"no payload model for {event_type} v{version}") from None

    def latest_model(self, event_type: str) -> type[EventPayload]:
        return self.payload_model(event_type, self.latest_version(event_type))

    def has_upcaster(self, event_type: str, from_version: int) -> bool:
        return (event_type, from_version) in self._upcasters

    def upcast(self, event_type: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
        """Chain upcasters from ``version`` to the latest version of ``event_type``."""
        latest = self.latest_version(event_type)
        if version > latest or (event_type, version) not in self._models:
            raise KeyError(f"no payload model for {event_type} v{version}")
        for step in range(version, latest):
            try:
                fn = self._upcasters[(event_type, step)]
            except KeyError:
                raise LookupError(f"no upcaster from {event_type} v{step} to v{step + 1}") from None
            data = fn(data)
        return data


REGISTRY = EventRegistry()
"""The registry the payload modules declare themselves into."""


def event(event_type: str, version: int = 1) -> Callable[[P], P]:
    """Class decorator: name a payload model's event type and version and register it."""
    if version < 1:
        raise ValueError("event versions start at 1")

    def register(model: P) -> P:
        model.event_type = event_type
        model.version = version
        REGISTRY.add_model(model)
        return model

    return register


def upcaster(event_type: str, from_version: int) -> Callable[[U], U]:
    """Function decorator: register ``fn`` as the step from ``from_version`` to the next."""

    def register(fn: U) -> U:
        REGISTRY.add_upcaster(event_type, from_version, fn)
        return fn

    return register
