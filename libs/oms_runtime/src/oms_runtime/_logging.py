"""Structured JSON logs that carry correlation and order ids and never personal data."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

__all__ = ["PERSONAL_KEYS", "OncePerInterval", "configure_logging", "redact_personal_data"]

# Keys whose values identify a person; they are masked wherever they appear in a log event.
PERSONAL_KEYS = frozenset(
    {
        "email",
        "customer_email",
        "phone",
        "name",
        "first_name",
        "last_name",
        "address",
        "line1",
        "line2",
        "postal_code",
        "billing_address",
        "shipping_address",
        "card_token",
        "password",
        "database_url",
    }
)
_MASK = "***"


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _MASK if k in PERSONAL_KEYS else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if isinstance(value, tuple):  # exc_info among others: keep its type
        return tuple(_redact(v) for v in value)
    return value


def redact_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask personal data, however deep it sits in the event."""
    for key in list(event_dict):
        event_dict[key] = _MASK if key in PERSONAL_KEYS else _redact(event_dict[key])
    return event_dict


def configure_logging(service: str, level: str = "INFO") -> None:
    """JSON lines on stderr for structlog and for the stdlib loggers (faust, aiokafka)."""

    def add_service(
        _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_service,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_personal_data,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.__stderr__)
    handler.setFormatter(formatter)
    # aiokafka logs every failed reconnect, dozens a second while the broker is away.
    handler.addFilter(OncePerInterval("aiokafka", _REPEAT_EVERY_S))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


_REPEAT_EVERY_S = 10.0


class OncePerInterval(logging.Filter):
    """For the loggers under ``prefix``: one record per message template per interval, saying
    how many it held back."""

    def __init__(self, prefix: str, interval_s: float) -> None:
        super().__init__()
        self._prefix = prefix
        self._interval_s = interval_s
        self._last: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self._prefix):
            return True
        now = time.monotonic()
        key = f"{record.name}:{record.msg}"
        last, held = self._last.get(key, (float("-inf"), 0))
        if now - last < self._interval_s:
            self._last[key] = (last, held + 1)
            return False
        self._last[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} (and {held} more like it)"
        return True
