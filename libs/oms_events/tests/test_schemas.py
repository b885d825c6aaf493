"""schemas/ at the repository root is generated, current and compatible."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from oms_events.codec import CONTENT_TYPE, decode, encode
from oms_events.compat import check_compatibility
from oms_events.registry import REGISTRY, latest_version
from oms_events.schemas import _asyncapi, render_schemas, write_schemas
from oms_events.topics import TOPICS

REPO_ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = REPO_ROOT / "schemas"
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
RENDERED = render_schemas()
REGENERATE = (
    'run: python -c "from pathlib import Path; from oms_events.schemas import write_schemas; '
    "write_schemas(Path('schemas'))\" (make schemas)"
)


def test_committed_schemas_are_up_to_date() -> None:
    stale = [
        rel
        for rel, text in RENDERED.items()
        if not (SCHEMAS / rel).is_file() or (SCHEMAS / rel).read_text(encoding="utf-8") != text
    ]
    extra = sorted(
        f"events/{p.name}"
        for p in (SCHEMAS / "events").glob("*.json")
        if f"events/{p.name}" not in RENDERED
    )
    assert (stale, extra) == ([], []), f"schemas/ is stale; {REGENERATE}"


def test_committed_schemas_are_compatible() -> None:
    assert check_compatibility(SCHEMAS) == []


def test_one_schema_per_registered_version() -> None:
    events = {rel for rel in RENDERED if rel.startswith("events/")}
    assert events == {f"events/{t}.v{v}.json" for t, v, _ in REGISTRY.entries()}
    for t, v, _ in REGISTRY.entries():
        schema = json.loads(RENDERED[f"events/{t}.v{v}.json"])
        assert schema["$id"] == f"urn:oms:event:{t}:v{v}"
        assert schema["additionalProperties"] is False


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    first = {p: p.read_bytes() for p in write_schemas(tmp_path)}
    stale = tmp_path / "events" / "OrderTeleported.v1.json"
    stale.write_text("{}")
    second = {p: p.read_bytes() for p in write_schemas(tmp_path)}
    assert first == second
    assert not stale.exists()


@pytest.mark.parametrize("fixture", sorted(GOLDEN_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_json_schemas_accept_the_golden_fixtures(fixture: Path) -> None:
    doc = json.loads(fixture.read_text())
    envelope_schema = json.loads(RENDERED["envelope.json"])
    jsonschema.validate(doc, envelope_schema)
    payload_schema = json.loads(RENDERED[f"events/{doc['type']}.v{doc['dataversion']}.json"])
    jsonschema.validate(doc["data"], payload_schema)


@pytest.mark.parametrize("fixture", sorted(GOLDEN_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_the_envelope_schema_accepts_old_and_new_records(fixture: Path) -> None:
    # The golden fixtures are old records (an integer sequence); re-encoded, they are new ones.
    envelope_schema = json.loads(RENDERED["envelope.json"])
    old = json.loads(fixture.read_text())
    new = json.loads(encode(decode(fixture.read_bytes()).envelope))
    assert isinstance(old["sequence"], int)
    assert new["sequence"] == f"{old['sequence']:019d}"
    for doc in (old, new):
        jsonschema.validate(doc, envelope_schema)
    for bad in ("-1", "1" * 20, 1.5, None):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**new, "sequence": bad}, envelope_schema)


def test_json_schema_rejects_what_the_model_rejects() -> None:
    doc = json.loads((GOLDEN_DIR / "OrderSubmitted.v2.json").read_text())
    schema = json.loads(RENDERED["events/OrderSubmitted.v2.json"])
    doc["data"]["lines"][0]["quantity"] = 0
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc["data"], schema)


class TestAsyncApi:
    doc: dict[str, Any] = yaml.safe_load(RENDERED["asyncapi.yaml"])

    def test_yaml_writer_round_trips(self) -> None:
        assert self.doc == _asyncapi()

    def test_channels_are_the_topics(self) -> None:
        assert self.doc["asyncapi"] == "3.0.0"
        addresses = {c["address"] for c in self.doc["channels"].values()}
        assert addresses == {t.name for t in TOPICS}

    def test_messages_reference_the_latest_payload_schema(self) -> None:
        messages = self.doc["components"]["messages"]
        assert set(messages) == {t for t, _, _ in REGISTRY.entries()}
        for event_type, message in messages.items():
            data_ref = message["payload"]["allOf"][1]["properties"]["data"]["$ref"]
            latest = latest_version(event_type)
            assert data_ref == f"./events/{event_type}.v{latest}.json"
            assert data_ref.removeprefix("./") in RENDERED

    def test_messages_declare_the_structured_mode_headers(self) -> None:
        headers_schema = self.doc["components"]["schemas"]["RecordHeaders"]
        assert self.doc["defaultContentType"] == "application/cloudevents+json"
        for message in self.doc["components"]["messages"].values():
            assert message["contentType"] == "application/cloudevents+json"
            assert message["headers"] == {"$ref": "#/components/schemas/RecordHeaders"}
        jsonschema.validate({"content-type": CONTENT_TYPE}, headers_schema)
        for bad in ({}, {"content-type": CONTENT_TYPE, "ce_type": "OrderCompleted"}):
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate(bad, headers_schema)

    def test_operations_send_or_receive_every_channel(self) -> None:
        operations = self.doc["operations"]
        assert len(operations) == len(TOPICS)
        for spec in TOPICS:
            cid = spec.name.removeprefix("oms.")
            action = "receive" if spec.input else "send"
            assert operations[f"{action}-{cid}"]["channel"] == {"$ref": f"#/channels/{cid}"}
