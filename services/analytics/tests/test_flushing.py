"""faust's producer buffer, with the analytics service's complete flush: a flush returns only
once every record buffered when it began is handed to the Kafka producer, however slowly
they go (faust's own gave up after 0.1 s without a record handed over)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faust.transport.producer import ProducerBuffer

from oms_analytics.entrypoints.flushing import complete_producer_flush


class _SlowChannel:
    def __init__(self) -> None:
        self.sent: list[int] = []
        self.publishing = asyncio.Event()

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        self.publishing.set()
        # A producer slower than faust's own flush waited (0.1 s per record): the slowness
        # is what is tested, not a wait for something to happen.
        await asyncio.sleep(0.3)
        self.sent.append(fut.n)


async def test_a_flush_waits_for_every_record_buffered_when_it_began() -> None:
    complete_producer_flush()
    complete_producer_flush()  # installed once, however often asked
    channel = _SlowChannel()
    buffer = ProducerBuffer()
    buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))  # type: ignore[assignment]
    await buffer.start()
    try:
        for n in range(3):
            buffer.put(SimpleNamespace(n=n, message=SimpleNamespace(channel=channel)))  # type: ignore[arg-type]
        await buffer.flush()
        assert channel.sent == [0, 1, 2]
        channel.publishing.clear()
        buffer.put(SimpleNamespace(n=3, message=SimpleNamespace(channel=channel)))  # type: ignore[arg-type]
        flush = asyncio.ensure_future(buffer.flush())
        await asyncio.wait_for(channel.publishing.wait(), 5)  # the flush is handing record 3 over
        buffer.put(SimpleNamespace(n=4, message=SimpleNamespace(channel=channel)))  # type: ignore[arg-type]
        await flush  # the record put after the flush began is not waited for
        assert channel.sent == [0, 1, 2, 3]
    finally:
        await buffer.stop()


async def test_a_flush_whose_counts_outlive_the_records_returns_once_nothing_is_queued() -> None:
    """Counted as put but never queued (the counts gone wrong): nothing is left to hand over,
    so the flush returns within its one-second look instead of holding every commit."""
    complete_producer_flush()
    buffer = ProducerBuffer()
    buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))  # type: ignore[assignment]
    await buffer.start()
    try:
        buffer._oms_put = 5  # type: ignore[attr-defined]
        await asyncio.wait_for(buffer.flush(), 5)
    finally:
        await buffer.stop()
