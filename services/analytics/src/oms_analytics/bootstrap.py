"""Composition root of the analytics service: settings in, the faust app and its worker out."""

from __future__ import annotations

import asyncio

import faust
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from oms_analytics.config import AnalyticsSettings
from oms_analytics.entrypoints.streams import build_app

__all__ = ["build_app", "build_worker", "declare_changelogs"]

_LISTED_WITHIN_S = 60.0


def build_worker(settings: AnalyticsSettings | None = None) -> faust.Worker:
    """faust's worker: it owns the event loop and the signal handlers, and on SIGTERM commits
    offsets and flushes the changelogs before it exits. It keeps the logging the service set
    up (JSON lines, as every service logs) instead of installing its own."""
    settings = settings or AnalyticsSettings()
    app = build_app(settings)
    asyncio.run(declare_changelogs(settings, app))
    return faust.Worker(app, loglevel="INFO", redirect_stdouts=False, override_logging=False)


async def declare_changelogs(settings: AnalyticsSettings, app: faust.App) -> None:
    """Create the tables' changelog topics before the worker subscribes to them.

    faust creates them itself while it starts, but its consumer may take the metadata
    snapshot before a topic just created is visible; the table's first write then fails on
    a partition count of 0 (``PartitionsMismatch``) until the metadata is refreshed minutes
    later. Created beforehand, they are there when the worker looks.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, **settings.aiokafka_security()
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                table.changelog_topic.get_topic_name(),
                num_partitions=app.conf.topic_partitions,
                replication_factor=app.conf.topic_replication_factor,
                topic_configs={"cleanup.policy": "compact"},
            )
            for table in app.tables.values()
        ]
        missing = [topic for topic in wanted if topic.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:  # another instance was first
                pass
            await _until_listed(admin, {topic.name for topic in missing})
    finally:
        await admin.close()


async def _until_listed(admin: AIOKafkaAdminClient, names: set[str]) -> None:
    """Until the broker's metadata lists ``names``: a loaded broker can answer the worker's
    first metadata request without a topic it has just created (seen: seconds later)."""
    deadline = asyncio.get_running_loop().time() + _LISTED_WITHIN_S
    while not names <= set(await admin.list_topics()):
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"changelog topics not listed after {_LISTED_WITHIN_S} s: {names}")
        await asyncio.sleep(0.2)
