"""Reading request bodies: strict JSON, storable values, request fingerprints."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from oms_events.orders import OrderSubmitted
from oms_order.entrypoints.api_body import (
    BodyError,
    field_errors,
    parse_json,
    request_fingerprint,
    unstorable_values,
    valid_idempotency_key,
)


def test_the_fingerprint_ignores_key_order_and_whitespace_only() -> None:
    first = parse_json(b'{"a": 1, "b": {"c": [1, 2], "d": "x"}}')
    second = parse_json(b'{"b":{"d":"x","c":[1,2]},"a":1}')
    assert request_fingerprint(first) == request_fingerprint(second)
    assert len(request_fingerprint(first)) == 64
    for changed in ({"a": 2, "b": first["b"]}, {"a": 1}, {**first, "e": None}, [first]):
        assert request_fingerprint(changed) != request_fingerprint(first)
    assert request_fingerprint({"a": 1}) != request_fingerprint({"a": 1.0})
    assert request_fingerprint({"a": "\udc80"})  # lone surrogates hash too


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"\xff{}", "not UTF-8"),
        (b"{", "not JSON"),
        (b"{} {}", "not JSON"),
        (b'{"a": NaN}', "NaN is not JSON"),
        (b"[Infinity]", "Infinity is not JSON"),
        (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
        (b"1" * 5000, "not usable JSON"),
    ],
)
def test_parse_json_refuses_what_is_not_strict_json(raw: bytes, complaint: str) -> None:
    with pytest.raises(BodyError, match=complaint):
        parse_json(raw)


def test_parse_json_reads_any_json_value() -> None:
    assert parse_json(b'{"a": [1, "\\u00e9"]}') == {"a": [1, "é"]}
    assert parse_json(b"[]") == []


def test_unstorable_values_are_named_by_path() -> None:
    document = parse_json(
        b'{"ok": "fine", "n": [1, 9223372036854775808, -9223372036854775808],'
        b' "t": {"nul": "a\\u0000b", "sur": "\\ud800"}, "big": 1e400, "k\\u0000": 1}'
    )
    assert unstorable_values(document) == [
        ("", "a field name contains NUL or an invalid character"),
        ("big", "number out of range"),
        ("n.1", "integer out of the 64-bit range"),
        ("t.nul", "text contains NUL or an invalid character"),
        ("t.sur", "text contains NUL or an invalid character"),
    ]
    assert unstorable_values({"a": [True, None, 1.5, 2**63 - 1, "é"]}) == []


def test_unstorable_values_walks_deep_documents_without_recursion() -> None:
    document: object = "\x00"
    for _ in range(5000):
        document = [document]
    assert len(unstorable_values(document)) == 1


def test_field_errors_give_paths_and_never_the_input() -> None:
    with pytest.raises(ValidationError) as caught:
        OrderSubmitted.model_validate({"channel": "web-de", "currency": "secret@example.com"})
    errors = field_errors(caught.value)
    assert ("currency", "String should match pattern '^[A-Z]{3}$'") in errors
    assert ("external_order_id", "Field required") in errors
    assert all("secret@example.com" not in message for _, message in errors)


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("3f1c9a5e-0b7d-4c1e-9f55-8e2b7c0d4a11", True),
        ("a", True),
        ("k" * 200, True),
        ("k" * 201, False),
        ("", False),
        (None, False),
        ("tab\there", False),
        ("é", False),
    ],
)
def test_idempotency_keys(key: str | None, valid: bool) -> None:
    assert valid_idempotency_key(key) is valid
