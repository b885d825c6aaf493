"""Order pipeline benchmark: an open-loop load on the real services, broker and database.

Orders are sent at a fixed rate, each timed from its *intended* send time (no coordinated
omission), through the order service (validation, payment authorisation, outbox), the
orchestration service (sourcing, the saga), the inventory service (reservations) and the
notification service, until each order is allocated. Calibration figures for the raw broker
(Kafka's producer performance tool) and the raw database (pgbench) come from the same run on
the same machine. Each step also reports what an order costs: CPU per service, broker and
database, statements per service, records on the broker; see docs/performance.md.

    python bench/order_pipeline.py --rates 100,200 --duration 30     # make bench
    python bench/order_pipeline.py --sustained 200 --duration 300    # make bench-sustained
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
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.probes import Broker, CpuMeter, Statements, kafka_broker_pid, postmaster_pid
from oms_events.codec import encode
from oms_events.inventory import StockReceived
from oms_order.domain.identity import order_id_for
from tests.support.inventory import CATALOGUE, HAMBURG, run_cli
from tests.support.inventory import event as inventory_event
from tests.support.kafka import create_topics
from tests.support.orchestration import write_sourcing
from tests.support.orders import CHANNEL, channel_event, order_submitted
from tests.support.processes import ServiceProcess
from tests.support.stack import REPO, provide_stack
from tests.support.world import Env

BENCH_SKU = "SKU-TSHIRT-M"  # what tests.support.orders orders
KAFKA_LIBS = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "oms/kafka-4.3.1/libs"
SAMPLE_EVERY_S = 1.0
DRAIN_TIMEOUT_S = 120.0


@dataclass
class Sample:
    """The pipeline's state once a second, during a step and while it drains."""

    t: float  # seconds since the step's first order was due
    sent: int
    allocated: int
    consumer_lag: int
    outbox_backlog: float | None


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
    hops_ms: dict[str, dict[str, float]]
    events_out_per_s: float
    cpu_percent: dict[str, float]
    max_outbox_backlog: float
    max_consumer_lag: float
    outbox_backlog_at_end: float
    consumer_lag_at_end: float
    drain_s: float
    kept_up: bool
    cpu_ms_per_order: dict[str, float]
    cpu_ms_per_order_total: float
    statements_per_order: dict[str, float] | None
    statement_entries_evicted: int
    broker_records_per_s: float
    broker_records_per_order: float
    broker_share_of_raw: float | None
    timeline: list[Sample]


@dataclass
class Report:
    machine: str
    started_at: str
    sustained: bool = False
    calibration: dict[str, Any] = field(default_factory=dict)
    idle_cpu_percent: dict[str, float] = field(default_factory=dict)
    idle_statements_per_s: dict[str, float] | None = None
    statements_unavailable: str | None = None
    consumer_groups: list[str] = field(default_factory=list)  # whose lag is summed
    steps: list[StepResult] = field(default_factory=list)


@dataclass
class World:
    """The running system one invocation measures, and its probes."""

    env: Env
    services: dict[str, ServiceProcess]
    cpu: CpuMeter
    statements: Statements
    broker: Broker
    raw_broker_records_per_s: float | None


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    return {"p50": q[49], "p95": q[94], "p99": q[98], "max": max(values)}


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
    """Reads oms.orders, oms.sourcing and oms.inventory: when each of ``orders`` was accepted,
    confirmed, sourced (its first decision), reserved (its first hold) and allocated (only
    these orders: a previous step's stragglers must not count as this step's)."""

    def __init__(self, bootstrap: str, topics: list[str], orders: set[str]) -> None:
        self.accepted: dict[str, float] = {}
        self.confirmed: dict[str, float] = {}
        self.decided: dict[str, float] = {}
        self.reserved: dict[str, float] = {}
        self.allocated: dict[str, float] = {}
        self.all_allocated = asyncio.Event()
        self._orders = orders
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
                    # Read, not validated: the load generator shares the machine it measures.
                    doc = orjson.loads(m.value or b"")
                    subject, kind = doc.get("subject"), doc.get("type")
                    if subject not in self._orders:
                        continue
                    if kind == "OrderAccepted":
                        self.accepted.setdefault(subject, now)
                    elif kind == "OrderConfirmed":
                        self.confirmed.setdefault(subject, now)
                    elif kind == "SourcingDecided":
                        self.decided.setdefault(subject, now)
                    elif kind == "StockReserved":
                        self.reserved.setdefault(subject, now)
                    elif kind == "OrderAllocated":
                        self.allocated.setdefault(subject, now)
            if len(self.allocated) == len(self._orders):
                self.all_allocated.set()

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()


