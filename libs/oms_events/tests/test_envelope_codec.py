from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from oms_events.codec import (
    MAX_EVENT_BYTES,
    DecodedEvent,
    EventTooLarge,
    InvalidEvent,
    InvalidPayload,
    MalformedEvent,
    UnknownEventType,
    UnknownEventVersion,
    decode,
    encode,
    new_event,
)
from oms_events.envelope import MAX_SEQUENCE, SEQUENCE_DIGITS, Envelope
from oms_events.orders import OrderConfirmed
from oms_events.registry import REGISTRY, EventPayload

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
EVENT_ID = UUID("2f1d7c7e-4c1b-4f0e-9d7a-3b5e8a0c6d21")
WHEN = datetime(2024, 6, 11, 9, 15, tzinfo=UTC)


def confirmed() -> OrderConfirmed:
    return OrderConfirmed(order_id="ord_1", confirmed_at=WHEN, payment_id="pay_1")


def envelope_doc(**overrides: Any) -> dict[str, Any]:
    env = new_event(
        confirmed(),
        subject="ord_1",
        source="oms/order",
        correlation_id="corr-1",
        event_id=EVENT_ID,
        time=WHEN,
        sequence=3,
    )
    doc: dict[str, Any] = json.loads(encode(env))
    doc.update(overrides)
    return doc


def raw(doc: Any) -> bytes:
    return json.dumps(doc).encode()


class TestNewEvent:
    def test_derives_type_version_and_schema_from_the_payload(self) -> None:
        env = new_event(
            confirmed(),
            subject="ord_1",
            source="oms/order",
            correlation_id="corr-1",
            causation_id="cause-1",
            sequence=3,
        )
        assert env.type == "OrderConfirmed"
        assert env.dataversion == 1
        assert env.dataschema == "urn:oms:event:OrderConfirmed:v1"
        assert env.specversion == "1.0"
        assert env.datacontenttype == "application/json"
        assert env.causationid == "cause-1"
        assert env.data == {
            "order_id": "ord_1",
            "confirmed_at": "2024-06-11T09:15:00Z",
            "payment_id": "pay_1",
        }
        assert env.time.tzinfo is not None
        assert isinstance(env.id, UUID)

    def test_rejects_an_unregistered_payload(self) -> None:
        class NotAnEvent(EventPayload):
            x: int

        with pytest.raises(ValueError, match="NotAnEvent is not a registered"):
            new_event(NotAnEvent(x=1), subject="s", source="oms/x", correlation_id="c")


class TestEnvelope:
    def test_normalises_time_to_utc(self) -> None:
        cest = timezone(timedelta(hours=2))
        env = Envelope.model_validate(
            envelope_doc(time=datetime(2024, 6, 11, 11, 15, tzinfo=cest).isoformat())
        )
        assert env.time == WHEN
        assert env.time.utcoffset() == timedelta(0)

    @pytest.mark.parametrize(
        "field,value",
        [
            ("time", "2024-06-11T09:15:00"),
            ("sequence", -1),
            ("sequence", "-3"),
            ("sequence", "+3"),
            ("sequence", "3.0"),
            ("sequence", "\uff13"),
            ("sequence", "1" * 20),
            ("sequence", 3.0),
            ("sequence", True),
            ("sequence", 2**63),
            ("dataversion", 0),
            ("specversion", "0.3"),
            ("source", ""),
            ("id", "not-a-uuid"),
            ("datacontenttype", "application/xml"),
            ("data", [1, 2]),
        ],
    )
    def test_rejects_bad_attributes(self, field: str, value: Any) -> None:
        with pytest.raises(ValidationError, match=field):
            Envelope.model_validate_json(raw(envelope_doc(**{field: value})))

    def test_rejects_unknown_attributes(self) -> None:
        with pytest.raises(ValidationError, match="traceparent"):
            Envelope.model_validate(envelope_doc(traceparent="00-abc"))


class TestSequence:
    """A string on the wire (the CloudEvents sequence extension), an int in Python."""

    def test_is_written_as_nineteen_zero_padded_digits(self) -> None:
        assert envelope_doc()["sequence"] == "0000000000000000003"
        biggest = Envelope.model_validate(envelope_doc(sequence=MAX_SEQUENCE))
        assert json.loads(encode(biggest))["sequence"] == str(MAX_SEQUENCE)
        assert len(str(MAX_SEQUENCE)) == SEQUENCE_DIGITS

    def test_strings_order_like_the_numbers(self) -> None:
        numbers = [10, 2, 0, 99, 1_000, 9, MAX_SEQUENCE]
        wire = [
            json.loads(encode(Envelope.model_validate(envelope_doc(sequence=n))))["sequence"]
            for n in numbers
        ]
        assert sorted(wire) == [f"{n:019d}" for n in sorted(numbers)]

    @pytest.mark.parametrize("value", [3, "3", "0000000000000000003"])
    def test_reads_the_integer_of_older_records_and_unpadded_strings(self, value: Any) -> None:
        decoded = decode(raw(envelope_doc(sequence=value)))
        assert decoded.envelope.sequence == 3
        assert json.loads(encode(decoded.envelope))["sequence"] == "0000000000000000003"

    def test_python_dumps_keep_the_int(self) -> None:
        env = Envelope.model_validate(envelope_doc())
        assert env.model_dump()["sequence"] == 3
        assert Envelope.model_validate(env.model_dump()) == env


