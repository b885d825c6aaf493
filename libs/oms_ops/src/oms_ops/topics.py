"""The topic registry (``oms_events.topics``) against a cluster: what is there, what differs,
and creating or fixing what is missing.

The local stack, the Compose ``topics`` job and the tests create their topics with
``oms topics apply``. Drift is compared on what the registry sets: the partition count,
``cleanup.policy`` and ``retention.ms`` (and the compaction lags of compacted topics). Only
what Kafka changes safely is fixed: topic configs, and partitions added (never removed: that
would move keys to other partitions and is impossible without recreating the topic).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from oms_events.topics import TopicSpec, all_topic_specs

__all__ = [
    "REPLICATION_FACTOR",
    "ActualTopic",
    "Drift",
    "TopicReport",
    "WantedTopic",
    "actual_topics",
    "compare",
    "create_missing",
    "fix_drift",
    "settle",
    "wanted_topics",
]

REPLICATION_FACTOR = 1
_TOPIC_ALREADY_EXISTS = 36  # Kafka error codes
_DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs config_source: set on the topic itself


@dataclass(frozen=True)
class WantedTopic:
    """A registry topic (or dead-letter twin) under its full, prefixed name."""

    spec: TopicSpec
    name: str

    @property
    def partitions(self) -> int:
        return self.spec.partitions

    @property
    def config(self) -> dict[str, str]:
        return self.spec.config()

    def describe(self) -> dict[str, Any]:
        return {
            "topic": self.name,
            "owner": self.spec.owner,
            "key": self.spec.key,
            "partitions": self.partitions,
            "retention_ms": self.spec.retention_ms,
            "compacted": self.spec.compacted,
            "dead_letter": self.spec.name.endswith(".dlq"),
        }


@dataclass(frozen=True)
class ActualTopic:
    """A topic as the cluster has it: partitions and every config with its value."""

    name: str
    partitions: int
    config: dict[str, str]
    overrides: dict[str, str] = field(default_factory=dict)
    """The configs set on the topic itself (not broker defaults)."""


@dataclass(frozen=True)
class Drift:
    topic: str
    setting: str
    """``partitions`` or a topic config name."""
    wanted: str
    actual: str | None
    fixable: bool
    """Kafka can change it safely: a config, or more partitions (never fewer)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "setting": self.setting,
            "wanted": self.wanted,
            "actual": self.actual,
            "fixable": self.fixable,
        }


@dataclass(frozen=True)
class TopicReport:
    wanted: WantedTopic
    actual: ActualTopic | None
    drift: tuple[Drift, ...]

    @property
    def present(self) -> bool:
        return self.actual is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.wanted.describe(),
            "present": self.present,
            "actual_partitions": self.actual.partitions if self.actual else None,
            "drift": [d.as_dict() for d in self.drift],
        }


def wanted_topics(prefix: str = "", names: Iterable[str] | None = None) -> list[WantedTopic]:
    """Every registry topic followed by its dead-letter twin, under ``prefix``; only those
    named (logical or full names) when ``names`` is given. Unknown names raise ValueError."""
    every = [WantedTopic(spec, spec.full_name(prefix)) for spec in all_topic_specs()]
    if names is None:
        return every
    by_name = {w.spec.name: w for w in every} | {w.name: w for w in every}
    chosen: list[WantedTopic] = []
    for name in names:
        if name not in by_name:
            raise ValueError(f"{name!r} is not a registry topic (oms topics list names them)")
        if by_name[name] not in chosen:
            chosen.append(by_name[name])
    return chosen


def compare(wanted: WantedTopic, actual: ActualTopic | None) -> TopicReport:
    """The differences between the registry and the cluster for one topic."""
    if actual is None:
        return TopicReport(wanted, None, ())
    drift: list[Drift] = []
    if actual.partitions != wanted.partitions:
        drift.append(
            Drift(
                wanted.name,
                "partitions",
                str(wanted.partitions),
                str(actual.partitions),
                fixable=actual.partitions < wanted.partitions,
            )
        )
    for name, value in wanted.config.items():
        if actual.config.get(name) != value:
            drift.append(Drift(wanted.name, name, value, actual.config.get(name), fixable=True))
    return TopicReport(wanted, actual, tuple(drift))


