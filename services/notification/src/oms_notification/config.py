"""The notification service's settings: the runtime's, read from the environment."""

from __future__ import annotations

from oms_runtime import RuntimeSettings

__all__ = ["NotificationSettings"]


class NotificationSettings(RuntimeSettings):
    http_port: int = 8005
