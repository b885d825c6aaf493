"""What every OMS service runs on: batched consumers, inbox, outbox relay, dead letters,
logs, metrics, health, retries, migrations and configuration.

Everything a service needs is exported here; the modules behind it are private.
"""

from oms_runtime._api_keys import (
    MAX_KEY_LENGTH,
    Caller,
    ChannelKey,
    KeyOwnerId,
    OperatorKey,
    authenticate,
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
from oms_runtime._faults import kill_at, kill_due
from oms_runtime._gc import tune_gc
from oms_runtime._http import (
    PROBLEM_MEDIA_TYPE,
    ApiRoute,
    FieldError,
    Problem,
    ProblemDetails,
    api_key_caller,
    problem_responses,
)
from oms_runtime._import_command import DocumentImport
from oms_runtime._locks import advisory_key
from oms_runtime._logging import configure_logging
from oms_runtime._openapi import check_openapi_compatibility, render_openapi
from oms_runtime._outbox import Outbox, safe_text, write_outbox
from oms_runtime._rebuild import (
    CompareTable,
    RebuildRefused,
    RebuildSpec,
    RebuildStalled,
    RebuildTargetRefused,
    RunProcessor,
    SeedTable,
    check_rebuild_target,
    run_rebuild,
)
from oms_runtime._recalled import RECALLED_TABLE, RecalledDecisionStore
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
from oms_runtime._wakeup import Wakeup

__all__ = [
    "MAX_KEY_LENGTH",
    "PROBLEM_MEDIA_TYPE",
    "RECALLED_TABLE",
    "RUNTIME_MIGRATIONS",
    "ApiRoute",
    "BatchFinish",
    "BatchHandler",
    "BatchProcessor",
    "Caller",
    "ChannelKey",
    "CompareTable",
    "ConsumedRecord",
    "DedicatedConnection",
    "DocumentError",
    "DocumentImport",
    "FieldError",
    "InvalidHandler",
    "KeyOwnerId",
    "MigrationRefused",
    "Note",
    "Notes",
    "OperatorKey",
    "Outbox",
    "Problem",
    "ProblemDetails",
    "RebuildRefused",
    "RebuildSpec",
    "RebuildStalled",
    "RebuildTargetRefused",
    "RecalledDecisionStore",
    "Received",
    "RejectedEvent",
    "RunProcessor",
    "RuntimeSettings",
    "SeedTable",
    "ServiceRuntime",
    "Subscription",
    "UnitOfWork",
    "Wakeup",
    "advisory_key",
    "api_key_caller",
    "apply_migrations",
    "authenticate",
    "bound_to",
    "check_openapi_compatibility",
    "check_rebuild_target",
    "configure_logging",
    "create_pool",
    "in_memory_unit_of_work",
    "invalid_configuration",
    "is_infrastructure_error",
    "key_digest",
    "kill_at",
    "kill_due",
    "parse_caller_keys",
    "parse_key_digests",
    "problem_responses",
    "read_document",
    "render_openapi",
    "retried",
    "retrying",
    "run_rebuild",
    "run_worker",
    "safe_text",
    "tune_gc",
    "validated",
    "write_outbox",
]
