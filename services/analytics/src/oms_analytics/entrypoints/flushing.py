"""faust's producer flush made complete: every buffered changelog record sent before the
consumer commits its offsets.

faust (faust-streaming 0.11 to this release) buffers a table's changelog records
(``ProducerBuffer``: ``Table.__setitem__`` is synchronous) and a task hands them to aiokafka
one by one. Before it commits offsets the consumer flushes the producer, but the buffer's
``flush`` waits at most 0.1 s for each next record to be handed over and then returns with
records still buffered (or one being handed over), and the offsets are committed anyway.
Under load the buffer holds 100 records and more, so a commit could cover events whose table
writes were not sent yet; a worker killed then lost those writes for good, as its
successor starts after the committed offsets (the kill test lost an authorisation and its
day's amount this way). Here the flush waits until every record buffered when it began has
been handed over (records are handed over in the order they were put), however long that
takes. A flush that waits without progress says so every 10 s (how many records were put,
handed over and are still queued, and whether one is being handed over); should the counts
say records remain while none is queued or being handed over, nothing is left to wait for,
and it returns saying so rather than hold every later commit for good.
"""

from __future__ import annotations

import asyncio
from time import monotonic
from typing import Any

import structlog
from faust.transport.producer import ProducerBuffer

__all__ = ["complete_producer_flush"]

_PUT, _HANDED_OVER, _SENDING = "_oms_put", "_oms_handed_over", "_oms_sending"
_SAY_EVERY_S = 10.0

log = structlog.get_logger(__name__)


def _put(self: ProducerBuffer, fut: Any) -> None:
    setattr(self, _PUT, getattr(self, _PUT, 0) + 1)
    _faust_put(self, fut)


async def _send_pending(self: ProducerBuffer, fut: Any) -> None:
    setattr(self, _SENDING, True)
    try:
        await _faust_send_pending(self, fut)
    finally:
        setattr(self, _SENDING, False)
        setattr(self, _HANDED_OVER, getattr(self, _HANDED_OVER, 0) + 1)


async def _flush(self: ProducerBuffer) -> None:
    """Until every record buffered when the flush began is in aiokafka's hands (whose own
    flush, which faust calls next, waits for the broker's acknowledgements). Records put
    meanwhile, for events read after the offsets to commit, are not waited for: under a
    steady load the buffer never empties, and the commit must not wait for that."""
    target = getattr(self, _PUT, 0)
    progressed = said = monotonic()
    while getattr(self, _HANDED_OVER, 0) < target:
        if self.state != "running":
            if self.size:
                raise RuntimeError("Cannot flush: Producer not Running")
            return  # stopped: nothing buffered will be handed over any more
        self.message_sent.clear()
        try:  # woken by each record handed over; the bound only guards a missed wake-up
            await asyncio.wait_for(self.message_sent.wait(), timeout=1.0)
            progressed = monotonic()
            continue
        except TimeoutError:
            pass
        state = {
            "put": target,
            "handed_over": getattr(self, _HANDED_OVER, 0),
            "queued": self.size,
            "handing_over": getattr(self, _SENDING, False),
        }
        if not state["queued"] and not state["handing_over"]:
            log.error("producer_flush_counts_without_records", **state)
            # Counted from here on, so later flushes do not wait for what never comes.
            setattr(self, _PUT, getattr(self, _PUT, 0) - target + state["handed_over"])
            return
        if monotonic() - said >= _SAY_EVERY_S:
            said = monotonic()
            log.warning("producer_flush_waiting", waited_s=round(said - progressed), **state)


_faust_put = ProducerBuffer.put
_faust_send_pending = ProducerBuffer._send_pending


def complete_producer_flush() -> None:
    """Install the complete flush (once per process, before the worker starts)."""
    if ProducerBuffer.flush is not _flush:
        ProducerBuffer.put = _put  # type: ignore[method-assign]
        ProducerBuffer._send_pending = _send_pending  # type: ignore[method-assign]
        ProducerBuffer.flush = _flush  # type: ignore[method-assign]
