"""Order pipeline benchmark: an open-loop load on the real services, broker and database.

Orders are sent at a fixed rate, each timed from its *intended* send time (no coordinated
omission), through the order service (validation, payment authorisation, outbox), the
orchestration service (sourcing, the saga), the inventory service (reservations) and the
notification service, until each order is allocated. Calibration figures for the raw broker
(Kafka's producer performance tool) and the raw database (pgbench) come from the same run on
the same machine.

    python bench/order_pipeline.py --rates 100,200 --duration 30     # make bench
    python bench/order_pipeline.py --rates 200 --duration 300        # the 5-minute bar
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from oms_events.codec import decode, encode
from oms_events.inventory import StockReceived
from oms_order.domain.identity import order_id_for
from tests.conftest import Env
from tests.support.inventory import CATALOGUE, HAMBURG, run_cli
from tests.support.inventory import event as inventory_event
from tests.support.kafka import create_topics
from tests.support.orchestration import write_sourcing
from tests.support.orders import CHANNEL, channel_event, order_submitted
from tests.support.processes import ServiceProcess
from tests.support.stack import REPO, provide_stack

BENCH_SKU = "SKU-TSHIRT-M"  # what tests.support.orders orders
KAFKA_LIBS = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "oms/kafka-4.3.1/libs"
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class StepResult:
    rate: int
    duration_s: float
    sent: int
    accepted: int
    confirmed: int
    allocated: int
    lost: int
    achieved_orders_per_s: float
    accepted_ms: dict[str, float]
    confirmed_ms: dict[str, float]
    allocated_ms: dict[str, float]
    events_out_per_s: float
    cpu_percent: dict[str, float]
    max_outbox_backlog: float
    max_consumer_lag: float


@dataclass
class Report:
    machine: str
    started_at: str
    calibration: dict[str, Any] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    return {"p50": q[49], "p95": q[94], "p99": q[98], "max": max(values)}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def raw_kafka(bootstrap: str, topic: str) -> dict[str, Any]:
    """Kafka's own producer performance tool: 512-byte records, acks=all, idempotent."""
    command = [
        "java",
        "-Xmx512m",
        "-cp",
        f"{KAFKA_LIBS}/*",
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic",
        topic,
        "--num-records",
        "300000",
        "--record-size",
        "512",
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={bootstrap}",
        "acks=all",
        "enable.idempotence=true",
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=300).stdout
    match = re.findall(r"([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency", out)
    if not match:
        return {"error": out[-500:]}
    records, mb, latency = match[-1]
    return {
        "records_per_s": float(records),
        "mb_per_s": float(mb),
        "avg_latency_ms": float(latency),
    }


def raw_postgres(admin_dsn: str, database: str) -> dict[str, Any]:
    """pgbench's TPC-B-like transactions, 4 clients for 15 s, on a scale-1 database."""
    subprocess.run(["psql", admin_dsn, "-qc", f'CREATE DATABASE "{database}"'], check=True)
    dsn = admin_dsn.rsplit("/", 1)[0] + f"/{database}"
    pgbench = next(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))
    subprocess.run([str(pgbench), "-q", "-i", "-s", "1", dsn], capture_output=True, check=True)
    out = subprocess.run(
        [str(pgbench), "-c", "4", "-j", "2", "-T", "15", dsn], capture_output=True, text=True
    ).stdout
    tps = re.search(r"tps = ([\d.]+)", out)
    return {"tpcb_tps": float(tps.group(1)) if tps else None, "clients": 4}


