"""The composition of one service: the lean consumer, publish on commit, the relay, HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import orjson
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from oms_runtime._config import RuntimeSettings
from oms_runtime._consumer import BatchProcessor, DedicatedConnection
from oms_runtime._consumer_loop import ConsumerLoop
from oms_runtime._db import RUNTIME_MIGRATIONS, apply_migrations, create_pool
from oms_runtime._fetch_wait import FetchWait
from oms_runtime._http import Problem
from oms_runtime._logging import configure_logging
from oms_runtime._outbox import Outbox, write_outbox
from oms_runtime._publish import CommitPublisher
from oms_runtime._rebuild import (
    RebuildRefused,
    RebuildSpec,
    SeedTable,
    check_rebuild_target,
    run_rebuild,
    seed_tables,
)
from oms_runtime._relay import OutboxRelay
from oms_runtime._retry import is_infrastructure_error, retried
from oms_runtime._subscriptions import Subscription
from oms_runtime._unit_of_work import UnitOfWork
from oms_runtime._wakeup import Wakeup
from oms_runtime._web import WebServer, new_app

__all__ = ["ServiceRuntime"]

_log = structlog.get_logger(__name__)
_LAG_EVERY_S = 5.0
_ACK_TIMEOUT_S = 10.0
_Client = TypeVar("_Client", AIOKafkaProducer, AIOKafkaConsumer)


class ServiceRuntime:
    """One service's worker; clients are created when it starts, closed when it stops."""

    def __init__(
        self,
        name: str,
        *,
        settings: RuntimeSettings | None = None,
        migrations: Path | None = None,
        rebuild: RebuildSpec | RebuildRefused | None = None,
    ) -> None:
        self.name = name
        self.settings = settings or RuntimeSettings()
        self.rebuild_spec: RebuildSpec | RebuildRefused = rebuild or RebuildRefused(
            f"the {name} service declares no rebuild: what its state depends on besides its "
            "topics is not known"
        )
        self._migrations = {"runtime": RUNTIME_MIGRATIONS}
        if migrations is not None:
            self._migrations[name] = migrations
        self._subscriptions: list[Subscription] = []
        self._timers: list[tuple[float, Callable[[], Awaitable[None]], Wakeup | None]] = []
        self._pool: asyncpg.Pool | None = None
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._loop: ConsumerLoop | None = None
        self._relay: OutboxRelay | None = None
        self._publisher: CommitPublisher | None = None
        self._connections: list[DedicatedConnection] = []
        self._started = False
        self.rebuilding = False
        """True in ``python -m oms_<service> rebuild``: handlers whose decisions a rebuild
        does not take again (the service seeds or reads back their outcome) skip them."""
        self.http: FastAPI = new_app(name)
        self._add_operational_routes()

    # -- composition -----------------------------------------------------------------------

    def subscribe(self, subscription: Subscription) -> None:
        """Consume the subscription's topic in batches; events of types without a handler are
        skipped (counted as ignored)."""
        self._subscriptions.append(subscription)

    def timer(
        self, interval_s: float, *, wake: Wakeup | None = None
    ) -> Callable[[Callable[[], Awaitable[None]]], Callable[[], Awaitable[None]]]:
        """A periodic job that runs once the service has started; with ``wake``, also as
        soon as it is woken (work committed for it, a retry due), ``interval_s`` then being
        the longest it sleeps.

        A failed run (the database away, a deadlock with a consumer's batch, a bug) is logged
        and the job runs again at its next tick: an exception would stop the whole worker.
        """

        def decorate(fun: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
            self._timers.append((interval_s, fun, wake))
            return fun

        return decorate

    @property
    def ready(self) -> bool:
        """True once the database pool exists: HTTP handlers answer 503 before that."""
        return self._pool is not None

    async def require_ready(self) -> None:
        """A dependency of every API route: 503 until the service has started (the web server
        answers before the database is ready)."""
        if not self.ready:
            raise Problem(503, "unavailable", "the service is starting; retry later")

    @asynccontextmanager
    async def unit_of_work(
        self, *, correlation_id: str | None = None, cause: UUID | None = None
    ) -> AsyncIterator[UnitOfWork]:
        """For HTTP handlers and timers: state change and outgoing events in one transaction,
        the events sent as soon as it commits. ``cause`` is the request's id."""
        assert self._pool is not None and self._publisher is not None, "not started"
        outbox = Outbox(
            source=f"oms/{self.name}",
            topic_prefix=self.settings.topic_prefix,
            correlation_id=correlation_id,
            causation_id=str(cause) if cause else None,
        )
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                work = UnitOfWork(conn=conn, outbox=outbox, cause=cause)
                yield work
                written = await write_outbox(conn, outbox.records, publish_on_commit=True)
            for wakeup in work.wake_after:
                wakeup.set()
            # On failure the pool's reset releases the session's key locks.
            await self._publisher.after_commit(conn, written)

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        """Start, serve until SIGTERM or SIGINT, then stop cleanly."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        configure_logging(self.name, self.settings.log_level)
        web = WebServer(self.http, self.settings.http_host, self.settings.http_port)
        await web.start()
        tasks: list[asyncio.Future[Any]] = []
        stopped = asyncio.ensure_future(stop.wait())
        try:
            # A signal also ends the wait for the database or the broker at start-up.
            starting = asyncio.ensure_future(self._start())
            await asyncio.wait([stopped, starting], return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starting
                return
            starting.result()
            assert self._loop is not None and self._relay is not None
            tasks = [
                asyncio.ensure_future(self._loop.run()),
                asyncio.ensure_future(self._relay.run()),
                asyncio.ensure_future(self._every(_LAG_EVERY_S, self._loop.measure_lag)),
                *(asyncio.ensure_future(self._every(i, f, w)) for i, f, w in self._timers),
            ]
            await asyncio.wait([stopped, tasks[0]], return_when=asyncio.FIRST_COMPLETED)
            if tasks[0].done():
                tasks[0].result()  # the consumer loop failed: let it stop the worker
        finally:
            stopped.cancel()
            await self._stop(tasks)
            await web.stop()
            _log.info("service_stopped")

    async def _start(self) -> None:
        s = self.settings
        dsn = s.database_url.get_secret_value()
        self._pool = await self._connect_database(dsn)
        await apply_migrations(self._pool, self._migrations)
        self._producer = await self._start_kafka_client(
            lambda: AIOKafkaProducer(
                bootstrap_servers=s.kafka_bootstrap_servers,
                enable_idempotence=True,
                acks="all",
                linger_ms=1,
                max_batch_size=256 * 1024,
                client_id=f"oms-{self.name}",
                **s.aiokafka_security(),
            )
        )
        self._publisher = CommitPublisher(self.name, self._producer, _ACK_TIMEOUT_S)
        self._relay = OutboxRelay(
            service=self.name, dsn=dsn, producer=self._producer, batch_max=s.relay_batch_max
        )
        self._consumer = await self._start_kafka_client(
            lambda: AIOKafkaConsumer(
                bootstrap_servers=s.kafka_bootstrap_servers,
                group_id=f"oms-{self.name}{s.group_suffix}",
                client_id=f"oms-{self.name}",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=s.batch_max,
                session_timeout_ms=int(s.kafka_session_timeout_s * 1000),
                heartbeat_interval_ms=int(s.kafka_session_timeout_s * 1000 / 3),
                fetch_min_bytes=s.kafka_fetch_min_bytes,
                fetch_max_wait_ms=s.kafka_fetch_max_wait_ms,
                **s.aiokafka_security(),
            )
        )
        self._connections = [DedicatedConnection(dsn) for _ in self._subscriptions]
        processors = self._processors(self._subscriptions, self._connections, self._publisher)
        self._loop = ConsumerLoop(
            service=self.name,
            consumer=self._consumer,
            processors=processors,
            batch_max=s.batch_max,
            commit_interval_s=s.offset_commit_interval_ms / 1000,
            fetch_wait=FetchWait(
                self._consumer,
                idle_ms=s.kafka_fetch_max_wait_ms,
                busy_ms=s.kafka_fetch_busy_wait_ms,
            ),
        )
        if processors:
            self._consumer.subscribe(list(processors), listener=self._loop.listener())
        self._started = True
        _log.info("service_started", http_port=s.http_port, topic_prefix=s.topic_prefix)

    # -- rebuild ---------------------------------------------------------------------------

    def topics(self) -> list[str]:
        """The full names of the topics the service consumes."""
        return [self.settings.topic(sub.spec.name) for sub in self._subscriptions]

    def _read_back(self) -> tuple[Subscription, ...]:
        spec = self.rebuild_spec
        return spec.read_back() if isinstance(spec, RebuildSpec) else ()

    def describe_rebuild(self) -> dict[str, Any]:
        recorded = list(dict.fromkeys(self.settings.topic(s.spec.name) for s in self._read_back()))
        return self.rebuild_spec.describe(self.name, self.topics(), recorded)

    async def rebuild(
        self,
        stop_at: dict[tuple[str, int], int],
        *,
        seed_from: str | None,
        report: Callable[[int], None],
    ) -> dict[str, Any]:
        """Rebuild into this runtime's (fresh) database: migrations, the seed tables copied
        from ``seed_from``, then every record before ``stop_at`` through the service's own
        subscriptions. No producer, relay, timer or HTTP server: nothing leaves the process,
        and the outbox is emptied at the end (the live relay sends the live ones: a swap waits
        for an empty live outbox). Refused unless the database is marked for this rebuild."""
        spec = self.rebuild_spec
        if isinstance(spec, RebuildRefused):
            raise RuntimeError(spec.reason)
        s = self.settings
        dsn = s.database_url.get_secret_value()
        configure_logging(self.name, s.log_level)
        await check_rebuild_target(dsn, seed_from)
        self.rebuilding = True
        pool = await create_pool(dsn, 2)
        subscriptions = [*self._subscriptions, *spec.recorded]
        read_back = [s.topic(sub.spec.name) for sub in spec.read_back()]
        connections = [DedicatedConnection(dsn) for _ in [*subscriptions, *spec.recalled]]
        consumer = self._rebuild_consumer()
        try:
            await apply_migrations(pool, self._migrations)
            before = [t for t in spec.seeded if not t.after_inputs]
            seeded = await _seed(pool, seed_from, before)
            started = asyncio.get_running_loop().time()
            recalled = await self._recall(spec, stop_at, connections[len(subscriptions) :], report)
            processors = self._processors(
                subscriptions, connections[: len(subscriptions)], publisher=None
            )
            await consumer.start()
            read = await run_rebuild(
                consumer=consumer,
                processors=processors,
                # A topic only recalled was read in the first pass.
                stop_at={tp: o for tp, o in stop_at.items() if tp[0] in processors},
                batch_max=s.rebuild_batch_max,
                report=lambda n: report(recalled + n),
            )
            seconds = asyncio.get_running_loop().time() - started
            after = [t for t in spec.seeded if t.after_inputs]
            seeded.update(await _seed(pool, seed_from, after))
            # Never to be sent: a swap waits for the live relay to have sent the live ones.
            await pool.execute("TRUNCATE oms_outbox, oms_outbox_parked")
            # The decisions were read back, not consumed by the live service.
            await pool.execute("DELETE FROM oms_inbox WHERE topic = ANY($1::text[])", read_back)
            for table in spec.scratch:
                await pool.execute(f'TRUNCATE "{table}"')
            return {"events": recalled + read, "seconds": round(seconds, 3), "seeded": seeded}
        finally:
            await consumer.stop()
            for connection in connections:
                await connection.close()
            await pool.close()

    def _rebuild_consumer(self) -> AIOKafkaConsumer:
        s = self.settings
        return AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap_servers,
            group_id=None,
            client_id=f"oms-{self.name}-rebuild",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=s.rebuild_batch_max,
            **s.aiokafka_security(),
        )

    async def _recall(
        self,
        spec: RebuildSpec,
        stop_at: dict[tuple[str, int], int],
        connections: list[DedicatedConnection],
        report: Callable[[int], None],
    ) -> int:
        """The first pass: the recalled subscriptions' topics read to their end (their stop
        offsets) before any input applies; how many records were read."""
        if not spec.recalled:
            return 0
        processors = self._processors(list(spec.recalled), connections, publisher=None)
        consumer = self._rebuild_consumer()
        await consumer.start()
        try:
            return await run_rebuild(
                consumer=consumer,
                processors=processors,
                stop_at={tp: o for tp, o in stop_at.items() if tp[0] in processors},
                batch_max=self.settings.rebuild_batch_max,
                report=report,
            )
        finally:
            await consumer.stop()

    def _processors(
        self,
        subscriptions: list[Subscription],
        connections: list[DedicatedConnection],
        publisher: CommitPublisher | None,
    ) -> dict[str, BatchProcessor]:
        """One batch processor per subscribed topic, each on its own connection."""
        s = self.settings
        return {
            s.topic(sub.spec.name): BatchProcessor(
                service=self.name,
                database=connection,
                handlers=sub.handlers,
                invalid_handlers=sub.invalid_handlers,
                topic_prefix=s.topic_prefix,
                attempts=s.handler_attempts,
                finish=sub.finish_step,
                publisher=publisher,
                rebuilding=self.rebuilding,
            )
            for sub, connection in zip(subscriptions, connections, strict=True)
        }

    async def _connect_database(self, dsn: str) -> asyncpg.Pool:
        """Wait for the database (it may start after the worker); other errors stop the worker."""
        return await retried(
            "database_unavailable",
            is_infrastructure_error,
            lambda: create_pool(dsn, self.settings.db_pool_max),
            first_s=0.5,
            max_s=10.0,
        )

    async def _start_kafka_client(self, build: Callable[[], _Client]) -> _Client:
        """Wait for the broker (it may start after the worker, or be away for a while):
        meanwhile /health answers 503 with ``"broker": false``."""

        async def start() -> _Client:
            client = build()
            try:
                await client.start()
            except KafkaConnectionError:
                with contextlib.suppress(Exception):
                    await client.stop()
                raise
            return client

        return await retried(
            "broker_unavailable", KafkaConnectionError, start, first_s=0.5, max_s=10.0
        )

    async def _stop(self, tasks: list[asyncio.Future[Any]]) -> None:
        """The consumer first (its last batch commits), then the relay's last pass, then the
        timers and the clients. A batch that cannot finish in the grace period is abandoned
        uncommitted: it is redelivered."""
        grace = self.settings.shutdown_grace_s
        # The relay's last pass sends every row left: only once no batch of ours is sending.
        for part, task in zip((self._loop, self._relay), tasks, strict=False):
            if part is not None:
                part.stop()
            _, pending = await asyncio.wait([task], timeout=grace)
            if pending:
                _log.error("unfinished_at_shutdown", part=type(part).__name__)
        if tasks:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for close in (
            self._consumer.stop if self._consumer else None,
            self._producer.stop if self._producer else None,
            self._pool.close if self._pool else None,
            *(connection.close for connection in self._connections),
        ):
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()

    async def _every(
        self, interval_s: float, fun: Callable[[], Awaitable[None]], wake: Wakeup | None = None
    ) -> None:
        while True:
            await (wake.wait(interval_s) if wake else asyncio.sleep(interval_s))
            try:
                await fun()
            except Exception as exc:
                infrastructure = is_infrastructure_error(exc)
                (_log.warning if infrastructure else _log.error)(
                    "timer_failed",
                    job=getattr(fun, "__name__", "job"),
                    error=type(exc).__name__,
                    sqlstate=getattr(exc, "sqlstate", None) or "",
                )

    # -- operations ------------------------------------------------------------------------

    def _add_operational_routes(self) -> None:
        @self.http.get("/health", include_in_schema=False)
        async def health() -> Response:
            report = await self.health()
            return Response(
                content=_json(report),
                status_code=200 if report["status"] == "ok" else 503,
                media_type="application/json",
            )

        @self.http.get("/live", include_in_schema=False)
        async def live() -> Response:
            return Response(content=b'{"status":"ok"}', media_type="application/json")

        @self.http.get("/metrics", include_in_schema=False)
        async def metrics_page() -> Response:
            return Response(content=generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def health(self) -> dict[str, Any]:
        """Readiness: started, the database answers and the broker answers."""
        database = broker = False
        if self._pool is not None:
            try:
                async with asyncio.timeout(2):
                    database = bool(await self._pool.fetchval("SELECT true"))
            except Exception:
                database = False
        if self._producer is not None:
            try:
                async with asyncio.timeout(2):
                    broker = bool(await self._producer.client.fetch_all_metadata())
            except Exception:
                broker = False
        assigned = len(self._consumer.assignment()) if self._consumer is not None else 0
        return {
            "service": self.name,
            "status": "ok" if self._started and database and broker else "unavailable",
            "database": database,
            "broker": broker,
            "relay_leader": bool(self._relay and self._relay.is_leader),
            "assigned_partitions": assigned,
            "processed_events": self._loop.processed if self._loop else 0,
        }


def _json(body: Any) -> bytes:
    return orjson.dumps(body)


async def _seed(
    pool: asyncpg.Pool, seed_from: str | None, tables: list[SeedTable]
) -> dict[str, int]:
    """Copy ``tables`` from the live database (``seed_from``) into the rebuilt one."""
    if not (seed_from and tables):  # checked: set
        return {}
    live = await asyncpg.connect(seed_from)
    try:
        async with pool.acquire() as rebuilt:
            return await seed_tables(live, rebuilt, tables)
    finally:
        await live.close()
