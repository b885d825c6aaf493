"""The compatibility guard catches each kind of breaking change to a published version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from oms_events.compat import check_compatibility
from oms_events.orders import OrderConfirmed
from oms_events.registry import EventPayload, EventRegistry
from oms_events.schemas import write_schemas
from oms_events.values import Identifier


@pytest.fixture
def committed(tmp_path: Path) -> Path:
    write_schemas(tmp_path)
    return tmp_path


def load(committed: Path, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((committed / "events" / name).read_text())
    return doc


def save(committed: Path, name: str, doc: dict[str, Any]) -> None:
    (committed / "events" / name).write_text(json.dumps(doc))


def test_fresh_schemas_are_compatible(committed: Path) -> None:
    assert check_compatibility(committed) == []


def test_a_required_field_added_to_a_published_version(committed: Path) -> None:
    # The committed file lacks a field the model now requires.
    doc = load(committed, "OrderConfirmed.v1.json")
    del doc["properties"]["confirmed_at"]
    doc["required"].remove("confirmed_at")
    save(committed, "OrderConfirmed.v1.json", doc)
    assert check_compatibility(committed) == [
        "OrderConfirmed v1: field 'confirmed_at' added as required"
    ]


def test_an_optional_field_added_is_fine(committed: Path) -> None:
    doc = load(committed, "OrderConfirmed.v1.json")
    del doc["properties"]["payment_id"]
    save(committed, "OrderConfirmed.v1.json", doc)
    assert check_compatibility(committed) == []


def test_a_field_removed(committed: Path) -> None:
    doc = load(committed, "OrderConfirmed.v1.json")
    doc["properties"]["channel"] = {"type": "string"}
    save(committed, "OrderConfirmed.v1.json", doc)
    assert check_compatibility(committed) == ["OrderConfirmed v1: field 'channel' removed"]


def test_a_field_retyped(committed: Path) -> None:
    doc = load(committed, "OrderConfirmed.v1.json")
    doc["properties"]["order_id"]["type"] = "integer"
    save(committed, "OrderConfirmed.v1.json", doc)
    [problem] = check_compatibility(committed)
    assert problem.startswith("OrderConfirmed v1: field 'order_id' retyped (type:")


def test_a_field_became_required(committed: Path) -> None:
    doc = load(committed, "OrderConfirmed.v1.json")
    doc["required"].remove("confirmed_at")
    save(committed, "OrderConfirmed.v1.json", doc)
    assert check_compatibility(committed) == [
        "OrderConfirmed v1: field 'confirmed_at' became required"
    ]


def test_a_nested_value_type_change_is_caught(committed: Path) -> None:
    doc = load(committed, "OrderSubmitted.v1.json")
    doc["$defs"]["Address"]["properties"]["county"] = {"type": "string"}
    save(committed, "OrderSubmitted.v1.json", doc)
    assert check_compatibility(committed) == [
        "OrderSubmitted v1: field 'billing_address.county' removed",
        "OrderSubmitted v1: field 'shipping_address.county' removed",
    ]


def test_a_published_version_deleted(committed: Path) -> None:
    doc = load(committed, "OrderSubmitted.v3.json")
    doc["$id"] = "urn:oms:event:OrderSubmitted:v4"
    save(committed, "OrderSubmitted.v4.json", doc)
    assert check_compatibility(committed) == [
        "OrderSubmitted v4: committed schema has no model (a published version was deleted)"
    ]


def test_unreadable_and_misnamed_files(committed: Path) -> None:
    (committed / "events" / "OrderConfirmed.v1.json").write_text("{not json")
    (committed / "events" / "notes.json").write_text("{}")
    problems = check_compatibility(committed)
    assert problems[0].startswith("OrderConfirmed v1: committed schema is unreadable")
    assert problems[1] == "notes.json: not named <EventType>.v<N>.json"


def test_a_new_version_without_an_upcaster(tmp_path: Path) -> None:
    class ThingHappenedV1(EventPayload):
        thing_id: Identifier

    class ThingHappened(EventPayload):
        thing_id: Identifier
        size: int

    registry = EventRegistry()
    for model, version in ((ThingHappenedV1, 1), (ThingHappened, 2)):
        model.event_type, model.version = "ThingHappened", version
        registry.add_model(model)
    (tmp_path / "events").mkdir()
    assert check_compatibility(tmp_path, registry) == ["ThingHappened v1: no upcaster to v2"]

    registry.add_upcaster("ThingHappened", 1, lambda data: {**data, "size": 0})
    assert check_compatibility(tmp_path, registry) == []


def test_versions_must_be_contiguous(tmp_path: Path) -> None:
    class Gap(EventPayload):
        pass

    Gap.event_type, Gap.version = "Gap", 2
    registry = EventRegistry()
    registry.add_model(Gap)
    registry.add_model(OrderConfirmed)
    assert check_compatibility(tmp_path, registry) == [
        "Gap: versions [2] are not contiguous from 1"
    ]
