"""``oms topics`` on the real broker: the registry created, drift reported, then fixed."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.admin import NewTopic

from oms_events.codec import decode
from oms_events.topics import TOPICS
from tests.support.kafka import create_topic, read_topic
from tests.support.operator import oms
from tests.support.world import Env

pytestmark = pytest.mark.integration


def _drift(document: dict[str, Any]) -> set[tuple[str, str, bool]]:
    return {(d["topic"], d["setting"], d["fixable"]) for d in document["drift"]}


async def test_apply_creates_the_registry_reports_drift_and_fixes_only_what_is_safe(
    env: Env,
) -> None:
    prefix = f"{env.prefix}apply."
    sourcing, payments = f"{prefix}oms.sourcing", f"{prefix}oms.payments"
    # Made by hand, wrongly: too few partitions and compacted; too many partitions, and an
    # override of its own that a fix must keep.
    await create_topic(
        env.bootstrap,
        NewTopic(sourcing, 2, 1, topic_configs={"cleanup.policy": "compact"}),
        NewTopic(payments, 8, 1, topic_configs={"max.message.bytes": "2000000"}),
    )

    listed = await oms(env, "topics", "list", "--json", prefix=prefix)
    assert listed.code == 0, listed.stderr
    rows = {t["topic"]: t for t in listed.json()["topics"]}
    assert len(rows) == 2 * len(TOPICS)
    assert {name for name, t in rows.items() if t["present"]} == {payments, sourcing}
    assert rows[f"{prefix}oms.availability"]["compacted"] is True
    assert rows[f"{prefix}oms.orders.dlq"]["retention_ms"] == 30 * 24 * 3600 * 1000

    applied = await oms(env, "topics", "apply", "--json", prefix=prefix)
    assert applied.code == 6, applied.stderr  # drift left: not asked to fix it
    document = applied.json()
    assert len(document["created"]) == 2 * len(TOPICS) - 2 and sourcing not in document["created"]
    assert _drift(document) == {
        (sourcing, "partitions", True),
        (sourcing, "cleanup.policy", True),
        (sourcing, "retention.ms", True),
        (payments, "partitions", False),
        (payments, "retention.ms", True),
    }
    assert document["fixed"] == []
    fixed = await oms(env, "topics", "apply", "--fix", "--json", prefix=prefix)
    assert fixed.code == 6, fixed.stderr  # 8 partitions cannot become 6
    # What the first apply found is still there: it changed nothing.
    found = {(d["setting"], d["actual"]) for d in fixed.json()["drift"] if d["topic"] == sourcing}
    assert {("partitions", "2"), ("cleanup.policy", "compact")} < found
    assert {(d["topic"], d["setting"]) for d in fixed.json()["fixed"]} == {
        (sourcing, "partitions"),
        (sourcing, "cleanup.policy"),
        (sourcing, "retention.ms"),
        (payments, "retention.ms"),
    }
    after = await oms(env, "topics", "list", "--json", prefix=prefix)
    rows = {t["topic"]: t for t in after.json()["topics"]}
    assert all(t["present"] for t in rows.values())
    assert rows[sourcing]["actual_partitions"] == 6
    # Created and fixed alike now match the registry; only the unsafe change is left.
    assert [(n, d["setting"]) for n, t in rows.items() for d in t["drift"]] == [
        (payments, "partitions")
    ]
    kept = (await oms(env, "topics", "describe", payments, "--json", prefix=prefix)).json()
    assert kept["actual_partitions"] == 8
    assert [(o["partition"], o["first"], o["end"]) for o in kept["offsets"]] == [
        (p, 0, 0) for p in range(8)
    ]
    assert kept["config"]["retention.ms"] == "-1"
    assert kept["config"]["max.message.bytes"] == "2000000"
    assert _drift(kept) == {(payments, "partitions", False)}

    audit = await read_topic(env.bootstrap, f"{prefix}oms.operator-audit", at_least=2)
    actions = [decode(r.value).payload.model_dump(mode="json") for r in audit]
    assert [a["action"] for a in actions] == ["apply_topics", "apply_topics"]
    assert actions[0]["parameters"]["created"].count(",") == 2 * len(TOPICS) - 3
    assert "oms.payments:retention.ms" in actions[1]["parameters"]["fixed"]
    assert actions[1]["subject"] == f"topics:{prefix}"


async def test_a_dry_run_creates_nothing_and_describe_names_what_is_wrong(env: Env) -> None:
    unknown = await oms(env, "topics", "describe", "oms.nope")
    assert unknown.code == 2
    assert "not a registry topic" in unknown.stderr
    empty = f"{env.prefix}none."
    dry = await oms(env, "topics", "apply", "--dry-run", "--json", prefix=empty)
    assert dry.code == 0, dry.stderr
    assert len(dry.json()["would_create"]) == 2 * len(TOPICS)
    missing = await oms(env, "topics", "describe", "oms.orders", prefix=empty)
    assert missing.code == 4
    assert "does not exist" in missing.stderr
