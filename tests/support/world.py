"""Fixtures for tests on the real Kafka broker and PostgreSQL server: one test's world of
topics, consumer groups, databases and service processes (a pytest plugin, see conftest.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from oms_runtime import RUNTIME_MIGRATIONS, apply_migrations
from tests.support.kafka import create_topics, delete_topics
from tests.support.processes import ServiceProcess, stop_all
from tests.support.stack import Stack, provide_stack, start_local_stack_if_needed


def pytest_configure(config: pytest.Config) -> None:
    # With parallel workers (pytest-xdist's -n), its controller (no ``workerinput``) starts
    # the stack before the workers do.
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        start_local_stack_if_needed()


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    stack, containers = provide_stack()
    yield stack
    for container in containers:
        container.stop()  # type: ignore[attr-defined]


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


class Env:
    """One test's world: its own topic prefix, consumer groups and databases."""

    def __init__(self, stack: Stack, log_dir: Path, *, flush_commits: bool = True) -> None:
        self.stack = stack
        self.flush_commits = flush_commits
        self.run = uuid.uuid4().hex[:10]
        self.prefix = f"t{self.run}."
        self.log_dir = log_dir
        self.databases: list[str] = []
        self.processes: list[ServiceProcess] = []

    @property
    def bootstrap(self) -> str:
        return self.stack.bootstrap

    def topic(self, logical: str) -> str:
        return self.prefix + logical

    async def database(self, service: str) -> str:
        name = f"t{self.run}_{service}"
        if name not in self.databases:
            conn = await asyncpg.connect(self.stack.admin_dsn)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
                if not self.flush_commits:
                    await conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
            finally:
                await conn.close()
            self.databases.append(name)
        return _with_database(self.stack.admin_dsn, name)

    async def runtime_pool(self, name: str, size: int) -> tuple[str, asyncpg.Pool]:
        """The test's database ``name`` with the runtime's tables only (inbox, outbox, dead
        letters), and a pool of ``size`` connections on it for the test to close."""
        dsn = await self.database(name)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=size)
        assert pool is not None
        await apply_migrations(pool, {"runtime": RUNTIME_MIGRATIONS})
        return dsn, pool

    async def migrated_database(self, service: str, migrations: Path) -> str:
        """The test's database of ``service`` with the runtime's and ``migrations`` applied."""
        dsn = await self.database(service)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
        assert pool is not None
        try:
            await apply_migrations(pool, {"runtime": RUNTIME_MIGRATIONS, service: migrations})
        finally:
            await pool.close()
        return dsn

    async def service(self, name: str, **env: str) -> ServiceProcess:
        """Start a service worker on this test's topics and database (not yet waited for)."""
        process = ServiceProcess(
            name,
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "OMS_DATABASE_URL": await self.database(name),
                "OMS_TOPIC_PREFIX": self.prefix,
                "OMS_GROUP_SUFFIX": f"-{self.run}",
                **env,
            },
            self.log_dir,
        )
        # The first start waits for the zygote's imports: not on the test's event loop.
        self.processes.append(await asyncio.to_thread(process.start))
        return process

    async def fetch(self, service: str, query: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(await self.database(service))
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    async def close(self) -> None:
        stop_all(self.processes)
        await delete_topics(self.bootstrap, self.run)
        if not self.databases:
            return
        conn = await asyncpg.connect(self.stack.admin_dsn)
        try:
            for name in self.databases:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture
async def env(stack: Stack, tmp_path: Path) -> AsyncIterator[Env]:
    # A test's data need not survive a PostgreSQL crash (tests kill services, never the
    # database): its commits skip the WAL flush. The benchmarks keep the flush.
    world = Env(stack, tmp_path, flush_commits=False)
    await create_topics(stack.bootstrap, world.prefix)
    try:
        yield world
    finally:
        await world.close()
