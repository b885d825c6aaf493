"""Composition root of the notification service."""

from __future__ import annotations

from oms_notification.adapters import MIGRATIONS, notifications, webhooks
from oms_notification.adapters.webhook_http import http_sender
from oms_notification.config import NotificationSettings
from oms_notification.domain.webhooks import RetryPolicy
from oms_notification.entrypoints.api import register_api
from oms_notification.entrypoints.kafka import subscriptions
from oms_notification.service_layer.alerts import Alerts
from oms_notification.service_layer.notify import Notifier
from oms_notification.service_layer.webhooks import Dispatcher, WebhookQueue
from oms_runtime import ServiceRuntime, parse_caller_keys

__all__ = ["build_runtime"]


def build_runtime(settings: NotificationSettings | None = None) -> ServiceRuntime:
    settings = settings or NotificationSettings()
    runtime = ServiceRuntime("notification", settings=settings, migrations=MIGRATIONS)
    alerts = Alerts(store=webhooks, limit=settings.alert_limit, window_s=settings.alert_window_s)
    for subscription in subscriptions(
        Notifier(store=notifications), WebhookQueue(store=webhooks), alerts
    ):
        runtime.subscribe(subscription)
    register_api(runtime, parse_caller_keys(settings.notification_api_keys))

    dispatcher = Dispatcher(
        units=runtime,
        store=webhooks,
        open_sender=lambda: http_sender(settings.webhook_concurrency),
        policy=RetryPolicy(
            max_attempts=settings.webhook_max_attempts,
            first_s=settings.webhook_backoff_first_s,
            max_s=settings.webhook_backoff_max_s,
        ),
        timeout_s=settings.webhook_timeout_s,
        per_subscription=settings.webhook_per_subscription,
        concurrency=settings.webhook_concurrency,
        poll_s=settings.webhook_poll_s,
    )

    # Long-lived: the runtime starts it once the service has started and cancels it when it
    # stops; should it fail (the database away), it starts again a tick later.
    @runtime.timer(settings.webhook_poll_s)
    async def dispatch_webhooks() -> None:
        await dispatcher.run()

    return runtime