def _overrides(entries: Iterable[Any]) -> tuple[dict[str, str], dict[str, str]]:
    config: dict[str, str] = {}
    overrides: dict[str, str] = {}
    for entry in entries:
        name, value = entry["config_names"], entry["config_value"]
        if value is None:
            continue
        config[name] = value
        source = entry.get("config_source")
        if source == _DYNAMIC_TOPIC_CONFIG or (source is None and not entry.get("is_default")):
            overrides[name] = value
    return config, overrides


async def actual_topics(admin: AIOKafkaAdminClient, names: Iterable[str]) -> dict[str, ActualTopic]:
    """The topics among ``names`` that exist, with their partition counts and configs."""
    present = set(await admin.list_topics())
    found = [n for n in dict.fromkeys(names) if n in present]
    if not found:
        return {}
    described = await admin.describe_topics(found)
    partitions = {d["topic"]: len(d.get("partitions") or ()) for d in described}
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, n) for n in found]
    )
    result: dict[str, ActualTopic] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            name = resource["resource_name"]
            if resource["error_code"]:
                raise RuntimeError(
                    f"describing {name}: Kafka error {resource['error_code']} "
                    f"{resource['error_message'] or ''}".rstrip()
                )
            config, overrides = _overrides(resource["config_entries"])
            result[name] = ActualTopic(name, partitions.get(name, 0), config, overrides)
    return result


async def create_missing(
    admin: AIOKafkaAdminClient, missing: list[WantedTopic]
) -> list[tuple[str, str]]:
    """Create ``missing`` with their partitions and configs; the (topic, error) that failed.
    A topic created meanwhile by someone else counts as created."""
    if not missing:
        return []
    response = await admin.create_topics(
        [
            NewTopic(
                name=w.name,
                num_partitions=w.partitions,
                replication_factor=REPLICATION_FACTOR,
                topic_configs=w.config,
            )
            for w in missing
        ],
        timeout_ms=30_000,
    )
    failed: list[tuple[str, str]] = []
    for entry in response.topic_errors:
        name, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 and entry[2] else ""
        if code not in (0, _TOPIC_ALREADY_EXISTS):
            failed.append((name, f"Kafka error {code} {message}".rstrip()))
    return failed


async def fix_drift(
    admin: AIOKafkaAdminClient, reports: list[TopicReport]
) -> list[tuple[str, str]]:
    """Apply the fixable drift: configs set (keeping the topic's other overrides, as Kafka's
    AlterConfigs replaces them all) and partitions added. The (topic, error) that failed."""
    failed: list[tuple[str, str]] = []
    configs: list[ConfigResource] = []
    grow: dict[str, NewPartitions] = {}
    for report in reports:
        fixable = [d for d in report.drift if d.fixable]
        if not fixable or report.actual is None:
            continue
        if any(d.setting != "partitions" for d in fixable):
            merged = _merged(report.actual.overrides, report.wanted.config)
            configs.append(ConfigResource(ConfigResourceType.TOPIC, report.wanted.name, merged))
        if any(d.setting == "partitions" for d in fixable):
            grow[report.wanted.name] = NewPartitions(total_count=report.wanted.partitions)
    if configs:
        for response in await admin.alter_configs(configs):
            for resource in response.to_object()["resources"]:
                if resource["error_code"]:
                    failed.append(
                        (
                            resource["resource_name"],
                            f"Kafka error {resource['error_code']} "
                            f"{resource['error_message'] or ''}".rstrip(),
                        )
                    )
    for name, new in grow.items():
        try:
            await admin.create_partitions({name: new}, timeout_ms=30_000)
        except Exception as exc:  # aiokafka raises the error class of the code
            failed.append((name, f"{type(exc).__name__}: {exc}"))
    return failed


async def settle(
    admin: AIOKafkaAdminClient, partitions: Mapping[str, int], timeout_s: float = 30.0
) -> list[tuple[str, str]]:
    """Wait until the broker describes each topic with its ``partitions``: the controller
    answers a create or a grow before every broker's metadata has it, and an apply that
    returned must be seen by whatever runs next. The (topic, error) not settled in time."""
    waiting = dict(partitions)
    deadline = time.monotonic() + timeout_s
    while waiting:
        for d in await admin.describe_topics(list(waiting)):
            if d["error_code"] == 0 and len(d.get("partitions") or ()) == waiting.get(d["topic"]):
                waiting.pop(d["topic"], None)
        if not waiting or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    return [
        (name, f"not described with {count} partitions after {timeout_s:.0f} s")
        for name, count in waiting.items()
    ]


def _merged(overrides: Mapping[str, str], wanted: Mapping[str, str]) -> dict[str, str]:
    return {**overrides, **wanted}
