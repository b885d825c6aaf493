"""The composition of one service: a faust worker with batched agents, the relay, health."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import faust
import mode
import structlog
from aiokafka import AIOKafkaProducer
from prometheus_client import generate_latest

from oms_events.topics import topic as topic_spec
from oms_runtime import metrics
from oms_runtime.config import RuntimeSettings
from oms_runtime.consumer import (
    BatchFinish,
    BatchProcessor,
    ConsumedRecord,
    Handler,
    InvalidHandler,
    is_infrastructure_error,
)
from oms_runtime.db import RUNTIME_MIGRATIONS, apply_migrations, create_pool
from oms_runtime.faults import kill_at
from oms_runtime.logging import configure_logging
from oms_runtime.outbox import Outbox, write_outbox
from oms_runtime.relay import OutboxRelay

__all__ = ["ServiceRuntime", "UnitOfWork"]

_log = structlog.get_logger(__name__)
_LAG_EVERY_S = 5.0


@dataclass
class UnitOfWork:
    """A transaction and the outbox whose events commit with it."""

    conn: asyncpg.Connection
    outbox: Outbox


class ServiceRuntime:
    """Builds the faust app of one service; clients are created when the worker starts."""

    def __init__(
        self,
        name: str,
        *,
        settings: RuntimeSettings | None = None,
        migrations: Path | None = None,
    ) -> None:
        self.name = name
        self.settings = settings or RuntimeSettings()
        self._migrations = {"runtime": RUNTIME_MIGRATIONS}
        if migrations is not None:
            self._migrations[name] = migrations
        self._pool: asyncpg.Pool | None = None
        self._relay: OutboxRelay | None = None
        self._ready: asyncio.Event | None = None
        self._processors: list[BatchProcessor] = []
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._processed_total = 0
        self.app = self._build_app()

    # -- composition -----------------------------------------------------------------------

    def _build_app(self) -> faust.App:
        s = self.settings
        options: dict[str, Any] = {}
        if s.kafka_sasl_mechanism:
            assert s.kafka_sasl_password is not None
            options["broker_credentials"] = faust.SASLCredentials(
                username=s.kafka_sasl_username,
                password=s.kafka_sasl_password.get_secret_value(),
                ssl_context=s.ssl_context(),
                mechanism=s.kafka_sasl_mechanism,
            )
        elif s.ssl_context() is not None:
            options["broker_credentials"] = s.ssl_context()
        app = faust.App(
            f"oms-{self.name}{s.group_suffix}",
            broker=[f"kafka://{h.strip()}" for h in s.kafka_bootstrap_servers.split(",")],
            key_serializer="raw",
            value_serializer="raw",
            store="memory://",
            autodiscover=False,
            topic_replication_factor=1,
            topic_partitions=1,
            consumer_auto_offset_reset="earliest",
            broker_commit_every=1.0,
            broker_session_timeout=s.kafka_session_timeout_s,
            broker_heartbeat_interval=s.kafka_session_timeout_s / 3,
            web_bind=s.http_host,
            web_host=s.http_host,
            web_port=s.http_port,
            stream_wait_empty=False,
            datadir=Path(tempfile.gettempdir()) / f"oms-faust-{self.name}{s.group_suffix}",
            **options,
        )
        runtime = self

        class Lifecycle(mode.Service):
            async def on_start(self) -> None:
                await runtime._start()

            async def on_stop(self) -> None:
                await runtime._stop()

        app.service(Lifecycle)

        @app.page("/health")
        async def health(view: Any, request: Any) -> Any:
            report = await runtime.health()
            return view.json(report, status=200 if report["status"] == "ok" else 503)

        @app.page("/metrics")
        async def metrics_page(view: Any, request: Any) -> Any:
            # aiohttp wants the charset apart from the content type.
            return view.bytes(generate_latest(), content_type="text/plain; version=0.0.4")

        @app.timer(_LAG_EVERY_S)
        async def measure_lag() -> None:
            await runtime._measure_lag()

        return app

    def subscribe(
        self,
        logical_topic: str,
        handlers: Mapping[str, Handler],
        invalid_handlers: Mapping[str, InvalidHandler] | None = None,
        finish: BatchFinish | None = None,
    ) -> None:
        """Consume one topic in batches; events of types without a handler are skipped.

        ``invalid_handlers`` answer events whose payload fails validation; without one, such
        an event is dead-lettered. ``finish`` runs once per batch transaction after them.
        """
        spec = topic_spec(logical_topic)
        unknown = (set(handlers) | set(invalid_handlers or {})) - set(spec.event_types)
        if unknown:
            raise ValueError(f"{logical_topic} carries no {sorted(unknown)}")
        source = self.app.topic(
            self.settings.topic(spec.name), key_type=bytes, value_type=bytes, value_serializer="raw"
        )
        processor_holder: list[BatchProcessor] = []
        runtime = self

        async def agent(stream: Any) -> None:
            ready = runtime._ready_event()
            await ready.wait()
            if not processor_holder:
                assert runtime._pool is not None
                processor_holder.append(
                    BatchProcessor(
                        service=runtime.name,
                        pool=runtime._pool,
                        handlers=handlers,
                        invalid_handlers=invalid_handlers,
                        topic_prefix=runtime.settings.topic_prefix,
                        attempts=runtime.settings.handler_attempts,
                        finish=finish,
                    )
                )
                runtime._processors.append(processor_holder[0])
            processor = processor_holder[0]
            within = runtime.settings.batch_within_ms / 1000
            async for events in stream.take_events(runtime.settings.batch_max, within):
                await runtime._process_shielded(processor, [e.message for e in events])

        agent.__name__ = f"consume_{spec.name.replace('.', '_').replace('-', '_')}"
        self.app.agent(source, name=f"oms-{self.name}.{spec.name}", concurrency=1)(agent)

    def timer(self, interval_s: float) -> Callable[[Callable[[], Awaitable[None]]], Any]:
        """A periodic job that runs once the database is ready.

        A failed run (the database away, a deadlock with a consumer's batch, a bug) is logged
        and the job runs again at its next tick: an exception would stop the whole worker.
        """

        def decorate(fun: Callable[[], Awaitable[None]]) -> Any:
            async def run() -> None:
                await self._ready_event().wait()
                try:
                    await fun()
                except Exception as exc:
                    infrastructure = is_infrastructure_error(exc)
                    (_log.warning if infrastructure else _log.error)(
                        "timer_failed",
                        job=fun.__name__,
                        error=type(exc).__name__,
                        sqlstate=getattr(exc, "sqlstate", None) or "",
                    )

            run.__name__ = fun.__name__
            return self.app.timer(interval_s)(run)

        return decorate

    @property
    def ready(self) -> bool:
        """True once the database pool exists: HTTP handlers answer 503 before that."""
        return self._pool is not None

    @asynccontextmanager
    async def unit_of_work(
        self, *, correlation_id: str | None = None, causation_id: str | None = None
    ) -> AsyncIterator[UnitOfWork]:
        """For HTTP handlers and timers: state change and outgoing events in one transaction."""
        assert self._pool is not None, "the service has not started"
        outbox = Outbox(
            source=f"oms/{self.name}",
            topic_prefix=self.settings.topic_prefix,
            correlation_id=correlation_id,
            causation_id=causation_id,
        )
        async with self._pool.acquire() as conn, conn.transaction():
            yield UnitOfWork(conn=conn, outbox=outbox)
            await write_outbox(conn, outbox.records)

    # -- lifecycle -------------------------------------------------------------------------

    def _ready_event(self) -> asyncio.Event:
        if self._ready is None:
            self._ready = asyncio.Event()
        return self._ready

    async def _start(self) -> None:
        s = self.settings
        configure_logging(self.name, s.log_level)
        dsn = s.database_url.get_secret_value()
        self._pool = await self._connect_database(dsn)
        await apply_migrations(self._pool, self._migrations)
        producer = AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap_servers,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            max_batch_size=256 * 1024,
            client_id=f"oms-{self.name}-relay",
            **s.aiokafka_security(),
        )
        await producer.start()
        self._producer = producer
        self._relay = OutboxRelay(
            service=self.name, dsn=dsn, producer=producer, batch_max=s.relay_batch_max
        )
        self._relay_task = asyncio.ensure_future(self._relay.run())
        self._ready_event().set()
        _log.info("service_started", http_port=s.http_port, topic_prefix=s.topic_prefix)

    async def _connect_database(self, dsn: str) -> asyncpg.Pool:
        """Wait for the database (it may start after the worker); other errors stop the worker."""
        backoff = 0.5
        while True:
            try:
                return await create_pool(dsn, self.settings.db_pool_max)
            except Exception as exc:
                if not is_infrastructure_error(exc):
                    raise
                _log.warning("database_unavailable", error=type(exc).__name__, retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _stop(self) -> None:
        """Agents first (their last batches commit), then the relay's last pass, then clients.

        This service starts after the agents and so would stop before them: stop them here.
        """
        try:
            await self.app.agents.stop()
        except Exception as exc:
            _log.warning("agents_stop_failed", error=type(exc).__name__)
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=self.settings.shutdown_grace_s)
        if self._relay is not None:
            self._relay.stop()
            try:
                await asyncio.wait_for(self._relay_task, self.settings.shutdown_grace_s)
            except Exception as exc:  # left in the outbox: published at the next start
                _log.warning("relay_unfinished_at_shutdown", error=type(exc).__name__)
            await self._producer.stop()
        if self._pool is not None:
            await self._pool.close()
        _log.info("service_stopped")

    async def _process_shielded(self, processor: BatchProcessor, messages: list[Any]) -> None:
        """faust acknowledges a batch whenever the agent leaves it, even on an exception or a
        cancellation. So a batch always finishes its transaction first, and a worker that
        cannot finish it exits at once without acknowledging: the batch is redelivered."""
        try:
            records = [_record(m) for m in messages]
            task = asyncio.ensure_future(processor.process(records))
        except Exception as exc:
            _log.critical("batch_unreadable", records=len(messages), error=type(exc).__name__)
            os._exit(70)
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            try:
                await asyncio.wait_for(asyncio.shield(task), self.settings.shutdown_grace_s)
            except BaseException:
                _log.critical("batch_unfinished_at_shutdown", records=len(records))
                os._exit(75)
            raise
        except Exception as exc:
            _log.critical("batch_crashed", records=len(records), error=type(exc).__name__)
            os._exit(70)
        self._processed_total += result.processed
        kill_at("after_commit", self._processed_total)

    async def health(self) -> dict[str, Any]:
        database = False
        if self._pool is not None:
            try:
                async with asyncio.timeout(2):
                    database = await self._pool.fetchval("SELECT true")
            except Exception:
                database = False
        try:
            assigned = len(self.app.consumer.assignment())
        except Exception:
            assigned = 0
        started = self._ready is not None and self._ready.is_set()
        return {
            "service": self.name,
            "status": "ok" if started and database else "unavailable",
            "database": database,
            "relay_leader": bool(self._relay and self._relay.is_leader),
            "assigned_partitions": assigned,
            "processed_events": self._processed_total,
        }

    async def _measure_lag(self) -> None:
        try:
            assignment = self.app.consumer.assignment()
        except Exception:
            return
        positions: dict[tuple[str, int], int] = {}
        for processor in self._processors:
            positions.update(processor.positions)
        for tp in assignment:
            try:
                highwater = self.app.consumer.highwater(tp)
            except Exception:
                continue
            if highwater is None:
                continue
            position = positions.get((tp.topic, tp.partition))
            if position is None:
                position = await self.app.consumer.position(tp) or 0
            metrics.CONSUMER_LAG.labels(self.name, tp.topic, str(tp.partition)).set(
                max(highwater - position, 0)
            )


def _header_items(headers: Any) -> list[tuple[Any, Any]]:
    if not headers:
        return []
    return list(headers.items()) if isinstance(headers, Mapping) else list(headers)


def _record(message: Any) -> ConsumedRecord:
    return ConsumedRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        # A header may carry no value at all; kept as empty bytes.
        headers=tuple((str(k), bytes(v or b"")) for k, v in _header_items(message.headers)),
    )
