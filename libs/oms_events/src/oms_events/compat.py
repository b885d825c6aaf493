"""Guard the published contract: committed payload schemas may only grow compatibly.

A published (type, version) is frozen for consumers: its fields may not be removed,
retyped or made required, and it may not disappear. A change needs a new version
plus an upcaster from the previous one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from oms_events.registry import REGISTRY, EventRegistry
from oms_events.schemas import event_schema

__all__ = ["check_compatibility", "schema_changes"]

_FILE_NAME = re.compile(r"^([A-Za-z][A-Za-z0-9]*)\.v([1-9][0-9]*)\.json$")
# Keywords that document rather than constrain; changing them breaks nobody.
_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$id", "$schema", "$defs", "$comment"}
)
_STRUCTURE = frozenset(
    {"properties", "required", "anyOf", "oneOf", "allOf", "items", "additionalProperties"}
)
_MAX_DEPTH = 50


def check_compatibility(committed_dir: Path, registry: EventRegistry = REGISTRY) -> list[str]:
    """Problems between ``committed_dir/events/*.json`` and the current models; [] if none."""
    problems: list[str] = []
    for path in sorted((committed_dir / "events").glob("*.json")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            problems.append(f"{path.name}: not named <EventType>.v<N>.json")
            continue
        event_type, version = match[1], int(match[2])
        label = f"{event_type} v{version}"
        try:
            registry.payload_model(event_type, version)
        except KeyError:
            problems.append(
                f"{label}: committed schema has no model (a published version was deleted)"
            )
            continue
        try:
            committed = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(f"{label}: committed schema is unreadable: {exc}")
            continue
        current = event_schema(event_type, version, registry)
        problems.extend(f"{label}: {p}" for p in schema_changes(committed, current))

    for event_type in registry.event_types():
        versions = registry.versions(event_type)
        if versions != tuple(range(1, versions[-1] + 1)):
            problems.append(f"{event_type}: versions {list(versions)} are not contiguous from 1")
        for version in versions[:-1]:
            if not registry.has_upcaster(event_type, version):
                problems.append(f"{event_type} v{version}: no upcaster to v{version + 1}")
    return problems


def schema_changes(
    old: Any, new: Any, old_root: Any = None, new_root: Any = None, path: str = ""
) -> list[str]:
    """How ``new`` breaks what ``old`` accepted: fields removed, retyped, constrained or made
    required. Local references (``#/...``) resolve against the roots (default: the schemas)."""
    return _diff(
        path,
        old,
        new,
        old if old_root is None else old_root,
        new if new_root is None else new_root,
        0,
    )


def _resolve(schema: Any, root: dict[str, Any]) -> Any:
    """Follow local ``#/$defs/...`` references so nested value types are compared too."""
    for _ in range(_MAX_DEPTH):
        if not isinstance(schema, dict) or "$ref" not in schema:
            return schema
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return schema
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        if target is None:
            return schema
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _where(path: str) -> str:
    return f"field {path!r}" if path else "payload"


def _diff(
    path: str,
    old: Any,
    new: Any,
    old_root: dict[str, Any],
    new_root: dict[str, Any],
    depth: int,
) -> list[str]:
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    if depth > _MAX_DEPTH or not isinstance(old, dict) or not isinstance(new, dict):
        return [] if old == new else [f"{_where(path)} changed"]

    def child(name: str) -> str:
        return f"{path}.{name}" if path else name

    problems: list[str] = []
    old_props: dict[str, Any] = old.get("properties", {})
    new_props: dict[str, Any] = new.get("properties", {})
    for name, old_sub in old_props.items():
        if name not in new_props:
            problems.append(f"{_where(child(name))} removed")
        else:
            problems.extend(
                _diff(child(name), old_sub, new_props[name], old_root, new_root, depth + 1)
            )
    old_required = set(old.get("required", []))
    for name in sorted(set(new.get("required", [])) - old_required):
        what = "became required" if name in old_props else "added as required"
        problems.append(f"{_where(child(name))} {what}")

    for key in ("anyOf", "oneOf", "allOf"):
        old_alts, new_alts = old.get(key), new.get(key)
        if (
            isinstance(old_alts, list)
            and isinstance(new_alts, list)
            and len(old_alts) == len(new_alts)
        ):
            for o, n in zip(old_alts, new_alts, strict=True):
                problems.extend(_diff(path, o, n, old_root, new_root, depth + 1))
        elif old_alts != new_alts:
            problems.append(f"{_where(path)} retyped ({key} changed)")

    for key in ("items", "additionalProperties"):
        if isinstance(old.get(key), dict) and isinstance(new.get(key), dict):
            problems.extend(_diff(f"{path}[]", old[key], new[key], old_root, new_root, depth + 1))
        elif old.get(key) != new.get(key):
            problems.append(f"{_where(path)} retyped ({key} changed)")

    for key in sorted((old.keys() | new.keys()) - _ANNOTATIONS - _STRUCTURE - {"$ref"}):
        if key.startswith("x-"):
            continue
        if old.get(key) != new.get(key):
            problems.append(f"{_where(path)} retyped ({key}: {old.get(key)!r} -> {new.get(key)!r})")
    return problems
