"""Structured JSON logs that carry correlation and order ids and never personal data."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

__all__ = ["PERSONAL_KEYS", "configure_logging", "redact_personal_data"]

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
    # The real stderr: faust's worker redirects sys.stderr into logging, which would loop.
    handler = logging.StreamHandler(sys.__stderr__)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