async def outbox_backlog(services: dict[str, ServiceProcess]) -> float | None:
    """Outbox rows not yet published, summed over the services; None if none reports it."""
    values: list[float] = []
    for service in services.values():
        try:
            values += await service.metric_lines("oms_outbox_backlog")
        except aiohttp.ClientError:
            continue  # a service that stopped answering: its orders show up as lost
    return sum(values) if values else None


@dataclass
class Progress:
    sent: int = 0


async def send_open_loop(
    producer: AIOKafkaProducer,
    topic: str,
    payloads: list[tuple[str, bytes, bytes]],
    rate: int,
    started: float,
    progress: Progress,
) -> None:
    """Send each order when it is due (order n at started + n / rate), whatever the pipeline
    does: a slow pipeline shows as latency, not as a slower generator."""
    pending = []
    while progress.sent < len(payloads):
        due = min(len(payloads), int((time.monotonic() - started) * rate) + 1)
        for _, key, value in payloads[progress.sent : due]:
            pending.append(await producer.send(topic, value, key=key))
        progress.sent = due
        await asyncio.sleep(max(0.0, started + progress.sent / rate - time.monotonic()))
    await asyncio.gather(*pending)


async def sample_every_second(
    world: World, collector: Collector, started: float, progress: Progress, into: list[Sample]
) -> None:
    """Until cancelled. A task of its own, so slow probes never delay the sending."""
    tick = started
    while True:
        into.append(
            Sample(
                t=round(time.monotonic() - started, 1),
                sent=progress.sent,
                allocated=len(collector.allocated),
                consumer_lag=await world.broker.lag(),
                outbox_backlog=await outbox_backlog(world.services),
            )
        )
        tick += SAMPLE_EVERY_S
        await asyncio.sleep(max(0.0, tick - time.monotonic()))


def waiting(sample: Sample) -> float:
    """Work the pipeline has not done yet: records not consumed plus events not published."""
    return sample.consumer_lag + (sample.outbox_backlog or 0)


def lag_bounded(samples: list[Sample], duration: float, records_per_s: float) -> bool:
    """The waiting work did not grow while orders came in: its mean over the last third of the
    sending period is within one second's worth of records of its mean over the middle third.
    (A pipeline that falls behind grows it steadily; one that keeps up only wobbles.)"""
    middle = [waiting(s) for s in samples if duration / 3 <= s.t < 2 * duration / 3]
    last = [waiting(s) for s in samples if 2 * duration / 3 <= s.t <= duration]
    if not middle or not last:
        return True  # too short a step to tell; lost orders still show
    return statistics.mean(last) <= statistics.mean(middle) + records_per_s


def latencies(intended: dict[str, float], reached: dict[str, float]) -> dict[str, float]:
    times = [1000 * (t - intended[o]) for o, t in reached.items() if o in intended]
    return {k: round(v, 1) for k, v in percentiles(times).items()}


def hops(intended: dict[str, float], collector: Collector) -> dict[str, dict[str, float]]:
    """Each step of an order's way to allocated, from one event seen to the next (the time
    between two services' events: the broker, the consumer's fetch and wait, the handler's
    transaction), for the orders that took each step once and in this order."""
    steps = [
        ("placed_to_confirmed", intended, collector.confirmed),  # intake, payment (order)
        ("confirmed_to_sourced", collector.confirmed, collector.decided),  # orchestration
        ("sourced_to_reserved", collector.decided, collector.reserved),  # inventory
        ("reserved_to_allocated", collector.reserved, collector.allocated),  # orchestration
    ]
    return {name: latencies(start, end) for name, start, end in steps}


