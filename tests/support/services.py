"""Every service an order meets from intake to the customer's mailbox, as OS processes."""

from __future__ import annotations

from pathlib import Path

from tests.support.inventory import import_catalogue
from tests.support.orchestration import SOURCING, write_sourcing
from tests.support.smtp import SmtpServer
from tests.support.world import Env


async def every_service(env: Env, smtp: SmtpServer, tmp_path: Path) -> None:
    """The catalogue imported; order, inventory, orchestration (the test network's sourcing),
    shipping and notification (sending to ``smtp``) started and ready."""
    await import_catalogue(env, tmp_path)
    services = [
        await env.service("order"),
        await env.service("inventory"),
        await env.service("orchestration", OMS_SOURCING_CONFIG=write_sourcing(tmp_path, SOURCING)),
        await env.service("shipping"),
        await env.service("notification", **smtp.env(), OMS_DISPATCH_INTERVAL_S="0.1"),
    ]
    for service in services:
        await service.wait_ready()
