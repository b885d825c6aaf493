"""What every OMS service runs on: batched consumers, inbox, outbox relay, dead letters,
logs, metrics, health, retries, migrations and configuration.

Everything a service needs is exported here; the modules behind it are private.
"""

from oms_runtime._api_keys import (
    MAX_KEY_LENGTH,
    Caller,
    ChannelKey,
    KeyOwnerId,
    authenticate,
    bearer_key,
    key_digest,
    parse_caller_keys,
    parse_key_digests,
)
from oms_runtime._cli import invalid_configuration, run_worker
from oms_runtime._config import RuntimeSettings
from oms_runtime._consumer import (
    BatchFinish,
    BatchProcessor,
    DedicatedConnection,
    InvalidHandler,
    RejectedEvent,
    bound_to,
)
from oms_runtime._db import RUNTIME_MIGRATIONS, MigrationRefused, apply_migrations, create_pool
from oms_runtime._documents import DocumentError, read_document, validated
from oms_runtime._http import JSON_MEDIA_TYPE, Refused, json_body, json_endpoint, read_body
from oms_runtime._logging import configure_logging
from oms_runtime._outbox import Outbox, safe_text, write_outbox
from oms_runtime._retry import is_infrastructure_error, retried, retrying
from oms_runtime._service import ServiceRuntime
from oms_runtime._subscriptions import Subscription
from oms_runtime._unit_of_work import (
    BatchHandler,
    ConsumedRecord,
    Note,
    Notes,
    Received,
    UnitOfWork,
    in_memory_unit_of_work,
)

__all__ = [
    "JSON_MEDIA_TYPE",
    "MAX_KEY_LENGTH",
    "RUNTIME_MIGRATIONS",
    "BatchFinish",
    "BatchHandler",
    "BatchProcessor",
    "Caller",
    "ChannelKey",
    "ConsumedRecord",
    "DedicatedConnection",
    "DocumentError",
    "InvalidHandler",
    "KeyOwnerId",
    "MigrationRefused",
    "Note",
    "Notes",
    "Outbox",
    "Received",
    "Refused",
    "RejectedEvent",
    "RuntimeSettings",
    "ServiceRuntime",
    "Subscription",
    "UnitOfWork",
    "apply_migrations",
    "authenticate",
    "bearer_key",
    "bound_to",
    "configure_logging",
    "create_pool",
    "in_memory_unit_of_work",
    "invalid_configuration",
    "is_infrastructure_error",
    "json_body",
    "json_endpoint",
    "key_digest",
    "parse_caller_keys",
    "parse_key_digests",
    "read_body",
    "read_document",
    "retried",
    "retrying",
    "run_worker",
    "safe_text",
    "validated",
    "write_outbox",
]
