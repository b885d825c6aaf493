"""Build, encode and decode events: the only way records enter or leave the contract.

:func:`decode` treats its input as hostile. Whatever the bytes, it returns a
:class:`DecodedEvent` or raises an :class:`InvalidEvent` subclass whose ``reason``
is a stable code for dead-letter headers and metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import orjson
from pydantic import ValidationError

from oms_events.envelope import Envelope
from oms_events.registry import REGISTRY, EventPayload, dataschema_urn

__all__ = [
    "CONTENT_TYPE",
    "MAX_EVENT_BYTES",
    "DecodedEvent",
    "EventTooLarge",
    "InvalidEvent",
    "InvalidPayload",
    "MalformedEvent",
    "UnknownEventType",
    "UnknownEventVersion",
    "decode",
    "decode_envelope",
    "decode_payload",
    "encode",
    "new_event",
]

MAX_EVENT_BYTES = 1_048_576
"""Largest encoded event accepted; matches Kafka's default message size."""

CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
"""The ``content-type`` header of every record: CloudEvents structured mode, JSON format.

Per the CloudEvents Kafka binding a record carrying it has its whole event in the value and
no ``ce_`` headers; a ``ce_`` header would make readers take it for binary mode.
"""

_MAX_ERRORS_SHOWN = 10


class InvalidEvent(Exception):
    """A record that cannot be turned into a valid event; it belongs in a dead-letter topic."""

    reason: str = "invalid_event"


class MalformedEvent(InvalidEvent):
    """Not UTF-8, not JSON, not an object, or the envelope attributes are wrong."""

    reason = "malformed"


class UnknownEventType(InvalidEvent):
    reason = "unknown_event_type"


class UnknownEventVersion(InvalidEvent):
    """A version newer than this build knows, or one that never existed."""

    reason = "unknown_event_version"


class InvalidPayload(InvalidEvent):
    """``data`` does not satisfy the latest payload model after upcasting.

    The envelope itself was valid: it is kept, with each error's location and message, so a
    consumer can answer the sender (an order service rejects an order it cannot read).
    """

    reason = "invalid_payload"

    def __init__(
        self,
        message: str,
        *,
        envelope: Envelope | None = None,
        errors: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.envelope = envelope
        self.errors = errors


class EventTooLarge(InvalidEvent):
    reason = "too_large"


@dataclass(frozen=True)
class DecodedEvent:
    """An event as a consumer handles it.

    ``payload`` is always the latest model; ``envelope.dataversion`` still says what
    came on the wire, and ``upcast_from`` is that version when it was older.
    """

    envelope: Envelope
    payload: EventPayload
    upcast_from: int | None = None


def new_event(
    payload: EventPayload,
    *,
    subject: str,
    source: str,
    correlation_id: str,
    causation_id: str | None = None,
    sequence: int = 0,
    event_id: UUID | None = None,
    time: datetime | None = None,
) -> Envelope:
    """Wrap ``payload`` in an envelope; type, version and dataschema come from its class."""
    model = type(payload)
    event_type = getattr(model, "event_type", None)
    version = getattr(model, "version", None)
    if (
        event_type is None
        or version is None
        or not REGISTRY.is_known(event_type)
        or REGISTRY.payload_model(event_type, version) is not model
    ):
        raise ValueError(f"{model.__name__} is not a registered event payload")
    return Envelope(
        id=event_id or uuid4(),
        source=source,
        type=event_type,
        dataversion=version,
        time=time or datetime.now(UTC),
        subject=subject,
        dataschema=dataschema_urn(event_type, version),
        correlationid=correlation_id,
        causationid=causation_id,
        sequence=sequence,
        data=payload.model_dump(mode="json"),
    )


def encode(envelope: Envelope) -> bytes:
    """Compact UTF-8 JSON; an absent ``causationid`` is omitted as CloudEvents prefers."""
    exclude = {"causationid"} if envelope.causationid is None else None
    return envelope.model_dump_json(exclude=exclude).encode()


def decode(raw: bytes) -> DecodedEvent:
    """Parse, check and upcast one record value."""
    return decode_payload(decode_envelope(raw))


def decode_envelope(raw: bytes, parsed: Any = None) -> Envelope:
    """The checked envelope alone: a consumer with no handler for its type skips the rest.
    ``parsed``: ``orjson.loads(raw)``, when the caller has read it already."""
    if len(raw) > MAX_EVENT_BYTES:
        raise EventTooLarge(f"event is {len(raw)} bytes, more than {MAX_EVENT_BYTES}")
    envelope = _parse_envelope(raw, parsed)

    event_type, version = envelope.type, envelope.dataversion
    if not REGISTRY.is_known(event_type):
        raise UnknownEventType(f"unknown event type {event_type!r}")
    if version not in REGISTRY.versions(event_type):
        latest = REGISTRY.latest_version(event_type)
        raise UnknownEventVersion(f"{event_type} v{version} is unknown (latest known is v{latest})")
    expected_schema = dataschema_urn(event_type, version)
    if envelope.dataschema != expected_schema:
        raise MalformedEvent(
            f"dataschema {envelope.dataschema!r} does not match type and dataversion "
            f"(expected {expected_schema!r})"
        )
    return envelope


def decode_payload(envelope: Envelope) -> DecodedEvent:
    """The payload of an envelope that ``decode_envelope`` checked, upcast and validated."""
    event_type, version = envelope.type, envelope.dataversion
    try:
        data = REGISTRY.upcast(event_type, version, envelope.data)
    except Exception as exc:  # upcasters see hostile data; any failure is the record's fault
        raise InvalidPayload(
            f"{event_type} v{version} could not be upcast: {type(exc).__name__}: {exc}",
            envelope=envelope,
        ) from None
    model = REGISTRY.latest_model(event_type)
    try:
        payload = model.model_validate(data)
    except ValidationError as exc:
        raise InvalidPayload(
            f"invalid {event_type} v{model.version} payload: {_describe(exc)}",
            envelope=envelope,
            errors=tuple(
                (".".join(str(p) for p in err["loc"]), err["msg"])
                for err in exc.errors(include_url=False, include_input=False)
            ),
        ) from None
    return DecodedEvent(
        envelope=envelope,
        payload=payload,
        upcast_from=version if version != model.version else None,
    )


def _parse_envelope(raw: bytes, doc: Any) -> Envelope:
    """orjson parses strict JSON: UTF-8, no NaN or Infinity, nothing after the document.

    What it refuses, or a document that is not an object, goes through pydantic's own JSON
    parser, which says what is wrong as ``decode`` always has; it reads NaN, so a NaN in
    ``data`` is left to the payload model, which names the field (every float in the
    contract is finite and every int strict, so an integer orjson widens to a float is
    rejected, never rounded).
    """
    if doc is None:
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            doc = None
    try:
        if type(doc) is dict:
            return Envelope.model_validate(doc)
        return Envelope.model_validate_json(raw)
    except ValidationError as exc:
        raise MalformedEvent(f"invalid envelope: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    """``loc: message`` for each error, without echoing (possibly huge) input values."""
    errors = exc.errors(include_url=False, include_input=False)
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
        for err in errors[:_MAX_ERRORS_SHOWN]
    ]
    if len(errors) > _MAX_ERRORS_SHOWN:
        parts.append(f"... and {len(errors) - _MAX_ERRORS_SHOWN} more")
    return "; ".join(parts)
