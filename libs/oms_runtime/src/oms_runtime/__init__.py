"""What every OMS service runs on: batched consumers, inbox, outbox relay, dead letters,
logs, metrics, health and configuration."""

from oms_runtime.config import RuntimeSettings
from oms_runtime.consumer import (
    BatchFinish,
    BatchProcessor,
    ConsumedRecord,
    Handler,
    HandlerContext,
    InvalidHandler,
    RejectedEvent,
)
from oms_runtime.service import ServiceRuntime, UnitOfWork

__all__ = [
    "BatchFinish",
    "BatchProcessor",
    "ConsumedRecord",
    "Handler",
    "HandlerContext",
    "InvalidHandler",
    "RejectedEvent",
    "RuntimeSettings",
    "ServiceRuntime",
    "UnitOfWork",
]
