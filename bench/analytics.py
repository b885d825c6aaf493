"""Analytics benchmark: how fast the faust worker counts a realistic stream of every topic it
reads, and what its tables write to their changelog for it.

One run, on the local stack with its own topic prefix, group suffix and database:

1. ``--orders`` orders' events (placed, paid, sourced, shipped, completed; rejections,
   cancellations, backorders, re-sourcing, returns and refunds; stock-outs and commits: the
   kill test's stream, about 7 events an order) are produced to the six topics, keyed as
   the services key them.
2. The worker starts and counts them, timed from its readiness until its group has
   committed every end offset (a commit waits for the changelog records of the events it
   covers, so that is also when every table write is at the broker).
3. The changelog is read back: its records and bytes, and of those the journal's.
4. ``oms rebuild analytics`` counts every event again into a fresh database (the worker's own
   counting over a table in memory, no changelog) and compares each table with the live
   state: timed by the rebuild's own clock (the reading and counting only).

    python bench/analytics.py --orders 3000        # make bench-analytics
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.replay import oms
from oms_events.topics import topic
from tests.support.analytics_stream import SOURCE_TOPICS, order_stream, send_keyed
from tests.support.kafka import committed_and_end_offsets, create_topics
from tests.support.rebuild import group_idle
from tests.support.stack import REPO, provide_stack
from tests.support.waiting import wait_for
from tests.support.world import Env


async def caught_up(env: Env, group: str, deadline_s: float = 900) -> float:
    """Seconds until ``group`` has committed the end of every partition of every topic."""
    started = time.perf_counter()
    while time.perf_counter() - started < deadline_s:
        behind = 0
        for name in SOURCE_TOPICS:
            committed, end = await committed_and_end_offsets(
                env.bootstrap, group, env.topic(name), topic(name).partitions
            )
            behind += sum(end[p] - (committed[p] or 0) for p in end)
        if not behind:
            return time.perf_counter() - started
        await asyncio.sleep(0.2)  # polling the broker's offsets, with the deadline above
    raise TimeoutError(f"{group} did not catch up within {deadline_s:g} s")


async def changelogs(env: Env, app_id: str) -> dict[str, Any]:
    """Records and value bytes of the worker's changelog topics, and of the journal's keys."""
    consumer = AIOKafkaConsumer(bootstrap_servers=env.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        names = sorted(
            t for t in await consumer.topics() if t.startswith(app_id) and "changelog" in t
        )
        count = topic(SOURCE_TOPICS[0]).partitions  # faust's changelogs have as many
        partitions = [TopicPartition(name, p) for name in names for p in range(count)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        totals = {
            "topics": len(names),
            "records": 0,
            "bytes": 0,
            "journal_records": 0,
            "journal_bytes": 0,
        }
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                for record in records:
                    size = len(record.value or b"")
                    totals["records"] += 1
                    totals["bytes"] += size
                    if (record.key or b"").startswith(b'"journal/'):
                        totals["journal_records"] += 1
                        totals["journal_bytes"] += size
        return totals
    finally:
        await consumer.stop()


async def main(orders: int) -> int:
    stack, _ = provide_stack()
    log_dir = REPO / "bench-results" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = Env(stack, log_dir)
    await create_topics(stack.bootstrap, env.prefix)
    stream = order_stream(orders)
    events = sum(len(timed) for timed in stream.values())
    try:
        await send_keyed(env, stream)
        worker = await env.service("analytics", OMS_LOG_LEVEL="WARNING")
        await worker.wait_ready()
        counting_s = await caught_up(env, f"{env.prefix}oms-analytics-{env.run}")
        worker.stop()
        written = await changelogs(env, f"{env.prefix}oms-analytics-{env.run}")
        group = f"{env.prefix}oms-analytics-{env.run}"
        await wait_for(lambda: group_idle(env, "analytics", group), what="the worker gone")
        database = await env.database("analytics")
        env.databases.append(f"t{env.run}_analytics_rebuild")
        args = ("rebuild", "analytics", "--json")
        rebuilt = json.loads(oms(env, *args, database=database, service="analytics").stdout)
    finally:
        await env.close()
    result = {
        "orders": orders,
        "events": events,
        "counting_s": round(counting_s, 2),
        "events_per_s": round(events / counting_s),
        "changelog": written,
        "changelog_records_per_event": round(written["records"] / events, 2),
        "rebuild_per_s": round(rebuilt["events"] / rebuilt["seconds"]),
        "rebuild_events": rebuilt["events"],
        "rebuild_tables_match": rebuilt["match"],
        "rebuild_differs": [t["table"] for t in rebuilt["tables"] if not t["match"]],
        "rebuild_state_differences": rebuilt["state_differences"],
    }
    print(json.dumps(result, indent=2))
    out = REPO / "bench-results" / f"analytics-{int(time.time())}.json"
    out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=3000)
    raise SystemExit(asyncio.run(main(parser.parse_args().orders)))
