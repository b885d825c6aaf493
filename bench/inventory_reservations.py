"""Reservation benchmark: an open-loop load of ReserveStock on two inventory instances.

Requests are sent at a fixed rate, each timed from its *intended* send time, to two inventory
workers in one consumer group; the answer (StockReserved or ReservationFailed) is read from
``oms.inventory``. A fifth of the requests go to one hot SKU at one location, so the two
instances really contend for the same row, and that SKU sells out at the higher rates: the
report shows its reserved units against its stock and flags any oversell.

    python bench/inventory_reservations.py --rates 300,600 --duration 20   # make bench
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.order_pipeline import percentiles, rate_list, seconds
from bench.probes import cpu_seconds
from oms_events.inventory import StockReceived
from tests.support.inventory import CATALOGUE, HAMBURG, MUNICH, TSHIRT, event, reserve, run_cli
from tests.support.kafka import create_topics
from tests.support.processes import ServiceProcess
from tests.support.stack import REPO, provide_stack
from tests.support.world import Env

SKUS = [f"BENCH-{n:03d}" for n in range(100)]
HOT_UNITS = 1000
_ANSWER = re.compile(rb'"type":"(?:StockReserved|ReservationFailed)"')


@dataclass
class StepResult:
    rate: int
    sent: int
    answered: int
    lost: int
    answers_per_s: float
    latency_ms: dict[str, float]
    hot_reserved: int
    hot_stock: int
    oversold: bool
    cpu_percent: dict[str, float]


def catalogue() -> dict[str, Any]:
    return {
        "items": [*CATALOGUE["items"], *({"sku": s, "name": s} for s in SKUS)],
        "locations": CATALOGUE["locations"],
    }


async def collect(
    bootstrap: str, topic: str, answers: dict[str, float], stop: asyncio.Event, expected: int
) -> None:
    """Note when each reservation was answered; stop once ``expected`` are, or when told."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        while not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        while not stop.is_set():
            for messages in (await consumer.getmany(timeout_ms=100)).values():
                now = time.monotonic()
                for m in messages:
                    # Most records here are availability changes: a bytes test skips them, and
                    # the answers are read without validation, so the load generator's own CPU
                    # (it shares the machine) stays small next to the workers'.
                    if _ANSWER.search(m.value or b""):
                        doc = orjson.loads(m.value or b"")
                        answers.setdefault(doc["data"]["reservation_id"], now)
            if len(answers) >= expected:
                stop.set()
    finally:
        await consumer.stop()


async def run_step(
    env: Env, workers: list[ServiceProcess], rate: int, duration: float
) -> StepResult:
    count = int(rate * duration)
    stamp = f"{rate}-{time.time_ns() % 10**9}"
    requests = []
    for n in range(count):
        hot = n % 5 == 0
        sku, location = (TSHIRT, HAMBURG) if hot else (SKUS[n % len(SKUS)], MUNICH)
        payload = reserve(f"b{stamp}-{n}", (sku, location, 1), hold_for_s=3600)
        requests.append((payload.order_id, event(payload, payload.order_id, "bench")))
    answers: dict[str, float] = {}
    stop = asyncio.Event()
    collector = asyncio.ensure_future(
        collect(env.bootstrap, env.topic("oms.inventory"), answers, stop, count)
    )
    await asyncio.sleep(1.0)  # the collector's consumer seeks to the end first
    producer = AIOKafkaProducer(
        bootstrap_servers=env.bootstrap, enable_idempotence=True, linger_ms=2
    )
    await producer.start()
    cpu_before = {
        f"inventory-{i}": cpu_seconds(w.proc.pid) for i, w in enumerate(workers) if w.proc
    }
    bench_cpu_before = cpu_seconds(os.getpid())
    intended: dict[str, float] = {}
    started = time.monotonic()
    try:
        sent, pending = 0, []
        while sent < count:
            due = min(count, int((time.monotonic() - started) * rate) + 1)
            for key, value in requests[sent:due]:
                intended[f"res-{key}-1"] = started + len(intended) / rate
                pending.append(
                    await producer.send(
                        env.topic("oms.reservation-requests"), value, key=key.encode()
                    )
                )
            sent = due
            await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
        await asyncio.gather(*pending)
        try:
            await asyncio.wait_for(stop.wait(), 120)
        except TimeoutError:
            pass  # reported as lost
    finally:
        stop.set()
        await collector
        await producer.stop()
    elapsed = time.monotonic() - started
    cpu = {
        name: round(100 * (cpu_seconds(w.proc.pid) - cpu_before[name]) / elapsed, 1)
        for name, w in zip(cpu_before, workers, strict=True)
        if w.proc
    }
    cpu["bench"] = round(100 * (cpu_seconds(os.getpid()) - bench_cpu_before) / elapsed, 1)
    rows = await env.fetch(
        "inventory",
        "SELECT on_hand, reserved FROM stock WHERE sku = $1 AND location_id = $2",
        TSHIRT,
        HAMBURG,
    )
    last = max(answers.values(), default=started)
    return StepResult(
        rate=rate,
        sent=count,
        answered=len(answers),
        lost=count - len(answers),
        answers_per_s=round(len(answers) / max(last - started, 1e-9), 1),
        latency_ms={
            k: round(v, 1)
            for k, v in percentiles(
                [1000 * (t - intended[r]) for r, t in answers.items() if r in intended]
            ).items()
        },
        hot_reserved=rows[0]["reserved"],
        hot_stock=rows[0]["on_hand"],
        oversold=rows[0]["reserved"] > rows[0]["on_hand"],
        cpu_percent=cpu,
    )


