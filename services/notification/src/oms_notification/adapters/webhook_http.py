"""Webhook deliveries over HTTP with httpx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx

from oms_notification.domain.webhooks import DeliveryFailed

__all__ = ["HttpSender", "http_sender"]

_USER_AGENT = "oms-notification-webhooks/1"


class HttpSender:
    """POSTs one delivery; the answer's body is never read (a subscriber cannot make the
    worker hold a large one), redirects are not followed, proxies from the environment are
    not used, and the whole exchange is bounded by ``timeout_s``."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> int:
        try:
            async with asyncio.timeout(timeout_s):
                async with self._client.stream(
                    "POST",
                    url,
                    content=body,
                    headers={"user-agent": _USER_AGENT, **headers},
                    timeout=timeout_s,
                ) as response:
                    return response.status_code
        except (TimeoutError, httpx.TimeoutException):
            raise DeliveryFailed(f"no answer within {timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            # The type only: messages quote the URL.
            raise DeliveryFailed(f"could not reach the endpoint ({type(exc).__name__})") from None


@asynccontextmanager
async def http_sender(max_connections: int) -> AsyncIterator[HttpSender]:
    """One client for the dispatcher's life, closed when it stops."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=20)
    async with httpx.AsyncClient(limits=limits, follow_redirects=False, trust_env=False) as client:
        yield HttpSender(client)
