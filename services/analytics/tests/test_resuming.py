"""faust's flow control, with the analytics service's safe resumption: records delivered to a
channel queue while the flow runs stay there when the recovery resumes the flow after its
seek; what was delivered before the seek (or while a rebalance suspended the flow) is
dropped, to be read again from the committed offsets."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from faust.tables.recovery import Recovery
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from oms_analytics.entrypoints import resuming
from oms_analytics.entrypoints.resuming import keep_records_read_after_seek


def _flow_with_queue() -> tuple[FlowControlEvent, FlowControlQueue[str]]:
    flow = FlowControlEvent(initially_suspended=False)
    return flow, FlowControlQueue(flow_control=flow, clear_on_resume=True)


def test_a_running_flow_resumed_keeps_what_its_queues_hold() -> None:
    keep_records_read_after_seek()
    keep_records_read_after_seek()  # installed once, however often asked
    flow, queue = _flow_with_queue()
    queue.put_nowait("fetched after the seek")
    flow.resume()  # as faust's recovery does once it has sought the partitions
    assert queue.qsize() == 1


def test_a_suspended_flow_resumed_drops_what_its_queues_hold() -> None:
    keep_records_read_after_seek()
    flow, queue = _flow_with_queue()
    queue.put_nowait("fetched before a rebalance")
    flow.suspend()
    flow.resume()
    assert queue.qsize() == 0
    assert flow.is_active()


async def test_the_queues_are_emptied_before_the_recovery_resumes_and_seeks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keep_records_read_after_seek()
    assert Recovery.on_recovery_completed is resuming._on_recovery_completed
    flow, queue = _flow_with_queue()
    queue.put_nowait("fetched before the seek")
    held_when_faust_resumed: list[int] = []

    async def faust_completion(recovery: Any, generation_id: int = 0) -> None:
        held_when_faust_resumed.append(queue.qsize())
        queue.put_nowait("fetched during the seek")
        recovery.app.flow_control.resume()

    monkeypatch.setattr(resuming, "_faust_on_recovery_completed", faust_completion)
    recovery = SimpleNamespace(app=SimpleNamespace(flow_control=flow))
    await Recovery.on_recovery_completed(recovery, 3)  # type: ignore[arg-type]
    assert held_when_faust_resumed == [0]
    assert queue.get_nowait() == "fetched during the seek"
