"""Events an operator moves by hand: a JSON-lines file checked against the contract and keyed
as the topic registry says (``oms publish``), and a range of a topic selected for copying
(``oms copy``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from oms_events.codec import InvalidEvent, decode, decode_envelope
from oms_events.topics import TopicSpec

__all__ = [
    "BadLine",
    "CopyRange",
    "FileEvent",
    "check_file",
    "copy_ranges",
    "event_type_of",
    "record_key",
]

_KEY_PARTS = re.compile(r"[@:]")


@dataclass(frozen=True)
class FileEvent:
    line: int
    value: bytes
    key: str
    event_type: str


@dataclass(frozen=True)
class BadLine:
    line: int
    error: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.error}"


def record_key(spec: TopicSpec, payload: Any, subject: str) -> str:
    """The record key the registry names for ``spec`` (``order_id``, ``sku@location``,
    ``channel:external_order_id``...), from the payload's fields (``location`` is also looked
    up as ``location_id``); the envelope's subject when the key is ``subject`` or a field is
    missing, as the services' outboxes do."""
    separators = _KEY_PARTS.findall(spec.key)
    values: list[str] = []
    for name in _KEY_PARTS.split(spec.key):
        value = getattr(payload, name, None)
        if value is None:
            value = getattr(payload, f"{name}_id", None)
        if value is None:
            return subject
        values.append(str(value))
    key = values[0]
    for separator, value in zip(separators, values[1:], strict=True):
        key += separator + value
    return key


def check_file(lines: Iterable[bytes], spec: TopicSpec) -> tuple[list[FileEvent], list[BadLine]]:
    """Every event of a JSON-lines file (one CloudEvents envelope per line; blank lines
    ignored), decoded and validated as a consumer would, and of a type ``spec`` carries;
    and the lines that are not."""
    events: list[FileEvent] = []
    bad: list[BadLine] = []
    for number, raw in enumerate(lines, start=1):
        value = raw.strip()
        if not value:
            continue
        try:
            decoded = decode(value)
        except InvalidEvent as exc:
            bad.append(BadLine(number, f"{exc.reason}: {exc}"))
            continue
        event_type = decoded.envelope.type
        if spec.event_types and event_type not in spec.event_types:
            bad.append(BadLine(number, f"{event_type} is not carried by {spec.name}"))
            continue
        key = record_key(spec, decoded.payload, decoded.envelope.subject)
        events.append(FileEvent(number, value, key, event_type))
    return events, bad


def event_type_of(value: bytes | None) -> str | None:
    """The event type of a record's value; None when it is no valid envelope."""
    try:
        return decode_envelope(value or b"").type
    except InvalidEvent:
        return None


@dataclass(frozen=True)
class CopyRange:
    topic: str
    partition: int
    start: int
    end: int

    @property
    def records(self) -> int:
        return max(self.end - self.start, 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "from": self.start,
            "to": self.end,
            "records": self.records,
        }


def copy_ranges(
    topic: str,
    bounds: Iterable[tuple[int, int, int]],
    *,
    from_offset: int | None = None,
    to_offset: int | None = None,
    since: dict[int, int] | None = None,
    until: dict[int, int] | None = None,
) -> list[CopyRange]:
    """Per partition (``bounds``: partition, first, end offset), the offsets to copy: from
    ``from_offset`` or the first offset at ``since`` (else the partition's first) up to
    ``to_offset`` or the first offset at ``until`` (else its end), clamped to what exists."""
    ranges: list[CopyRange] = []
    for partition, first, end in bounds:
        start = first
        if from_offset is not None:
            start = from_offset
        elif since is not None:
            start = since.get(partition, end)
        stop = end
        if to_offset is not None:
            stop = to_offset
        elif until is not None:
            stop = until.get(partition, end)
        start, stop = max(start, first), min(stop, end)
        ranges.append(CopyRange(topic, partition, start, max(stop, start)))
    return ranges
