"""The fetch wait set on a started aiokafka consumer changes the fetches it sends.

aiokafka has no public setter for it (fetch_wait.py sets its fetcher's attribute); this test
fails if a new aiokafka stops reading that attribute when it builds a fetch request.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.protocol.fetch import FetchRequest

from oms_runtime._fetch_wait import FetchWait
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration


async def test_after_a_slow_batch_the_broker_holds_a_fetch_of_an_idle_partition_briefly(
    env: Env,
) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=env.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=3000
    )
    await consumer.start()
    fetches = 0
    send = consumer._client.send

    async def counting(node_id: int, request: Any, **kwargs: Any) -> Any:
        nonlocal fetches
        fetches += isinstance(request, FetchRequest)
        return await send(node_id, request, **kwargs)

    consumer._client.send = counting
    try:
        # An idle partition: the broker holds every fetch of it for the whole wait.
        consumer.assign([TopicPartition(env.topic("oms.operator-audit"), 0)])

        async def fetching() -> bool:
            return fetches >= 1

        await wait_for(fetching, timeout=10, what="a first fetch")
        FetchWait(consumer, idle_ms=3000, busy_ms=20).after_poll(0.3)
        before = fetches

        async def fetched_ten_more() -> bool:
            return fetches - before >= 10

        # The fetch in flight still waits its 3 s, the next ones 20 ms each: ten within 8 s,
        # where ten of 3 s would take 30.
        await wait_for(fetched_ten_more, timeout=8, what="ten fetches after the switch")
    finally:
        await consumer.stop()