class TestEncode:
    def test_is_compact_utf8_json_without_a_null_causation(self) -> None:
        encoded = encode(Envelope.model_validate(envelope_doc()))
        assert b" " not in encoded.replace(b"oms/order", b"")
        doc = json.loads(encoded.decode("utf-8"))
        assert "causationid" not in doc
        assert doc["time"] == "2024-06-11T09:15:00Z"

    def test_keeps_non_ascii_as_utf8(self) -> None:
        env = Envelope.model_validate(envelope_doc(subject="Schönhauser"))
        assert "Schönhauser".encode() in encode(env)

    @pytest.mark.parametrize("fixture", sorted(GOLDEN_DIR.glob("*.json")), ids=lambda p: p.stem)
    def test_writes_what_json_dumps_wrote(self, fixture: Path) -> None:
        # The bytes are those of the json.dumps encoder it replaced (sequence aside).
        env = decode(fixture.read_bytes()).envelope
        env = env.model_copy(update={"subject": 'Schön \u2028 \x00 \U0001f600 / \\ "q"'})
        doc = env.model_dump(mode="json")
        if doc["causationid"] is None:
            del doc["causationid"]
        expected = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        assert encode(env) == expected.encode()

    def test_round_trips(self) -> None:
        env = new_event(
            confirmed(), subject="ord_1", source="oms/order", correlation_id="c", causation_id="x"
        )
        decoded = decode(encode(env))
        assert decoded.envelope == env
        assert decoded.payload == confirmed()
        assert decoded.upcast_from is None


class TestDecodeErrors:
    def test_reasons_are_stable(self) -> None:
        assert {
            cls.reason
            for cls in (
                MalformedEvent,
                UnknownEventType,
                UnknownEventVersion,
                InvalidPayload,
                EventTooLarge,
            )
        } == {
            "malformed",
            "unknown_event_type",
            "unknown_event_version",
            "invalid_payload",
            "too_large",
        }

    def test_too_large(self) -> None:
        with pytest.raises(EventTooLarge) as exc:
            decode(b" " * (MAX_EVENT_BYTES + 1))
        assert exc.value.reason == "too_large"

    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"\xff\xfe\x00",
            b"{not json",
            b"[]",
            b"42",
            b"null",
            b'"event"',
            b"{}",
            b"\xef\xbb\xbf{}",
        ],
    )
    def test_malformed(self, data: bytes) -> None:
        with pytest.raises(MalformedEvent) as exc:
            decode(data)
        assert exc.value.reason == "malformed"

    def test_malformed_names_the_missing_attribute(self) -> None:
        doc = envelope_doc()
        del doc["correlationid"]
        with pytest.raises(MalformedEvent, match="correlationid: Field required"):
            decode(raw(doc))

    def test_dataschema_must_match_type_and_version(self) -> None:
        doc = envelope_doc(dataschema="urn:oms:event:OrderAccepted:v1")
        with pytest.raises(MalformedEvent, match="dataschema"):
            decode(raw(doc))

    def test_unknown_type(self) -> None:
        doc = envelope_doc(type="OrderTeleported", dataschema="urn:oms:event:OrderTeleported:v1")
        with pytest.raises(UnknownEventType, match="OrderTeleported"):
            decode(raw(doc))

    @pytest.mark.parametrize("version", [2, 99])
    def test_unknown_version(self, version: int) -> None:
        doc = envelope_doc(
            dataversion=version, dataschema=f"urn:oms:event:OrderConfirmed:v{version}"
        )
        with pytest.raises(UnknownEventVersion, match=f"v{version}"):
            decode(raw(doc))

    def test_invalid_payload_names_the_field(self) -> None:
        doc = envelope_doc()
        doc["data"]["confirmed_at"] = "yesterday"
        with pytest.raises(InvalidPayload, match="confirmed_at"):
            decode(raw(doc))

    def test_extra_payload_field_is_invalid(self) -> None:
        doc = envelope_doc()
        doc["data"]["surprise"] = 1
        with pytest.raises(InvalidPayload, match="surprise"):
            decode(raw(doc))

    def test_trailing_data_is_malformed(self) -> None:
        with pytest.raises(MalformedEvent, match="trailing"):
            decode(raw(envelope_doc()) + b" {}")

    def test_an_integer_beyond_64_bits_is_rejected_not_rounded(self) -> None:
        # orjson reads it as a float, which every (strict) int in the contract refuses.
        doc = json.loads((GOLDEN_DIR / "OrderSubmitted.v2.json").read_text())
        doc["data"]["lines"][0]["quantity"] = 2**70 + 1
        with pytest.raises(InvalidPayload, match="quantity"):
            decode(raw(doc))
        with pytest.raises(MalformedEvent, match="sequence"):
            decode(raw(envelope_doc(sequence=2**70 + 1)))

    def test_upcaster_failure_is_an_invalid_payload(self) -> None:
        doc = json.loads((GOLDEN_DIR / "OrderSubmitted.v1.json").read_text())
        doc["data"] = {"customer_email": 5}
        with pytest.raises(InvalidPayload, match="customer"):
            decode(raw(doc))


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 200_000,
        b'{"data": {"x": ' + b"[" * 5_000 + b"]" * 5_000 + b"}}",
        b'{"id": "\\ud800"}',
        b'{"sequence": 1e400}',
    ],
)
def test_pathological_json_is_malformed(data: bytes) -> None:
    with pytest.raises(MalformedEvent):
        decode(data)


