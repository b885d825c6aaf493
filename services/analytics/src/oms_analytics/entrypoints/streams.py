"""The faust app: the public topics in; the KPI, funds and stuck-order tables (with their
changelog topics), the HTTP views on them, the funds history in PostgreSQL and the stuck-order
alerts on oms.analytics-alerts out.

One agent reads oms.orders, oms.payments, oms.shipments, oms.returns, oms.sourcing and
oms.inventory as bytes and decodes each value with the contract's codec (not faust.Record,
whose wire format names Python classes); the use cases update the KPI tables (orders,
windows, locations, marks), the funds tables (ledgers, funds), the order stays (stays) and
the stock per SKU and location (stock). faust's own topics (changelogs, the assignor's)
are named after the app id, which carries the run's topic prefix and group suffix.
"""

from __future__ import annotations

import asyncio
from time import monotonic
from typing import Any, cast

import faust
import structlog
from faust.types import TP, TableT
from faust.web import Request, Response, View

from oms_analytics.config import AnalyticsSettings
from oms_analytics.domain.stalling import StallWatch
from oms_analytics.domain.stuck import Detected
from oms_analytics.domain.windows import Granularity
from oms_analytics.entrypoints.acknowledging import count_each_offset_once
from oms_analytics.entrypoints.dashboard import register_dashboard
from oms_analytics.entrypoints.expiry import register_expiry
from oms_analytics.entrypoints.flushing import complete_producer_flush
from oms_analytics.entrypoints.history import register_history
from oms_analytics.entrypoints.metrics import Metrics, register_metrics
from oms_analytics.entrypoints.reports import register_views
from oms_analytics.entrypoints.resuming import keep_records_read_after_seek
from oms_analytics.entrypoints.watchdog import register_watchdog
from oms_analytics.service_layer.counting import Read, read_of
from oms_analytics.service_layer.journal import Journal, Send
from oms_analytics.service_layer.stuck import Outcome, alert_event
from oms_analytics.service_layer.use_cases import TABLES, compose
from oms_events.codec import CONTENT_TYPE, InvalidEvent, encode
from oms_events.topics import topic
from oms_runtime import kill_at, kill_due

__all__ = ["SOURCE_TOPICS", "broker_credentials", "build_app"]

ORDER_TOPICS = ("oms.orders", "oms.payments", "oms.shipments", "oms.returns", "oms.sourcing")
"""Keyed by order id: an order's events share a partition number on each."""
INVENTORY_TOPIC = "oms.inventory"
"""Keyed by SKU and location."""
SOURCE_TOPICS = (*ORDER_TOPICS, INVENTORY_TOPIC)
ALERTS_TOPIC = "oms.analytics-alerts"
TORN_WRITE = "analytics_torn_write"
"""``OMS_FAULT_KILL_AT=analytics_torn_write:<n>``: once n events are counted, the first batch
that writes two keys or more has only one journal record and one write sent, then the worker
kills itself (the kill test's torn write)."""
STALL = "analytics_stall"
"""``OMS_FAULT_KILL_AT=analytics_stall:<n>``: once n events are counted, the agent stops
counting (it waits for ever, as after the stall a session expiry can cause), for the
watchdog's test."""
COMMIT_STALL = "analytics_commit_stall"
"""``OMS_FAULT_KILL_AT=analytics_commit_stall:<n>``: once n events are counted, the consumer
commits nothing more while the agent counts on, for the watchdog's test of stopped commits."""

log = structlog.get_logger("oms_analytics")


async def _commits_nothing(*_args: Any, **_kwargs: Any) -> bool:
    return False


