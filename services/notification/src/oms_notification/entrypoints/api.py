"""The notification service's HTTP API: customers' message preferences (channels and
operators) and webhook subscriptions (operators), one key document for both."""

from collections.abc import Mapping

from oms_notification.entrypoints.api_preferences import register_preferences_api
from oms_notification.entrypoints.api_webhooks import register_webhooks_api
from oms_runtime import Caller, ServiceRuntime, Wakeup

__all__ = ["register_api"]


def register_api(
    runtime: ServiceRuntime, keys: Mapping[str, Caller], deliveries_due: Wakeup
) -> None:
    register_preferences_api(runtime, keys)
    register_webhooks_api(runtime, keys, deliveries_due)