def orders(rate: int, count: int) -> list[tuple[str, bytes, bytes]]:
    """Each order's id, record key and encoded submission, made before the clock starts."""
    stamp = f"{rate}-{time.time_ns() % 10**9}"
    externals = [f"bench-{stamp}-{n}" for n in range(count)]
    return [
        (
            order_id_for(CHANNEL, e),
            f"{CHANNEL}:{e}".encode(),
            encode(channel_event(order_submitted(e))),
        )
        for e in externals
    ]


@dataclass
class Counters:
    """The cumulative figures a step reads before and after itself."""

    cpu: dict[str, float]
    records: int
    events_out: float
    statements: dict[str, int] | None
    evicted: int


async def read_counters(world: World) -> Counters:
    statements = await world.statements.calls()
    services = world.services.values()
    return Counters(
        cpu=world.cpu.read(),
        records=await world.broker.records(),
        events_out=sum([await s.metric("oms_events_out_total") for s in services]),
        statements=statements[0] if statements else None,
        evicted=statements[1] if statements else 0,
    )


@dataclass
class Run:
    started: float
    elapsed: float  # sending and draining
    samples: list[Sample]


async def drive(
    world: World, collector: Collector, payloads: list[tuple[str, bytes, bytes]], rate: int
) -> Run:
    """Send every order on time, then wait until all are allocated (or the drain times out)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=world.env.bootstrap, enable_idempotence=True, linger_ms=2
    )
    await producer.start()  # before the clock starts: connecting is not the pipeline's time
    progress, samples = Progress(), []
    started = time.monotonic()
    sampler = asyncio.ensure_future(
        sample_every_second(world, collector, started, progress, samples)
    )
    try:
        topic = world.env.topic("oms.channel-order-intake")
        await send_open_loop(producer, topic, payloads, rate, started, progress)
        try:
            await asyncio.wait_for(collector.all_allocated.wait(), DRAIN_TIMEOUT_S)
        except TimeoutError:
            pass  # the orders not allocated by now count as lost
    finally:
        sampler.cancel()
        (failure,) = await asyncio.gather(sampler, return_exceptions=True)
        if isinstance(failure, Exception):  # say so rather than report a short timeline
            print(f"sampling stopped after {len(samples)} samples: {failure!r}", file=sys.stderr)
        await producer.stop()
    return Run(started, time.monotonic() - started, samples)


async def run_step(world: World, rate: int, duration: float) -> StepResult:
    payloads = orders(rate, int(rate * duration))
    topics = [world.env.topic(t) for t in ("oms.orders", "oms.sourcing", "oms.inventory")]
    collector = Collector(world.env.bootstrap, topics, {order_id for order_id, _, _ in payloads})
    await collector.start()
    await world.statements.reset()
    before = await read_counters(world)
    try:
        run = await drive(world, collector, payloads, rate)
    finally:
        await collector.stop()
    after = await read_counters(world)
    intended = {order_id: run.started + n / rate for n, (order_id, _, _) in enumerate(payloads)}
    return summarise(world, rate, duration, intended, collector, run, before, after)


def summarise(
    world: World,
    rate: int,
    duration: float,
    intended: dict[str, float],
    collector: Collector,
    run: Run,
    before: Counters,
    after: Counters,
) -> StepResult:
    count, elapsed, samples = len(intended), run.elapsed, run.samples
    spent = CpuMeter.spent(before.cpu, after.cpu)
    cpu_ms = {
        name: round(1000 * spent[name] / count, 2)
        for name in [*world.services, "kafka", "postgres"]
        if name in spent
    }
    statements = None
    if before.statements is not None and after.statements is not None:
        statements = {
            name: round((calls - before.statements[name]) / count, 2)
            for name, calls in after.statements.items()
        }
    records = after.records - before.records
    raw = world.raw_broker_records_per_s
    at_end = ([s for s in samples if s.t <= duration] or samples or [Sample(0, 0, 0, 0, 0)])[-1]
    last = max(collector.allocated.values(), default=run.started)
    lost = count - len(collector.allocated)
    return StepResult(
        rate=rate,
        duration_s=duration,
        sent=count,
        accepted=len(collector.accepted),
        confirmed=len(collector.confirmed),
        allocated=len(collector.allocated),
        lost=lost,
        achieved_orders_per_s=round(len(collector.allocated) / max(last - run.started, 1e-9), 1),
        accepted_ms=latencies(intended, collector.accepted),
        confirmed_ms=latencies(intended, collector.confirmed),
        allocated_ms=latencies(intended, collector.allocated),
        hops_ms=hops(intended, collector),
        events_out_per_s=round((after.events_out - before.events_out) / elapsed, 1),
        cpu_percent={name: round(100 * s / elapsed, 1) for name, s in spent.items()},
        max_outbox_backlog=max((s.outbox_backlog or 0 for s in samples), default=0),
        max_consumer_lag=max((s.consumer_lag for s in samples), default=0),
        outbox_backlog_at_end=at_end.outbox_backlog or 0,
        consumer_lag_at_end=at_end.consumer_lag,
        drain_s=round(max(0.0, last - max(intended.values())), 1),
        kept_up=lost == 0 and lag_bounded(samples, duration, records / elapsed),
        cpu_ms_per_order=cpu_ms,
        cpu_ms_per_order_total=round(sum(cpu_ms.values()), 2),
        statements_per_order=statements,
        statement_entries_evicted=after.evicted - before.evicted,
        broker_records_per_s=round(records / elapsed, 1),
        broker_records_per_order=round(records / count, 2),
        broker_share_of_raw=round(records / elapsed / raw, 4) if raw else None,
        timeline=samples,
    )


def columns(header: list[str], rows: list[list[Any]]) -> list[str]:
    """Right-aligned columns as wide as their widest cell."""
    cells = [header, *([("-" if v is None else str(v)) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]


def ms(p: dict[str, float]) -> str:
    return f"{p['p50']}/{p['p95']}/{p['p99']}"


def latency_table(steps: list[StepResult]) -> list[str]:
    header = ["rate/s", "sent", "lost", "done/s", "confirmed p50/p95/p99 ms"]
    header += ["allocated p50/p95/p99 ms", "events/s", "backlog max/end", "lag max/end"]
    header += ["drain s", "kept up"]
    rows = [
        [
            s.rate,
            s.sent,
            s.lost,
            s.achieved_orders_per_s,
            ms(s.confirmed_ms),
            ms(s.allocated_ms),
            s.events_out_per_s,
            f"{s.max_outbox_backlog:.0f}/{s.outbox_backlog_at_end:.0f}",
            f"{s.max_consumer_lag:.0f}/{s.consumer_lag_at_end:.0f}",
            s.drain_s,
            "yes" if s.kept_up else "NO",
        ]
        for s in steps
    ]
    return columns(header, rows)


def hops_table(steps: list[StepResult]) -> list[str]:
    names = list(steps[0].hops_ms)
    header = ["rate/s", *(f"{n.replace('_', ' ')} p50/p95/p99 ms" for n in names)]
    return columns(header, [[s.rate, *(ms(s.hops_ms[n]) for n in names)] for s in steps])


def cost_table(steps: list[StepResult]) -> list[str]:
    """Per order: CPU ms of each process tree, statements per service, records on the broker."""
    names = list(steps[0].cpu_ms_per_order)
    services = list(steps[0].statements_per_order or {})
    header = ["rate/s", *(f"{n} ms" for n in names), "total ms"]
    header += [*(f"{n} stmts" for n in services), "records", "records/s", "of raw broker"]
    rows = [
        [
            s.rate,
            *(s.cpu_ms_per_order.get(n) for n in names),
            s.cpu_ms_per_order_total,
            *((s.statements_per_order or {}).get(n) for n in services),
            s.broker_records_per_order,
            s.broker_records_per_s,
            f"{100 * s.broker_share_of_raw:.1f} %" if s.broker_share_of_raw else None,
        ]
        for s in steps
    ]
    return columns(header, rows)


def cpu_table(report: Report) -> list[str]:
    names = list(report.steps[0].cpu_percent)
    rows = [["idle", *(report.idle_cpu_percent.get(n) for n in names)]]
    rows += [[s.rate, *(s.cpu_percent.get(n) for n in names)] for s in report.steps]
    return columns(["rate/s", *names], rows)


def timeline_table(step: StepResult, rows: int = 20) -> list[str]:
    every = max(1, len(step.timeline) // rows)
    picked = step.timeline[::every]
    if step.timeline and picked[-1] is not step.timeline[-1]:
        picked.append(step.timeline[-1])
    return columns(
        ["t s", "sent", "allocated", "consumer lag", "outbox backlog"],
        [[s.t, s.sent, s.allocated, s.consumer_lag, s.outbox_backlog] for s in picked],
    )


def statement_notes(report: Report) -> list[str]:
    if report.statements_unavailable:
        return [f"statements not counted: {report.statements_unavailable}"]
    idle = report.idle_statements_per_s or {}
    return ["statements/s with no load: " + ", ".join(f"{k} {v}" for k, v in idle.items())]


def table(report: Report) -> str:
    lines: list[str] = []
    if report.steps:
        lines += ["Orders (latency from each order's intended send time)"]
        lines += latency_table(report.steps)
        lines += ["", "Each step (from one service's event to the next's, seen by the bench)"]
        lines += hops_table(report.steps)
        lines += ["", "Cost per order sent (CPU ms, statements, records on the run's topics)"]
        lines += cost_table(report.steps)
        lines += statement_notes(report)
        lines += ["", "CPU % of one core (bench: the load generator; other: the rest of the"]
        lines += ["machine; stolen: kept by the host of a virtual machine)"]
        lines += cpu_table(report)
    if report.sustained and report.steps:
        lines += ["", "Over time"]
        lines += timeline_table(report.steps[0])
    cal = report.calibration
    lines.append("")
    if not cal:
        lines.append("no calibration (--no-calibration): no share of the raw broker either")
    else:
        lines.append(f"raw broker (kafka ProducerPerformance, 512 B, acks=all): {cal['kafka']}")
        lines.append(f"raw database (pgbench TPC-B, 4 clients): {cal['postgres']}")
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


async def calibrate(env: Env, report: Report) -> None:
    """The raw broker and the raw database, on the same machine, in the same invocation."""
    report.calibration["kafka"] = await asyncio.to_thread(
        raw_kafka, env.bootstrap, env.topic("oms.operator-audit")
    )
    report.calibration["postgres"] = await asyncio.to_thread(
        raw_postgres, env.stack.admin_dsn, f"t{env.run}_pgbench"
    )
    env.databases.append(f"t{env.run}_pgbench")


async def start_services(env: Env, log_dir: Path) -> dict[str, ServiceProcess]:
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
    return services


async def probes(env: Env, services: dict[str, ServiceProcess], report: Report) -> World:
    """CPU meters for every service, the broker and the database; statements; the broker."""
    trees = {name: s.proc.pid for name, s in services.items() if s.proc}
    for name, pid in [
        ("kafka", kafka_broker_pid(env.bootstrap)),
        ("postgres", await postmaster_pid(env.stack.admin_dsn)),
    ]:
        if pid is None:
            print(f"{name}: no local process found, its CPU is not counted", file=sys.stderr)
        else:
            trees[name] = pid
    databases = {
        n: urlsplit(s.env["OMS_DATABASE_URL"]).path.lstrip("/") for n, s in services.items()
    }
    statements = Statements(env.stack.admin_dsn, databases)
    await statements.start()
    report.statements_unavailable = statements.unavailable
    broker = Broker(env.bootstrap, env.prefix, env.run)
    await broker.start()
    report.consumer_groups = broker.groups
    if not broker.groups:
        print("no consumer group of this run found: lag reads 0", file=sys.stderr)
    raw = report.calibration.get("kafka", {}).get("records_per_s")
    return World(env, services, CpuMeter(trees), statements, broker, raw)


async def measure_idle(world: World, seconds: float, report: Report) -> None:
    """CPU and statements with no load at all: what each process costs just for being there
    (and, for statements, what the per-order counts of a slow step include)."""
    before = await read_counters(world)
    await asyncio.sleep(seconds)
    after = await read_counters(world)
    spent = CpuMeter.spent(before.cpu, after.cpu)
    report.idle_cpu_percent = {name: round(100 * s / seconds, 2) for name, s in spent.items()}
    if before.statements is not None and after.statements is not None:
        report.idle_statements_per_s = {
            name: round((calls - before.statements[name]) / seconds, 1)
            for name, calls in after.statements.items()
        }


async def main(
    rates: list[int], duration: float, calibration: bool, idle_s: float, sustained: bool
) -> int:
    stack, _ = provide_stack()
    log_dir = REPO / "bench-results" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = Env(stack, log_dir)
    await create_topics(stack.bootstrap, env.prefix)
    report = Report(
        machine=f"{os.cpu_count()} cores",
        started_at=datetime.now(UTC).isoformat(),
        sustained=sustained,
    )
    world: World | None = None
    try:
        if calibration:
            await calibrate(env, report)
        await stock_the_network(env, log_dir)
        services = await start_services(env, log_dir)
        world = await probes(env, services, report)
        if idle_s:
            await measure_idle(world, idle_s, report)
        for rate in rates:
            step = await run_step(world, rate, duration)
            report.steps.append(step)
            print(f"rate {rate}/s: {step.allocated}/{step.sent} allocated", file=sys.stderr)
    finally:
        if world is not None:
            await world.statements.close()
            await world.broker.close()
        await env.close()
    kind = "order-pipeline-sustained" if sustained else "order-pipeline"
    out = REPO / "bench-results" / f"{kind}-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(asdict(report), indent=2))
    print(table(report))
    print(f"\nJSON: {out}")
    return 0


def rate_list(text: str) -> list[int]:
    """An argparse type: rates per second, whole numbers of 1 or more, comma-separated."""
    try:
        rates = [int(r) for r in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of whole numbers"
        ) from None
    if min(rates) < 1:
        raise argparse.ArgumentTypeError(f"rates must be 1 or more per second, not {text!r}")
    return rates


def seconds(text: str) -> float:
    """An argparse type: a duration of more than 0 seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"a duration must be more than 0 seconds, not {text}")
    return value


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rates", type=rate_list, default="100,200", help="orders per second, comma-separated"
    )
    parser.add_argument(
        "--sustained",
        type=int,
        metavar="RATE",
        help="one step at RATE orders/s (default 300 s) and the lag and backlog over time",
    )
    parser.add_argument("--duration", type=seconds, help="seconds per rate (default 30)")
    parser.add_argument(
        "--idle",
        type=float,
        default=10.0,
        help="seconds of no load measured before the first step (0: none)",
    )
    parser.add_argument("--no-calibration", action="store_true")
    args = parser.parse_args()
    if args.idle < 0:
        parser.error(f"--idle must be 0 or more seconds, not {args.idle}")
    sustained = args.sustained is not None
    if sustained:
        rates, duration = [args.sustained], args.duration or 300.0
    else:
        rates, duration = args.rates, args.duration or 30.0
    sys.exit(asyncio.run(main(rates, duration, not args.no_calibration, args.idle, sustained)))
