"""Which failures are worth trying again, and the one way the project waits before it does.

Every backoff in the services (the database or broker at start-up, a batch whose database
went away, the relay, a payment provider that timed out) is stamina's: exponential waits with
jitter, so workers that failed together do not all come back at the same instant.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import stamina
import structlog

__all__ = [
    "RetryOn",
    "describe_error",
    "is_infrastructure_error",
    "retried",
    "retrying",
]

_log = structlog.get_logger(__name__)

# The project logs each retry itself, by the caller's name and the error's type: stamina's
# own log line carries the exception's text, which can quote data, and data can be personal.
stamina.instrumentation.set_on_retry_hooks([])

# SQLSTATEs of a database that is unreachable, restarting, overloaded or asking for a retry.
_RETRYABLE_SQLSTATE_CLASSES = ("08", "53")
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03", "55P03"})

T = TypeVar("T")
RetryOn = type[Exception] | tuple[type[Exception], ...] | Callable[[Exception], bool]


def is_infrastructure_error(exc: BaseException) -> bool:
    """Failures of the database or network, worth retrying the whole batch indefinitely.

    Anything caused by the data itself (a bad argument, a constraint, a canceled statement)
    is not: retrying it forever would block the partition, so it is dead-lettered instead.
    """
    if isinstance(exc, asyncpg.PostgresError):
        state = exc.sqlstate or ""
        return state[:2] in _RETRYABLE_SQLSTATE_CLASSES or state in _RETRYABLE_SQLSTATES
    if isinstance(exc, asyncpg.exceptions.DataError):
        return False
    return isinstance(exc, OSError | TimeoutError | asyncpg.InterfaceError)


def describe_error(exc: BaseException) -> dict[str, str]:
    """Type and SQLSTATE only: messages can quote the data, and data can be personal."""
    return {"error": type(exc).__name__, "sqlstate": getattr(exc, "sqlstate", None) or ""}


def retrying(
    event: str,
    on: RetryOn,
    *,
    first_s: float,
    max_s: float,
    attempts: int | None = None,
) -> AsyncIterable[stamina.Attempt]:
    """Attempts of a block (``async for attempt in retrying(...): with attempt: ...``).

    A failure that ``on`` accepts is logged as ``event`` and tried again after a wait that
    doubles from ``first_s`` up to ``max_s``, plus up to ``first_s`` of jitter; any other
    failure, or the last of ``attempts`` (``None``: no limit), is raised.
    """
    return stamina.retry_context(_logged(event, on), **_waits(first_s, max_s, attempts))


async def retried(
    event: str,
    on: RetryOn,
    call: Callable[[], Awaitable[T]],
    *,
    first_s: float,
    max_s: float,
    attempts: int | None = None,
) -> T:
    """``await call()`` until it succeeds, retried as :func:`retrying` retries a block."""
    caller = stamina.AsyncRetryingCaller(**_waits(first_s, max_s, attempts))
    return await caller(_logged(event, on), call)


def _waits(first_s: float, max_s: float, attempts: int | None) -> dict[str, Any]:
    return {
        "attempts": attempts,
        "timeout": None,
        "wait_initial": first_s,
        "wait_max": max_s,
        "wait_jitter": first_s,
    }


def _logged(event: str, on: RetryOn) -> Callable[[Exception], bool]:
    def accepted(exc: Exception) -> bool:
        retry = isinstance(exc, on) if isinstance(on, type | tuple) else on(exc)
        if retry:
            _log.warning(event, **describe_error(exc))
        return retry

    return accepted
