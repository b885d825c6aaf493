"""Composition root of the notification service."""

from __future__ import annotations

from oms_notification.adapters import MIGRATIONS, notifications
from oms_notification.config import NotificationSettings
from oms_notification.entrypoints.kafka import subscriptions
from oms_notification.service_layer.notify import Notifier
from oms_runtime import ServiceRuntime

__all__ = ["build_runtime"]


def build_runtime(settings: NotificationSettings | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(
        "notification", settings=settings or NotificationSettings(), migrations=MIGRATIONS
    )
    for subscription in subscriptions(Notifier(store=notifications)):
        runtime.subscribe(subscription)
    return runtime
