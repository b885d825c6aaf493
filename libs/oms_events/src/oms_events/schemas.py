"""Render the committed contract under ``schemas/``: JSON Schemas and an AsyncAPI document.

Output is deterministic (sorted keys, stable order, trailing newline) so a test can
compare a fresh rendering with the committed files byte for byte.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from oms_events.codec import CONTENT_TYPE
from oms_events.envelope import Envelope
from oms_events.registry import REGISTRY, EventRegistry, dataschema_urn
from oms_events.topics import TOPICS, TopicSpec

__all__ = [
    "ENVELOPE_SCHEMA_ID",
    "event_schema",
    "event_schema_path",
    "render_schemas",
    "write_schemas",
]

ENVELOPE_SCHEMA_ID = "urn:oms:envelope:v1"
_JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_MEDIA_TYPE = CONTENT_TYPE.split(";", 1)[0]


def event_schema_path(event_type: str, version: int) -> str:
    """Path of one payload schema relative to the schemas directory."""
    return f"events/{event_type}.v{version}.json"


def event_schema(
    event_type: str, version: int, registry: EventRegistry = REGISTRY
) -> dict[str, Any]:
    """JSON Schema of one payload version, identified by its dataschema urn."""
    schema = registry.payload_model(event_type, version).model_json_schema(mode="validation")
    schema["$schema"] = _JSON_SCHEMA_DIALECT
    schema["$id"] = dataschema_urn(event_type, version)
    schema["x-event-type"] = event_type
    schema["x-event-version"] = version
    return schema


def _envelope_schema() -> dict[str, Any]:
    schema = Envelope.model_json_schema(mode="validation")
    schema["$schema"] = _JSON_SCHEMA_DIALECT
    schema["$id"] = ENVELOPE_SCHEMA_ID
    return schema


def render_schemas() -> dict[str, str]:
    """Relative path -> file text for everything under ``schemas/`` this package owns."""
    files = {"envelope.json": _dump_json(_envelope_schema())}
    for event_type, version, _ in REGISTRY.entries():
        files[event_schema_path(event_type, version)] = _dump_json(
            event_schema(event_type, version)
        )
    files["asyncapi.yaml"] = _dump_yaml(_asyncapi())
    return dict(sorted(files.items()))


def write_schemas(out_dir: Path) -> list[Path]:
    """Write :func:`render_schemas` under ``out_dir``; stale event schemas are removed.

    Removing a committed version file is exactly what the compatibility check flags,
    so a deleted model shows up in review rather than lingering on disk.
    """
    rendered = render_schemas()
    events_dir = out_dir / "events"
    events_dir.mkdir(parents=True, exist_ok=True)
    for stale in events_dir.glob("*.json"):
        if f"events/{stale.name}" not in rendered:
            stale.unlink()
    written = []
    for rel, text in rendered.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


# --- AsyncAPI ----------------------------------------------------------------------------


def _channel_id(spec: TopicSpec) -> str:
    return spec.name.removeprefix("oms.")


def _writer(spec: TopicSpec) -> str:
    if spec.owner.startswith("external:"):
        return f"the outside world ({spec.owner.removeprefix('external:')})"
    if spec.owner == "runtime":
        return "every service's runtime"
    return f"the {spec.owner} service"


def _asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for spec in TOPICS:
        cid = _channel_id(spec)
        kind = "Compacted. " if spec.compacted else ""
        hostile = " Input topic: validated as hostile input." if spec.input else ""
        channels[cid] = {
            "address": spec.name,
            "description": (
                f"{kind}Written only by {_writer(spec)}; record key is {spec.key}. "
                f"Unprocessable records go to {spec.dead_letter}.{hostile}"
            ),
            "messages": {
                t: {"$ref": f"#/components/messages/{t}"} for t in sorted(spec.event_types)
            },
            "bindings": {
                "kafka": {
                    "bindingVersion": "0.5.0",
                    "partitions": spec.partitions,
                    "topic": spec.name,
                    "topicConfiguration": _topic_configuration(spec),
                }
            },
        }
        # The document describes the OMS: it receives input topics and sends the rest.
        action = "receive" if spec.input else "send"
        operations[f"{action}-{cid}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{cid}"},
            "messages": [
                {"$ref": f"#/channels/{cid}/messages/{t}"} for t in sorted(spec.event_types)
            ],
            "summary": f"Written by {spec.owner}.",
        }
        for event_type in spec.event_types:
            latest = REGISTRY.latest_version(event_type)
            model = REGISTRY.payload_model(event_type, latest)
            messages[event_type] = {
                "name": event_type,
                "title": event_type,
                "summary": _first_line(model.__doc__),
                "contentType": _MEDIA_TYPE,
                "headers": {"$ref": "#/components/schemas/RecordHeaders"},
                "payload": {
                    "allOf": [
                        {"$ref": "./envelope.json"},
                        {
                            "type": "object",
                            "properties": {
                                "type": {"const": event_type},
                                "dataversion": {"const": latest},
                                "dataschema": {"const": dataschema_urn(event_type, latest)},
                                "data": {"$ref": f"./{event_schema_path(event_type, latest)}"},
                            },
                        },
                    ]
                },
                "bindings": {"kafka": {"bindingVersion": "0.5.0", "key": {"type": "string"}}},
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "OMS events",
            "version": "1.0.0",
            "description": (
                "Public event contract of the order management system. Every record value "
                "is a CloudEvents 1.0 envelope in structured JSON mode; older payload "
                "versions are upcast to the latest on read. Records follow the CloudEvents "
                f"Kafka protocol binding in structured content mode: header content-type "
                f"is {CONTENT_TYPE!r} and there are no ce_ headers."
            ),
        },
        "defaultContentType": _MEDIA_TYPE,
        "servers": {
            "local": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "The local development broker.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": dict(sorted(messages.items())),
            "schemas": {"RecordHeaders": _record_headers()},
        },
    }


def _record_headers() -> dict[str, Any]:
    return {
        "type": "object",
        "description": (
            "Kafka record headers. Structured content mode: the value holds the whole event, "
            "so no header starts with ce_ (a ce_ header would make a CloudEvents reader take "
            "the record for binary mode). Dead-letter twins add oms.dlq.* headers."
        ),
        "properties": {"content-type": {"type": "string", "const": CONTENT_TYPE}},
        "required": ["content-type"],
        "propertyNames": {"not": {"pattern": "^[cC][eE]_"}},
    }


def _topic_configuration(spec: TopicSpec) -> dict[str, Any]:
    cfg: dict[str, Any] = {"cleanup.policy": ["compact" if spec.compacted else "delete"]}
    if spec.retention_ms is not None:
        cfg["retention.ms"] = spec.retention_ms
    return cfg


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n", 1)[0]


# --- deterministic serialisation ---------------------------------------------------------


def _dump_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


_PLAIN_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_.$\-]*$")


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    # JSON string escapes are a subset of YAML double-quoted escapes.
    return json.dumps(str(value), ensure_ascii=False)


def _yaml_key(key: str) -> str:
    plain = _PLAIN_KEY.match(key) and key.lower() not in {"true", "false", "null", "yes", "no"}
    return key if plain else json.dumps(key, ensure_ascii=False)


def _yaml_lines(value: Any, indent: int) -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key in sorted(value):
            item = value[key]
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{_yaml_key(key)}:")
                lines.extend(_yaml_lines(item, indent + 1))
            else:
                lines.append(f"{pad}{_yaml_key(key)}: {_yaml_inline(item)}")
    else:
        for item in value:
            if isinstance(item, dict | list) and item:
                nested = _yaml_lines(item, indent + 1)
                lines.append(f"{pad}- {nested[0].lstrip()}")
                lines.extend(nested[1:])
            else:
                lines.append(f"{pad}- {_yaml_inline(item)}")
    return lines


def _yaml_inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _yaml_scalar(value)


def _dump_yaml(doc: dict[str, Any]) -> str:
    """A small block-style YAML writer; this library avoids depending on a YAML package."""
    return (
        "# Generated by oms_events.schemas; do not edit.\n" + "\n".join(_yaml_lines(doc, 0)) + "\n"
    )
