"""What the benchmarks measure beside the orders themselves.

Each figure comes from the source of truth rather than from the services' own metrics, so a
stalled or rewritten service cannot make it look better: CPU time from /proc, statements from
PostgreSQL's pg_stat_statements, records and consumer lag from the broker.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

_TICKS = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


# --- CPU time ----------------------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (which may contain spaces)."""
    return (_PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()


def _ppid(pid: int) -> int:
    return int(_stat(pid)[1])


def _comm(pid: int) -> str:
    return (_PROC / str(pid) / "comm").read_text().strip()


def _pids() -> list[int]:
    return [int(p.name) for p in _PROC.iterdir() if p.name.isdigit()]


def cpu_seconds(pid: int) -> float:
    """User and system time of one process (its threads included, its children not)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / _TICKS


def tree_cpu_seconds(root: int) -> float:
    """CPU time of a process and all its descendants, the living and the exited.

    PostgreSQL forks a backend per connection. When a backend exits, its time moves into the
    postmaster's cutime/cstime, so summing own plus reaped-children time over the living tree
    counts every CPU second once, however many backends came and went.
    """
    children: dict[int, list[int]] = {}
    for pid in _pids():
        try:
            children.setdefault(_ppid(pid), []).append(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited during the scan
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            total += sum(int(f) for f in _stat(pid)[11:15])  # utime stime cutime cstime
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited since the scan: its time is now in its parent's cutime
        todo.extend(children.get(pid, ()))
    return total / _TICKS


def machine_seconds() -> tuple[float, float]:
    """Since boot, summed over all cores: the CPU time spent working (not idling or waiting for
    I/O), and the time a virtual machine's host gave to someone else ("steal")."""
    first = (_PROC / "stat").read_text().split("\n", 1)[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq) / _TICKS, steal / _TICKS


def kafka_broker_pid(bootstrap: str) -> int | None:
    """The local broker's JVM: the kafka.Kafka process listening on the bootstrap port."""
    port = bootstrap.split(",")[0].rsplit(":", 1)[-1]
    for pid in _pids():
        try:
            args = (_PROC / str(pid) / "cmdline").read_bytes().decode().split("\0")
            if "kafka.Kafka" not in args:
                continue
            properties = Path(args[args.index("kafka.Kafka") + 1]).read_text()
        except (OSError, IndexError):
            continue
        if re.search(rf"^listeners=.*:{port}\b", properties, re.MULTILINE):
            return pid
    return None  # a remote or containerised broker: its CPU is not reported


async def postmaster_pid(admin_dsn: str) -> int | None:
    """The PostgreSQL server's main process, as the parent of one of its backends."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
        # Read while connected (the backend exits with its connection), and check the pid is
        # ours: a remote or containerised server's pid means nothing here.
        if _comm(backend) == "postgres" and _comm(parent := _ppid(backend)) == "postgres":
            return parent
    except (FileNotFoundError, ProcessLookupError):
        pass
    finally:
        await conn.close()
    return None


class CpuMeter:
    """CPU seconds of named process trees, of this process and of the whole machine."""

    def __init__(self, trees: dict[str, int]) -> None:
        self.trees = trees

    def read(self) -> dict[str, float]:
        seconds = {name: tree_cpu_seconds(pid) for name, pid in self.trees.items()}
        # The load generator's own time only: the services are its children.
        seconds["bench"] = cpu_seconds(os.getpid())
        seconds["machine"], seconds["stolen"] = machine_seconds()
        return seconds

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        """Seconds each tree used between two reads, plus "other": what else ran on the machine
        (other tests...), and "stolen": what the host of a virtual machine kept from it. A
        busy machine shows there instead of silently slowing the rest."""
        spent = {name: after[name] - before[name] for name in before}
        machine, stolen = spent.pop("machine"), spent.pop("stolen")
        spent["other"] = machine - sum(spent.values())
        spent["stolen"] = stolen
        return spent


# --- statements --------------------------------------------------------------------------------


class Statements:
    """Statements each database executed, from pg_stat_statements.

    Counts executions, BEGIN and COMMIT included: an executemany of n rows counts n.
    """

    def __init__(self, admin_dsn: str, databases: dict[str, str]) -> None:
        self._dsn = admin_dsn
        self._databases = databases  # service -> database
        self._conn: asyncpg.Connection | None = None
        self.unavailable: str | None = None

    async def start(self) -> None:
        self._conn = await asyncpg.connect(self._dsn)
        try:
            await self._conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            await self._conn.fetchval("SELECT count(*) FROM pg_stat_statements")
        except asyncpg.PostgresError as exc:
            # e.g. a server without shared_preload_libraries = pg_stat_statements
            self.unavailable = str(exc)

    async def reset(self) -> None:
        """Zero the bench's databases only (other runs may share the server), so the table
        keeps room for the step's statements; the step still subtracts a first reading."""
        assert self._conn is not None
        if not self.unavailable:
            await self._conn.execute(
                "SELECT pg_stat_statements_reset(0, oid, 0) FROM pg_database"
                " WHERE datname = ANY($1)",
                list(self._databases.values()),
            )

    async def calls(self) -> tuple[dict[str, int], int] | None:
        """Statements per service since the reset, and how many entries the extension has
        evicted to make room (if that grows during a step, some counts went missing)."""
        assert self._conn is not None
        if self.unavailable:
            return None
        rows = await self._conn.fetch(
            "SELECT d.datname, sum(s.calls)::bigint AS calls FROM pg_stat_statements s"
            " JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = ANY($1) GROUP BY 1",
            list(self._databases.values()),
        )
        by_database = {r["datname"]: r["calls"] for r in rows}
        dealloc = int(await self._conn.fetchval("SELECT dealloc FROM pg_stat_statements_info"))
        return {s: by_database.get(d, 0) for s, d in self._databases.items()}, dealloc

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()


# --- the broker --------------------------------------------------------------------------------


class Broker:
    """Records appended to one run's topics and its consumer groups' lag, as the broker has them.

    Lag is the end offset minus the committed offset, summed over every partition the run's
    groups have committed (what kafka-consumer-groups shows): it includes the records a
    service processed but has not committed yet, up to its commit interval.
    """

    def __init__(self, bootstrap: str, prefix: str, run: str) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._prefix, self._run = prefix, run
        self._partitions: list[TopicPartition] = []
        self.groups: list[str] = []

    async def start(self) -> None:
        """Call once the services have joined their groups."""
        await self._admin.start()
        await self._consumer.start()
        topics = [t for t in await self._admin.list_topics() if t.startswith(self._prefix)]
        self._partitions = [
            TopicPartition(t["topic"], p["partition"])
            for t in await self._admin.describe_topics(topics)
            for p in t["partitions"]
        ]
        self.groups = sorted(
            g[0] for g in await self._admin.list_consumer_groups() if self._run in g[0]
        )

    async def records(self) -> int:
        """Every record ever appended to the run's topics."""
        return sum((await self._consumer.end_offsets(self._partitions)).values())

    async def lag(self) -> int:
        committed: list[tuple[TopicPartition, int]] = []  # several groups may read one topic
        for group in self.groups:
            offsets = await self._admin.list_consumer_group_offsets(group)
            committed.extend((tp, meta.offset) for tp, meta in offsets.items() if meta.offset >= 0)
        end = await self._consumer.end_offsets(list({tp for tp, _ in committed}))
        return sum(end[tp] - offset for tp, offset in committed)

    async def close(self) -> None:
        await self._consumer.stop()
        await self._admin.close()