class Collector:
    """Reads oms.orders and oms.sourcing: when each order was accepted, confirmed, allocated."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.accepted: dict[str, float] = {}
        self.confirmed: dict[str, float] = {}
        self.allocated: dict[str, float] = {}
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._topics = topics

    async def start(self) -> None:
        await self._consumer.start()
        tps = [TopicPartition(topic, p) for topic in self._topics for p in range(6)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.monotonic()
            for messages in batches.values():
                for m in messages:
                    envelope = decode(m.value or b"").envelope
                    if envelope.type == "OrderAccepted":
                        self.accepted.setdefault(envelope.subject, now)
                    elif envelope.type == "OrderConfirmed":
                        self.confirmed.setdefault(envelope.subject, now)
                    elif envelope.type == "OrderAllocated":
                        self.allocated.setdefault(envelope.subject, now)

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()


async def run_step(
    env: Env, services: dict[str, ServiceProcess], rate: int, duration: float
) -> StepResult:
    count = int(rate * duration)
    stamp = f"{rate}-{time.time_ns() % 10**9}"
    externals = [f"bench-{stamp}-{n}" for n in range(count)]
    payloads = [(e, encode(channel_event(order_submitted(e)))) for e in externals]
    collector = Collector(env.bootstrap, [env.topic("oms.orders"), env.topic("oms.sourcing")])
    await collector.start()
    producer = AIOKafkaProducer(
        bootstrap_servers=env.bootstrap, enable_idempotence=True, linger_ms=2
    )
    await producer.start()
    intended: dict[str, float] = {}
    cpu_before = {name: cpu_seconds(s.proc.pid) for name, s in services.items() if s.proc}
    out_before = sum([await s.metric("oms_events_out_total") for s in services.values()])
    backlog, lag = 0.0, 0.0
    started = time.monotonic()
    try:
        sent = 0
        pending: list[Any] = []
        next_probe = started
        while sent < count:
            now = time.monotonic()
            due = min(count, int((now - started) * rate) + 1)
            for external, value in payloads[sent:due]:
                order_id = order_id_for(CHANNEL, external)
                intended[order_id] = started + len(intended) / rate
                pending.append(
                    await producer.send(
                        env.topic("oms.channel-order-intake"),
                        value,
                        key=f"{CHANNEL}:{external}".encode(),
                    )
                )
            sent = due
            if now >= next_probe:
                backlog = max(backlog, await services["order"].metric("oms_outbox_backlog"))
                lag = max(lag, max([await s.metric("oms_consumer_lag") for s in services.values()]))
                next_probe = now + 1.0
            await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
        await asyncio.gather(*pending)
        deadline = time.monotonic() + 120
        while len(collector.allocated) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            backlog = max(backlog, await services["order"].metric("oms_outbox_backlog"))
    finally:
        await producer.stop()
        await collector.stop()
    elapsed = time.monotonic() - started
    cpu = {
        name: round(100 * (cpu_seconds(s.proc.pid) - cpu_before[name]) / elapsed, 1)
        for name, s in services.items()
        if s.proc
    }
    out_after = sum([await s.metric("oms_events_out_total") for s in services.values()])
    last = max(collector.allocated.values(), default=started)
    return StepResult(
        rate=rate,
        duration_s=duration,
        sent=count,
        accepted=len(collector.accepted),
        confirmed=len(collector.confirmed),
        allocated=len(collector.allocated),
        lost=count - len(collector.allocated),
        achieved_orders_per_s=round(len(collector.allocated) / max(last - started, 1e-9), 1),
        accepted_ms={
            k: round(v, 1)
            for k, v in percentiles(
                [1000 * (t - intended[o]) for o, t in collector.accepted.items() if o in intended]
            ).items()
        },
        confirmed_ms={
            k: round(v, 1)
            for k, v in percentiles(
                [1000 * (t - intended[o]) for o, t in collector.confirmed.items() if o in intended]
            ).items()
        },
        allocated_ms={
            k: round(v, 1)
            for k, v in percentiles(
                [1000 * (t - intended[o]) for o, t in collector.allocated.items() if o in intended]
            ).items()
        },
        events_out_per_s=round((out_after - out_before) / elapsed, 1),
        cpu_percent=cpu,
        max_outbox_backlog=backlog,
        max_consumer_lag=lag,
    )


def table(report: Report) -> str:
    lines = [
        f"{'rate/s':>7} {'sent':>7} {'lost':>5} {'done/s':>7} {'confirmed p50/p95/p99 ms':>26}"
        f" {'allocated p50/p95/p99 ms':>26} {'events/s':>9} {'backlog':>8} {'lag':>6}  cpu %",
    ]
    for s in report.steps:
        a, c = s.confirmed_ms, s.allocated_ms
        lines.append(
            f"{s.rate:>7} {s.sent:>7} {s.lost:>5} {s.achieved_orders_per_s:>7}"
            f" {a['p50']:>8}/{a['p95']:>8}/{a['p99']:>8} {c['p50']:>8}/{c['p95']:>8}/{c['p99']:>8}"
            f" {s.events_out_per_s:>9} {s.max_outbox_backlog:>8.0f} {s.max_consumer_lag:>6.0f}"
            f"  {', '.join(f'{k} {v}' for k, v in s.cpu_percent.items())}"
        )
    cal = report.calibration
    lines.append(f"raw broker (kafka ProducerPerformance, 512 B, acks=all): {cal.get('kafka')}")
    lines.append(f"raw database (pgbench TPC-B, 4 clients): {cal.get('postgres')}")
    return "\n".join(lines)


async def stock_the_network(env: Env, work_dir: Path) -> None:
    """The test network's catalogue plus the benchmark's SKU, with plenty of it in Hamburg."""
    document = {**CATALOGUE, "items": [*CATALOGUE["items"], {"sku": BENCH_SKU, "name": "T"}]}
    path = work_dir / f"catalogue-{env.run}.json"
    path.write_text(json.dumps(document))
    done = run_cli(env, await env.database("inventory"), "catalogue", "import", str(path))
    if done.returncode:
        raise SystemExit(done.stderr)
    receipt = StockReceived(
        sku=BENCH_SKU,
        location_id=HAMBURG,
        receipt_id=f"bench-{env.run}",
        quantity=10_000_000,
        received_at=datetime.now(UTC),
    )
    key = f"{BENCH_SKU}@{HAMBURG}"
    producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(
            env.topic("oms.inventory-feed"), inventory_event(receipt, key), key=key.encode()
        )
    finally:
        await producer.stop()


async def main(rates: list[int], duration: float, calibrate: bool) -> int:
    stack, _ = provide_stack()
    log_dir = REPO / "bench-results" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = Env(stack, log_dir)
    create_topics(stack.bootstrap, env.prefix)
    report = Report(machine=f"{os.cpu_count()} cores", started_at=datetime.now(UTC).isoformat())
    try:
        if calibrate:
            report.calibration["kafka"] = await asyncio.to_thread(
                raw_kafka, stack.bootstrap, env.topic("oms.operator-audit")
            )
            report.calibration["postgres"] = await asyncio.to_thread(
                raw_postgres, stack.admin_dsn, f"t{env.run}_pgbench"
            )
            env.databases.append(f"t{env.run}_pgbench")
        await stock_the_network(env, log_dir)
        quiet = {"OMS_LOG_LEVEL": "WARNING"}
        services = {
            "order": await env.service("order", **quiet),
            "inventory": await env.service("inventory", **quiet),
            "orchestration": await env.service(
                "orchestration", OMS_SOURCING_CONFIG=write_sourcing(log_dir), **quiet
            ),
            "notification": await env.service("notification", **quiet),
        }
        for service in services.values():
            await service.wait_ready()
        for rate in rates:
            step = await run_step(env, services, rate, duration)
            report.steps.append(step)
            print(f"rate {rate}/s: {step.allocated}/{step.sent} allocated", file=sys.stderr)
    finally:
        await env.close()
    out = REPO / "bench-results" / f"order-pipeline-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(asdict(report), indent=2))
    print(table(report))
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="100,200", help="orders per second, comma-separated")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per rate")
    parser.add_argument("--no-calibration", action="store_true")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    sys.exit(asyncio.run(main(rates, args.duration, not args.no_calibration)))
