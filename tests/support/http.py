"""Calling a service's HTTP API from tests: JSON in, the status, parsed body and headers
out."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from tests.support.processes import ServiceProcess

__all__ = ["Reply", "call_api"]


class Reply:
    def __init__(self, status: int, body: Any, headers: Mapping[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers

    @property
    def code(self) -> str:
        return str(self.body["code"])

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body!r})"


async def call_api(
    service: ServiceProcess,
    method: str,
    path: str,
    *,
    key: str | None = None,
    body: Any = None,
    raw: bytes | None = None,
    idempotency_key: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    sent = dict(headers or {})
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    if idempotency_key is not None:
        sent["Idempotency-Key"] = idempotency_key
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None:
        sent.setdefault("Content-Type", "application/json")
    async with aiohttp.ClientSession() as session:
        payload = io.BytesIO(data) if data is not None else None
        async with session.request(method, service.url + path, data=payload, headers=sent) as r:
            text = await r.text()
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = text
            return Reply(r.status, parsed, r.headers.copy())