def build_app(settings: AnalyticsSettings) -> faust.App:
    complete_producer_flush()  # no offset committed before its events' table writes are sent
    keep_records_read_after_seek()  # no record fetched after a recovery dropped unread
    count_each_offset_once()  # a duplicate acknowledgement does not hold the commits back
    app_id = f"{settings.topic_prefix}oms-analytics{settings.group_suffix}"
    settings.analytics_data_dir.mkdir(parents=True, exist_ok=True)  # faust makes one level
    app = faust.App(
        app_id,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        broker_credentials=broker_credentials(settings),
        store=settings.analytics_store,
        datadir=str(settings.analytics_data_dir / f"{app_id}-data"),
        topic_partitions=topic(SOURCE_TOPICS[0]).partitions,
        topic_replication_factor=settings.analytics_replication_factor,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        # The runtime's OMS_KAFKA_SESSION_TIMEOUT_S, as the other services' consumers use it:
        # a worker that died without leaving the group (SIGKILL, a lost machine) holds its
        # partitions until its session expires, and a worker started in its place waits that
        # long for the rebalance. faust's own default is 60 s.
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=settings.kafka_session_timeout_s / 3,
        web_host=settings.http_host,
        web_bind=settings.http_host,
        web_port=settings.http_port,
        web_in_thread=False,
        stream_wait_empty=True,
        # The complete flush counts the records handed over on the event loop; a threaded
        # producer (faust reads PRODUCER_THREADED from the environment) would bypass it.
        producer_threaded=False,
    )
    # One faust table, so one changelog topic, for every table: an event's writes then
    # reach the broker in order, after its journal record (service_layer/journal.py).
    state = app.Table(
        "state",
        key_type=str,
        value_type=None,
        partitions=None,
        help="every table under its prefix, and each source partition's journal",
    )
    journal = Journal(state, _sender(state), _remembered(state))
    source_names = [topic(name).full_name(settings.topic_prefix) for name in SOURCE_TOPICS]
    order_topics = source_names[: len(ORDER_TOPICS)]

    def behind(partition: int) -> set[str]:
        """The order topics with records still to read on ``partition`` (held here): the
        broker's high watermark past the last offset faust read or was positioned at (its
        consumer's ``_read_offset``, as its own flow control reads it; a consumer without
        it counts every topic holding records as behind, which only expires less)."""
        consumer = app.consumer
        read = getattr(consumer, "_read_offset", {})
        try:
            assigned = consumer.assignment()
        except Exception:  # the consumer not started yet: nothing known, nothing expires
            return set(order_topics)
        late = set()
        for name in order_topics:
            tp = TP(name, partition)
            if tp not in assigned:
                continue
            high, last = consumer.highwater(tp), read.get(tp)
            if high is None or (high > 0 and (last is None or last < high - 1)):
                late.add(name)
        return late

    uses = compose(settings, journal, source_names, app.conf.topic_partitions, behind)
    analytics, funds, stuck, stock = uses.analytics, uses.funds, uses.stuck, uses.stock
    counting = uses.counting
    metrics = Metrics()
    source = app.topic(
        *source_names,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        allow_empty=True,
    )
    alerts = app.topic(
        topic(ALERTS_TOPIC).full_name(settings.topic_prefix),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    async def publish(outcome: Outcome) -> None:
        """Each alert acknowledged by the broker before its stay is kept as reported."""
        for alert in outcome.alerts:
            sent = await alerts.send(
                key=alert.order_id.encode(),
                value=encode(alert_event(alert)),
                headers={"content-type": CONTENT_TYPE.encode()},
                force=True,
            )
            await sent
            metrics.published(alerts.get_topic_name())
            log.warning(
                "order_stuck" if isinstance(alert, Detected) else "stuck_order_cleared",
                order_id=alert.order_id,
                status=str(alert.status),
            )
        stuck.apply(outcome)

    def decoded(event: faust.types.EventT[bytes]) -> Read | None:
        """The event as read, or None (logged and counted) when it cannot be decoded."""
        message = event.message
        try:
            read = read_of(message.topic, message.partition, message.offset, event.value)
        except InvalidEvent as exc:
            metrics.consumed(message.topic, "undecodable")
            log.warning(
                "undecodable_event_skipped",
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                reason=str(exc),
            )
            return None
        metrics.consumed(message.topic, "ignored" if read.payload is None else "processed")
        return read

    watch = StallWatch(settings.analytics_stall_s, monotonic())

    async def count(stream: faust.StreamT[bytes]) -> None:
        counted = 0
        batches = cast("faust.Stream[bytes]", stream).take_events(
            settings.analytics_batch_max, settings.analytics_batch_s
        )
        async for events in batches:
            reads = [read for read in map(decoded, events) if read is not None]
            counted += len(reads)
            if kill_due(STALL, counted):
                await asyncio.Event().wait()
            if kill_due(COMMIT_STALL, counted):
                app.consumer.commit = _commits_nothing  # type: ignore[method-assign]
            # The tests' torn write: the first partition's journal record and first write.
            keep = 2 if kill_due(TORN_WRITE, counted) else None
            if await counting.count(reads, publish, keep) > 1 and keep is not None:
                await app.producer.flush()  # those two records at the broker, no more
                kill_at(TORN_WRITE, counted)
            for event in events:  # undecodable ones too: none is left to wait for
                watch.took(event.message.tp, event.message.offset)
            watch.progressed(monotonic())

    app.agent(source, name="oms-analytics-count", concurrency=1)(count)

    @app.on_partitions_assigned.connect
    async def replan(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        stuck.forget_schedule()  # the partitions' stays may have moved on elsewhere

    @state.on_recover
    async def complete_torn_writes() -> None:
        """The table recovered, before the streams resume: the last batch of each source
        partition held here written whole (a SIGKILL may have torn its writes)."""
        held = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic in source_names}
        journal.recover(sorted(held))

    class Health(View):
        async def get(self, request: Request) -> Response:
            return self.json({**_health(app), "stuck_orders": stuck.stuck_count()})

    app.page("/health")(Health)

    history = register_history(app, settings, funds, analytics)
    expiry = uses.expiry
    register_expiry(app, settings, expiry, history, metrics, journal)
    register_watchdog(app, watch, source_names)
    register_views(app, analytics, funds, stuck, stock, history, expiry)
    register_dashboard(app)
    metrics.gauge("oms_analytics_stuck_orders", "Orders stuck in a status now.", stuck.stuck_count)
    metrics.gauge(
        "oms_analytics_out_of_stock",
        "SKUs at a location out of stock now.",
        lambda: len(stock.out_of_stock()["out_of_stock"]),
    )
    metrics.gauge(
        "oms_analytics_late_figures_dropped",
        "Figures too late for their hour, dropped.",
        lambda: analytics.late_dropped(Granularity.HOUR),
    )
    metrics.gauge(
        "oms_analytics_seconds_without_progress",
        "Seconds since a batch was counted or nothing was left to read (at"
        " OMS_ANALYTICS_STALL_S with records waiting, the worker exits to be started again).",
        lambda: monotonic() - watch.last_progress,
    )
    metrics.labelled_gauge(
        "oms_analytics_table_keys",
        "Keys each table holds (the expiry keeps them bounded).",
        "table",
        lambda: {name: journal.sizes()[name] for name in TABLES},
    )
    register_metrics(app, metrics)
    return app


def _remembered(state: TableT[str, Any]) -> Send:
    """Writes to the worker's copy of the table alone (the torn write's rest)."""

    def remember(partition: int, key: str, value: Any) -> None:
        if value is None:
            state.data.pop(key, None)
        else:
            state.data[key] = value

    return remember


def _sender(state: TableT[str, Any]) -> Send:
    """Writes outside an event (a recovery's, the expiry's) to the given changelog partition
    and the worker's copy of the table."""

    remember = _remembered(state)

    def send(partition: int, key: str, value: Any) -> None:
        if value is None:
            state.send_changelog(partition, key, None, value_serializer="raw")
        else:
            state.send_changelog(partition, key, value)
        remember(partition, key, value)

    return send


def broker_credentials(settings: AnalyticsSettings) -> faust.types.auth.CredentialsT | None:
    """The runtime's TLS and SASL settings (``OMS_KAFKA_*``) as faust's credentials."""
    context = settings.ssl_context()
    if settings.kafka_sasl_mechanism:
        assert settings.kafka_sasl_password is not None  # the runtime's settings insist
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password.get_secret_value(),
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism,
        )
    return faust.SSLCredentials(context) if context is not None else None


def _health(app: faust.App) -> dict[str, Any]:
    """ok once partitions are assigned and the tables recovered from their changelogs."""
    assigned = len(app.consumer.assignment()) if app.consumer else 0
    recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
    status = "ok" if assigned and recovered and not app.rebalancing else "starting"
    return {"status": status, "assigned_partitions": assigned, "tables_recovered": recovered}