def _number_schemas(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [node] if node.get("type") in ("int", "float") else []
        return found + [s for v in node.values() for s in _number_schemas(v)]
    if isinstance(node, list):
        return [s for v in node for s in _number_schemas(v)]
    return []


def test_every_int_is_strict_and_every_float_finite() -> None:
    # What makes decoding with orjson safe: an integer beyond 64 bits comes back as a float
    # and NaN is not JSON; neither can slip into a valid event.
    models = [Envelope, *(model for _, _, model in REGISTRY.entries())]
    numbers = [s for m in models for s in _number_schemas(m.__pydantic_core_schema__)]
    assert numbers
    for schema in numbers:
        assert schema.get("strict") if schema["type"] == "int" else not schema["allow_inf_nan"]


def test_nan_scores_are_rejected() -> None:
    text = (GOLDEN_DIR / "SourcingDecided.v1.json").read_text()
    with pytest.raises(InvalidPayload, match="weight"):
        decode(text.replace('"weight": 0.4', '"weight": NaN', 1).encode())


# --- fuzz-ish: decode never raises anything but InvalidEvent -----------------------------

_ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**70,
    1.5,
    "",
    "x" * 300,
    "\u0000",
    "2024-13-45T99:00:00Z",
    [],
    [None],
    {},
    {"amount_minor": 1.5},
    "ZZZ",
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {**node, head: _replace(node[head], rest, value)}
    copy = list(node)
    copy[head] = _replace(node[head], rest, value)
    return copy


def _delete(node: Any, path: tuple[Any, ...]) -> Any:
    if len(path) == 1:
        if isinstance(node, dict):
            return {k: v for k, v in node.items() if k != path[0]}
        return [v for i, v in enumerate(node) if i != path[0]]
    head = path[0]
    if isinstance(node, dict):
        return {**node, head: _delete(node[head], path[1:])}
    copy = list(node)
    copy[head] = _delete(node[head], path[1:])
    return copy


def _mutations(rng: random.Random, count: int) -> list[bytes]:
    goldens = sorted(GOLDEN_DIR.glob("*.json"))
    inputs: list[bytes] = []
    for _ in range(count):
        source = rng.choice(goldens).read_bytes()
        doc = json.loads(source)
        kind = rng.randrange(6)
        if kind == 0:  # random bytes
            inputs.append(rng.randbytes(rng.randrange(0, 200)))
        elif kind == 1:  # flip a few bytes of a real event
            data = bytearray(source)
            for _ in range(rng.randrange(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            inputs.append(bytes(data))
        elif kind == 2:  # truncate
            inputs.append(source[: rng.randrange(len(source))])
        elif kind == 3:  # replace a value anywhere in the tree
            path = rng.choice(_paths(doc))
            inputs.append(raw(_replace(doc, path, rng.choice(_ODD_VALUES))))
        elif kind == 4:  # delete a key or element
            paths = [p for p in _paths(doc) if p]
            inputs.append(raw(_delete(doc, rng.choice(paths))))
        else:  # valid envelope, version/type games
            doc["dataversion"] = rng.choice([0, 1, 2, 3, -5, "1", 1.0])
            doc["type"] = rng.choice([doc["type"], "", "Nope", "OrderSubmitted"])
            inputs.append(raw(doc))
    return inputs


def test_decode_only_raises_invalid_event_for_any_bytes() -> None:
    rng = random.Random(1234)
    outcomes: dict[str, int] = {}
    for data in _mutations(rng, 600):
        try:
            result = decode(data)
        except InvalidEvent as exc:
            assert exc.reason in {
                "malformed",
                "unknown_event_type",
                "unknown_event_version",
                "invalid_payload",
                "too_large",
            }
            assert str(exc)
            outcomes[exc.reason] = outcomes.get(exc.reason, 0) + 1
        else:
            assert isinstance(result, DecodedEvent)
            outcomes["ok"] = outcomes.get("ok", 0) + 1
    # The mutations reach every stage of decoding, not just the JSON parser.
    assert {"malformed", "invalid_payload", "unknown_event_version", "ok"} <= outcomes.keys()
