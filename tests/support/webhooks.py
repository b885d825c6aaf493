"""Webhook receivers for tests: a local HTTP server whose endpoints answer as told, verifying
every request's signature with the snippet docs/notification-service.md gives subscribers."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.support.processes import ServiceProcess, free_port
from tests.support.stack import REPO

Verify = Callable[[str, dict[str, str], bytes], bool]

OPS_KEY = "test-key-ops-1-5eb1d2"
WEB_KEY = "test-key-web-de-0f00d1"
WEBHOOK_SETTINGS = {
    "OMS_NOTIFICATION_API_KEYS": json.dumps(
        {
            hashlib.sha256(OPS_KEY.encode()).hexdigest(): {"role": "operator", "actor_id": "ops-1"},
            hashlib.sha256(WEB_KEY.encode()).hexdigest(): {"channel": "web-de"},
        }
    ),
}
"""An operator's and a channel's key."""


async def webhook_api(
    service: ServiceProcess, method: str, path: str, body: Any = None, key: str | None = OPS_KEY
) -> tuple[int, Any]:
    """The notification service's API as an operator (or ``key``): status and JSON body."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with aiohttp.ClientSession() as session:
        async with session.request(
            method, f"{service.url}{path}", json=body, headers=headers
        ) as reply:
            text = await reply.text()
            return reply.status, json.loads(text) if text else None


async def subscribe(
    service: ServiceProcess, url: str, *types: str, operations: bool = False
) -> dict[str, Any]:
    """A new subscription, with its secret."""
    status, body = await webhook_api(
        service,
        "POST",
        "/v1/webhooks/subscriptions",
        {"url": url, "event_types": list(types), "operations": operations},
    )
    assert status == 201, body
    assert body["secret"].startswith("whsec_")
    return dict(body)


def documented_verifier() -> Verify:
    """The ``verify`` function of the documentation's Python snippet, as a subscriber copies it."""
    text = (REPO / "docs" / "notification-service.md").read_text(encoding="utf-8")
    section = text.split("## Webhooks", 1)[1]
    [snippet] = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], re.S)
    scope: dict[str, Any] = {}
    exec(compile(snippet, "docs/notification-service.md", "exec"), scope)
    verify: Verify = scope["verify"]
    return verify


@dataclass
class Request:
    endpoint: str
    headers: dict[str, str]
    body: bytes
    started: float
    answered: int | None = None
    """The status answered; None while it is held (or if it never was)."""
    finished: float | None = None


@dataclass
class Receiver:
    """``/<endpoint>`` answers by its behaviour: a status, a list of statuses (one per attempt
    of the same ``webhook-id``, the last repeated), or ``"hang"`` (never answers)."""

    behaviours: dict[str, int | list[int] | str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    _runner: web.AppRunner | None = None

    def url(self, endpoint: str) -> str:
        return f"http://127.0.0.1:{self.port}/{endpoint}"

    def to(self, endpoint: str) -> list[Request]:
        return [r for r in self.requests if r.endpoint == endpoint]

    def accepted(self, endpoint: str) -> list[Request]:
        return [r for r in self.to(endpoint) if r.answered is not None and r.answered < 300]

    async def _handle(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["endpoint"]
        headers = {k.lower(): v for k, v in request.headers.items()}
        seen = Request(endpoint, headers, await request.read(), time.monotonic())
        self.requests.append(seen)
        behaviour = self.behaviours.get(endpoint, 404)
        if behaviour == "hang":
            await asyncio.Event().wait()
        if isinstance(behaviour, list):
            tries = [
                r
                for r in self.to(endpoint)
                if r.headers.get("webhook-id") == headers.get("webhook-id")
            ]
            status = behaviour[min(len(tries) - 1, len(behaviour) - 1)]
        else:
            assert isinstance(behaviour, int)
            status = behaviour
        seen.answered, seen.finished = status, time.monotonic()
        return web.Response(status=status, text="ok" if status < 300 else "no")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/{endpoint}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
