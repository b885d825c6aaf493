"""Replay benchmark: how fast a service reads a topic again after ``oms replay``, next to how
fast the raw broker hands the same records to a bare consumer and how fast ``oms copy``
writes them to a file.

One run, on the local stack with its own topic prefix, group suffix and database:

1. ``--events`` StockReceived records (one receipt each for 1,000 SKUs at one warehouse, in
   turn) are produced to ``oms.inventory-feed``.
2. **raw**: a consumer with no group reads them all (``getmany``), decoding nothing.
3. **first pass**: an inventory worker applies them (stock moves, availability published);
   timed from its readiness to its group's lag 0.
4. **replay**: the worker stops, ``oms replay inventory --from-start`` moves its group back
   to offset 0, the worker starts again and reads every record a second time; each is a
   duplicate its inbox drops. Timed the same way. The stock and the records inventory
   published are compared before and after: a replay must change nothing.
5. **rebuild**: ``oms rebuild inventory`` runs the service's handlers over every record again
   into a fresh database and compares each table with the live one; timed by the rebuild's
   own clock (its handlers, not the processes' start). It must match and publish nothing.
6. **copy**: ``oms copy`` writes the topic to a JSON-lines file.

    python bench/replay.py --events 100000       # make bench-replay
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from oms_events.inventory import StockReceived
from oms_events.topics import topic
from tests.support.inventory import CATALOGUE, MUNICH, event, run_cli
from tests.support.kafka import committed_and_end_offsets, create_topics
from tests.support.processes import ServiceProcess
from tests.support.stack import REPO, provide_stack
from tests.support.world import Env

SKUS = [f"REPLAY-{n:04d}" for n in range(1000)]
FEED = "oms.inventory-feed"
OMS = Path(sys.executable).parent / "oms"


async def produce_receipts(env: Env, count: int) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=env.bootstrap, enable_idempotence=True, linger_ms=20
    )
    await producer.start()
    try:
        now = datetime.now(UTC)
        pending = []
        for n in range(count):
            sku = SKUS[n % len(SKUS)]
            key = f"{sku}@{MUNICH}"
            receipt = StockReceived(
                sku=sku, location_id=MUNICH, receipt_id=f"r-{n}", quantity=1, received_at=now
            )
            pending.append(
                await producer.send(env.topic(FEED), event(receipt, key), key=key.encode())
            )
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def raw_read(env: Env, count: int) -> float:
    """Records/s a bare consumer gets from the broker, everything from offset 0."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=env.bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(env.topic(FEED), p) for p in range(topic(FEED).partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        started, read = time.perf_counter(), 0
        while read < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            read += sum(len(records) for records in batches.values())
        return read / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def caught_up(env: Env, group: str, deadline_s: float = 900) -> float:
    """Seconds until ``group`` has committed the end of every partition of the feed."""
    started = time.perf_counter()
    while time.perf_counter() - started < deadline_s:
        committed, end = await committed_and_end_offsets(
            env.bootstrap, group, env.topic(FEED), topic(FEED).partitions
        )
        if all((committed[p] or 0) >= end[p] for p in end):
            return time.perf_counter() - started
        await asyncio.sleep(0.2)  # polling the broker's offsets, with the deadline above
    raise TimeoutError(f"{group} did not catch up within {deadline_s:g} s")


async def pass_over(env: Env, group: str) -> tuple[ServiceProcess, float]:
    worker = await env.service("inventory", OMS_LOG_LEVEL="WARNING")
    await worker.wait_ready()
    return worker, await caught_up(env, group)


async def state(env: Env) -> dict[str, Any]:
    """The feed's stock and how many records inventory has published so far."""
    rows = await env.fetch(
        "inventory",
        "SELECT coalesce(sum(on_hand), 0) AS units, count(*) AS n FROM stock"
        " WHERE sku LIKE 'REPLAY-%'",
    )
    published = topic("oms.inventory")
    _, end = await committed_and_end_offsets(
        env.bootstrap, f"bench-{env.run}", env.topic(published.name), published.partitions
    )
    return {
        "units": int(rows[0]["units"]),
        "stock_rows": rows[0]["n"],
        "published": sum(end.values()),
    }