async def main(rates: list[int], duration: float) -> int:
    stack, _ = provide_stack()
    log_dir = REPO / "bench-results" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = Env(stack, log_dir)
    await create_topics(stack.bootstrap, env.prefix)
    steps: list[StepResult] = []
    try:
        path = log_dir / f"catalogue-{env.run}.json"
        path.write_text(json.dumps(catalogue()))
        done = run_cli(env, await env.database("inventory"), "catalogue", "import", str(path))
        if done.returncode:
            raise SystemExit(done.stderr)
        workers = [await env.service("inventory", OMS_LOG_LEVEL="WARNING") for _ in range(2)]
        for worker in workers:
            await worker.wait_ready()
        producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap, enable_idempotence=True)
        await producer.start()
        now = datetime.now(UTC)
        for n, (sku, location, units) in enumerate(
            [(TSHIRT, HAMBURG, HOT_UNITS), *((s, MUNICH, 1_000_000) for s in SKUS)]
        ):
            receipt = StockReceived(
                sku=sku,
                location_id=location,
                receipt_id=f"bench-{n}",
                quantity=units,
                received_at=now,
            )
            key = f"{sku}@{location}"
            await producer.send(
                env.topic("oms.inventory-feed"), event(receipt, key), key=key.encode()
            )
        await producer.stop()
        for rate in rates:
            step = await run_step(env, workers, rate, duration)
            steps.append(step)
            print(f"rate {rate}/s: {step.answered}/{step.sent} answered", file=sys.stderr)
    finally:
        await env.close()
    out = REPO / "bench-results" / f"inventory-reservations-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps([asdict(s) for s in steps], indent=2))
    print(
        f"{'rate/s':>7} {'sent':>7} {'lost':>5} {'answers/s':>10} {'p50/p95/p99 ms':>26}"
        f" {'hot reserved/stock':>19}  cpu %"
    )
    for s in steps:
        lat = s.latency_ms
        print(
            f"{s.rate:>7} {s.sent:>7} {s.lost:>5} {s.answers_per_s:>10}"
            f" {lat['p50']:>8}/{lat['p95']:>8}/{lat['p99']:>8} {s.hot_reserved:>9}/{s.hot_stock:<9}"
            f"  {', '.join(f'{k} {v}' for k, v in s.cpu_percent.items())}"
            + ("  OVERSOLD" if s.oversold else "")
        )
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rates", type=rate_list, default="300,600", help="requests per second, comma-separated"
    )
    parser.add_argument("--duration", type=seconds, default=20.0, help="seconds per rate")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.rates, args.duration)))
