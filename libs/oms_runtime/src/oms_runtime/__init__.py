"""What every OMS service runs on: batched consumers, inbox, outbox relay, dead letters,
logs, metrics, health and configuration."""

from oms_runtime.config import RuntimeSettings
from oms_runtime.consumer import (
    BatchProcessor,
    ConsumedRecord,
    Handler,
    HandlerContext,
    InvalidHandler,
)
from oms_runtime.service import ServiceRuntime, UnitOfWork

__all__ = [
    "BatchProcessor",
    "ConsumedRecord",
    "Handler",
    "HandlerContext",
    "InvalidHandler",
    "RuntimeSettings",
    "ServiceRuntime",
    "UnitOfWork",
]