def oms(
    env: Env, *args: str, database: str = "", service: str = "inventory"
) -> subprocess.CompletedProcess[str]:
    """``oms ARGS`` on the run's topics and groups, ``service``'s database at ``database``;
    exits when it fails."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OMS_", "KAFKA_"))}
    environ.update(
        KAFKA_BOOTSTRAP_SERVERS=env.bootstrap,
        OMS_TOPIC_PREFIX=env.prefix,
        OMS_GROUP_SUFFIX=f"-{env.run}",
        OMS_SERVICES=service,
        OMS_OPERATOR="bench",
    )
    environ[f"OMS_{service.upper()}_DATABASE_URL"] = database
    done = subprocess.run([str(OMS), *args], env=environ, capture_output=True, text=True)
    if done.returncode not in (0, 8):  # 8: the rebuilt state differs (reported)
        raise SystemExit(f"oms {' '.join(args)}: {done.stderr}")
    return done


async def main(count: int) -> int:
    stack, _ = provide_stack()
    log_dir = REPO / "bench-results" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = Env(stack, log_dir)
    await create_topics(stack.bootstrap, env.prefix)
    group = f"oms-inventory-{env.run}"
    try:
        path = log_dir / f"catalogue-{env.run}.json"
        document = {
            **CATALOGUE,
            "items": [*CATALOGUE["items"], *({"sku": s, "name": s} for s in SKUS)],
        }
        path.write_text(json.dumps(document))
        done = run_cli(env, await env.database("inventory"), "catalogue", "import", str(path))
        if done.returncode:
            raise SystemExit(done.stderr)
        started = time.perf_counter()
        await produce_receipts(env, count)
        produced = count / (time.perf_counter() - started)
        raw = await raw_read(env, count)

        worker, first_s = await pass_over(env, group)
        before = await state(env)
        worker.stop()
        oms(env, "replay", "inventory", "--from-start", "--topic", FEED, "--note", "bench")
        worker, replay_s = await pass_over(env, group)
        after = await state(env)
        worker.stop()

        # The service's handlers again, into a fresh database, compared table by table.
        database = await env.database("inventory")
        env.databases.append(f"t{env.run}_inventory_rebuild")
        rebuilt = json.loads(oms(env, "rebuild", "inventory", "--json", database=database).stdout)
        after_rebuild = await state(env)

        copied = log_dir / f"copy-{env.run}.jsonl"
        started = time.perf_counter()
        oms(env, "copy", FEED, "--to-file", str(copied), "--json")
        copy_s = time.perf_counter() - started
        lines = sum(1 for _ in copied.open())
        copied.unlink()
    finally:
        await env.close()

    result = {
        "events": count,
        "produced_per_s": round(produced),
        "raw_consumer_per_s": round(raw),
        "first_pass_per_s": round(count / first_s),
        "replay_per_s": round(count / replay_s),
        "copy_per_s": round(lines / copy_s),
        "copied": lines,
        "rebuild_per_s": round(rebuilt["events"] / rebuilt["seconds"]),
        "rebuild_events": rebuilt["events"],
        "rebuild_tables_match": rebuilt["match"],
        "rebuild_published_nothing": after_rebuild == after,
        "state_before_replay": before,
        "state_after_replay": after,
        "replay_changed_nothing": before == after and before["units"] == count,
    }
    exact = result["rebuild_tables_match"] and result["rebuild_published_nothing"]
    out = REPO / "bench-results" / f"replay-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(result, indent=2))
    for name in (
        "produced_per_s",
        "raw_consumer_per_s",
        "first_pass_per_s",
        "replay_per_s",
        "rebuild_per_s",
        "copy_per_s",
    ):
        print(f"{name:>20} {result[name]:>9,} events/s")
    print(
        f"{'replay changed':>20} {'nothing' if result['replay_changed_nothing'] else 'SOMETHING'}"
        f" (stock units {before['units']} -> {after['units']}, inventory records published"
        f" {before['published']} -> {after['published']})"
    )
    print(
        f"{'rebuild':>20} {'matches, published nothing' if exact else 'DIFFERS'}"
        f" ({result['rebuild_events']} events, the handlers' time only)"
    )
    print(f"\nJSON: {out}")
    return 0 if result["replay_changed_nothing"] and exact else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="records to produce and replay")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.events)))
