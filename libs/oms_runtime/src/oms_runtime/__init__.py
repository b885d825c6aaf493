"""What every OMS service runs on: batched consumers, inbox, outbox relay, dead letters,
logs, metrics, health and configuration."""

from oms_runtime.config import RuntimeSettings
from oms_runtime.consumer import BatchProcessor, ConsumedRecord, Handler, HandlerContext
from oms_runtime.service import ServiceRuntime, UnitOfWork

__all__ = [
    "BatchProcessor",
    "ConsumedRecord",
    "Handler",
    "HandlerContext",
    "RuntimeSettings",
    "ServiceRuntime",
    "UnitOfWork",
]
