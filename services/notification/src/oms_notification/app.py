"""Composition root of the notification service."""

from __future__ import annotations

from pathlib import Path

from oms_notification.config import NotificationSettings
from oms_notification.handlers import subscriptions
from oms_runtime import ServiceRuntime

__all__ = ["build_runtime"]


def build_runtime(settings: NotificationSettings | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(
        "notification",
        settings=settings or NotificationSettings(),
        migrations=Path(__file__).parent / "store" / "migrations",
    )
    for subscription in subscriptions():
        runtime.subscribe(subscription)
    return runtime
