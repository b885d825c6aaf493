"""What every OMS service runs on: batched consumers, inbox, outbox relay, dead letters,
logs, metrics, health and configuration."""

from oms_runtime.config import RuntimeSettings
from oms_runtime.consumer import (
    BatchFinish,
    BatchProcessor,
    DedicatedConnection,
    HandlerContext,
    InvalidHandler,
    RejectedEvent,
    bound_to,
)
from oms_runtime.retry import is_infrastructure_error, retried, retrying
from oms_runtime.service import ServiceRuntime
from oms_runtime.subscriptions import Subscription
from oms_runtime.unit_of_work import BatchHandler, ConsumedRecord, Received, UnitOfWork

__all__ = [
    "BatchFinish",
    "BatchHandler",
    "BatchProcessor",
    "ConsumedRecord",
    "DedicatedConnection",
    "HandlerContext",
    "InvalidHandler",
    "Received",
    "RejectedEvent",
    "RuntimeSettings",
    "ServiceRuntime",
    "Subscription",
    "UnitOfWork",
    "bound_to",
    "is_infrastructure_error",
    "retried",
    "retrying",
]
