"""The fetch wait: short after a slow batch and for a while after, long otherwise."""

from __future__ import annotations

from types import SimpleNamespace

from oms_runtime._fetch_wait import FetchWait


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _consumer(wait_ms: int = 500) -> SimpleNamespace:
    return SimpleNamespace(_fetcher=SimpleNamespace(_fetch_max_wait_ms=wait_ms))


def test_a_batch_slower_than_the_prefetch_backoff_shortens_the_wait_for_a_while() -> None:
    consumer, clock = _consumer(), _Clock()
    wait = FetchWait(consumer, idle_ms=500, busy_ms=20, busy_for_s=5, clock=clock)
    wait.after_poll(0.25)
    assert (wait.busy, consumer._fetcher._fetch_max_wait_ms) == (True, 20)
    clock.now += 4.9
    wait.after_poll(None)  # nothing came for a moment: still busy
    wait.after_poll(0.01)
    assert consumer._fetcher._fetch_max_wait_ms == 20
    clock.now += 0.2
    wait.after_poll(0.01)
    assert (wait.busy, consumer._fetcher._fetch_max_wait_ms) == (False, 500)


def test_quick_batches_and_empty_polls_keep_the_long_wait() -> None:
    consumer, clock = _consumer(), _Clock()
    wait = FetchWait(consumer, idle_ms=500, busy_ms=20, clock=clock)
    for batch_s in (0.02, None, 0.099, None):
        wait.after_poll(batch_s)
        clock.now += 1
    assert (wait.busy, consumer._fetcher._fetch_max_wait_ms) == (False, 500)


def test_each_new_slow_batch_extends_the_short_wait() -> None:
    consumer, clock = _consumer(), _Clock()
    wait = FetchWait(consumer, idle_ms=500, busy_ms=20, busy_for_s=5, clock=clock)
    for _ in range(4):
        wait.after_poll(0.3)
        clock.now += 3
    wait.after_poll(None)
    assert consumer._fetcher._fetch_max_wait_ms == 20


def test_the_busy_wait_is_never_longer_than_the_idle_one() -> None:
    consumer = _consumer(wait_ms=50)
    wait = FetchWait(consumer, idle_ms=50, busy_ms=200, clock=_Clock())
    wait.after_poll(1.0)
    assert consumer._fetcher._fetch_max_wait_ms == 50


def test_a_consumer_not_started_is_left_alone_and_set_once_it_is() -> None:
    consumer = SimpleNamespace()
    wait = FetchWait(consumer, idle_ms=500, busy_ms=20, clock=_Clock())
    wait.after_poll(0.5)
    assert not wait.busy
    consumer._fetcher = SimpleNamespace(_fetch_max_wait_ms=500)
    wait.after_poll(0.5)
    assert consumer._fetcher._fetch_max_wait_ms == 20
