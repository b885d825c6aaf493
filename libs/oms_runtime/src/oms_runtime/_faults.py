"""Fault injection for tests: a worker kills itself (SIGKILL) at a named point.

``OMS_FAULT_KILL_AT=<point>:<n>`` kills the process the first time ``count`` reaches ``n`` at
that point. Points: ``after_commit`` (a batch's transaction committed, its events not yet
sent and its offsets not yet acknowledged; counts processed events), ``after_publish`` (the
broker acknowledged a committed transaction's events, their outbox rows not yet deleted;
counts published rows) and ``relay_after_publish`` (the same for the relay's recovery
path). A service names its own points with ``kill_at`` (the notification service's
``after_send``: the provider took the messages, their outcome not yet committed; the
analytics worker's ``analytics_torn_write``: one event's table writes half sent; and its
``analytics_stall``, which does not kill: the agent stops counting, as a stalled one does).
Unset in production.
"""

from __future__ import annotations

import os
import signal

import structlog

__all__ = ["kill_at", "kill_due"]

_log = structlog.get_logger(__name__)


def kill_due(point: str, count: int) -> bool:
    """Whether ``kill_at(point, count)`` would kill: a caller that must first bring about
    the state to kill in (the analytics worker's torn write) asks before."""
    name, _, limit = os.environ.get("OMS_FAULT_KILL_AT", "").partition(":")
    return name == point and limit.isdigit() and count >= int(limit)


def kill_at(point: str, count: int) -> None:
    if kill_due(point, count):
        _log.warning("fault_injection_kill", point=point, count=count)
        os.kill(os.getpid(), signal.SIGKILL)
