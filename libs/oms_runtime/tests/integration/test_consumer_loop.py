"""The consumer loop on the real broker: each topic's batch runs on its own, so a record of one
topic is applied while a slow batch of another is still in flight, and the offsets of both
are committed once their batches have ended."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from oms_runtime._consumer import BatchProcessor, BatchResult, ConsumedRecord
from oms_runtime._consumer_loop import ConsumerLoop
from tests.support.kafka import produce
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration


class _Held:
    """A topic's processor whose batches wait until released."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.applied: list[int] = []

    async def process(self, records: Sequence[ConsumedRecord]) -> BatchResult:
        self.entered.set()
        await self.release.wait()
        self.applied += [r.offset for r in records]
        return BatchResult(processed=len(records))


class _Quick:
    def __init__(self) -> None:
        self.applied: list[int] = []

    async def process(self, records: Sequence[ConsumedRecord]) -> BatchResult:
        self.applied += [r.offset for r in records]
        return BatchResult(processed=len(records))


async def test_a_topic_is_applied_while_another_topics_batch_is_in_flight(env: Env) -> None:
    slow, quick = env.topic("oms.orders"), env.topic("oms.inventory")
    group = f"loop-{env.run}"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=env.bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    held, fast = _Held(), _Quick()
    processors = cast(dict[str, BatchProcessor], {slow: held, quick: fast})
    loop = ConsumerLoop(
        service="test", consumer=consumer, processors=processors, batch_max=100,
        commit_interval_s=0.1,
    )  # fmt: skip
    consumer.subscribe([slow, quick], listener=loop.listener())
    running = asyncio.ensure_future(loop.run())
    try:
        await produce(env.bootstrap, slow, [b"slow"], partition=0)
        await wait_for(_set(held.entered), what="the slow topic's batch in flight")

        await produce(env.bootstrap, quick, [b"one", b"two"], partition=0)
        await wait_for(_seen(lambda: fast.applied == [0, 1]), what="the quick topic applied")
        assert held.applied == []  # still in flight meanwhile

        held.release.set()
        await wait_for(_seen(lambda: held.applied == [0]), what="the slow batch ended")

        async def committed() -> bool:
            offsets = {
                tp.topic: await consumer.committed(tp)
                for tp in (TopicPartition(slow, 0), TopicPartition(quick, 0))
            }
            return offsets == {slow: 1, quick: 2}

        await wait_for(committed, what="both topics' offsets committed")
    finally:
        held.release.set()
        loop.stop()
        await running
        await consumer.stop()


def _set(event: asyncio.Event) -> Any:
    async def probe() -> bool:
        return event.is_set()

    return probe


def _seen(condition: Any) -> Any:
    async def probe() -> bool:
        return bool(condition())

    return probe
