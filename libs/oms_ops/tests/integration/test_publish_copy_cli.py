"""``oms publish`` and ``oms copy`` on the real broker."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka.admin import NewTopic

from tests.support.kafka import create_topic, produce, read_topic
from tests.support.operator import audit_events, canceled, oms
from tests.support.world import Env

pytestmark = pytest.mark.integration


async def test_a_file_is_published_whole_or_not_at_all_and_copied_back_out(
    env: Env, tmp_path: Path
) -> None:
    orders = env.topic("oms.orders")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(canceled("ORD-1") + b"\n\n{not json\n" + canceled("ORD-2")[:-2] + b"\n")
    refused = await oms(env, "publish", str(bad), "--topic", "oms.orders", "--json")
    assert refused.code == 7, refused.stderr
    assert [line.split(":")[0] for line in refused.json()["bad_lines"]] == ["line 3", "line 4"]

    good = tmp_path / "good.jsonl"
    good.write_bytes(b"\n".join(canceled(f"ORD-{n}") for n in range(4)) + b"\n")
    published = await oms(env, "publish", str(good), "--topic", "oms.orders", "--json")
    assert published.code == 0, published.stderr
    assert published.json()["published"] == 4
    # Not an event: a copy filtered by event type leaves it out, an unfiltered one keeps it.
    await produce(env.bootstrap, orders, [b"garbage"], key=b"ORD-0")
    on_topic = await read_topic(env.bootstrap, orders, at_least=5)
    assert sorted(r.key for r in on_topic if r.value != b"garbage") == [
        f"ORD-{n}".encode() for n in range(4)
    ]  # the refused file sent nothing; the good one keyed by order id

    copied = tmp_path / "copy.jsonl"
    to_file = await oms(
        env, "copy", "oms.orders", "--to-file", str(copied), "-e", "OrderCanceled", "--json"
    )
    assert to_file.code == 0, to_file.stderr
    assert (to_file.json()["read"], to_file.json()["copied"]) == (5, 4)
    assert sorted(copied.read_bytes().splitlines()) == sorted(
        r.value for r in on_topic if r.value != b"garbage"
    )

    investigation = env.topic("investigation")
    await create_topic(env.bootstrap, NewTopic(investigation, 1, 1))
    to_topic = await oms(env, "copy", "oms.orders", "--to-topic", investigation, "--json")
    assert to_topic.code == 0, to_topic.stderr
    assert to_topic.json()["copied"] == 5
    copies = await read_topic(env.bootstrap, investigation, at_least=5)
    origins = {(r.partition, r.offset, r.key, r.value) for r in on_topic}
    assert {
        (*map(int, c.headers["oms.copied-from"].decode().rsplit(":", 2)[1:]), c.key, c.value)
        for c in copies
    } == origins

    audits = await audit_events(env, at_least=3)
    assert [(a["action"], a["parameters"]["outcome"]) for a in audits] == [
        ("publish_events", "ok"),
        ("copy_events", "ok"),
        ("copy_events", "ok"),
    ]
    assert audits[0]["parameters"]["event_types"] == "OrderCanceled:4"
    assert audits[1]["parameters"]["copied"] == "4"
