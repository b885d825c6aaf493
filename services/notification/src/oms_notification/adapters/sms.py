"""Text messages through an SMS provider's HTTP API (httpx): ``POST <url>`` with JSON
``{"to", "text", "reference"}``, the reference also as ``Idempotency-Key`` so a provider that
honours it drops a resent copy."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from oms_notification.domain.delivery import Delivery, DeliveryStatus, Sms

__all__ = ["HttpSmsSender"]


class HttpSmsSender:
    def __init__(self, url: str, token: str | None = None, *, timeout_s: float = 10.0) -> None:
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = httpx.Timeout(timeout_s)

    async def send(self, messages: Sequence[Sms]) -> list[Delivery]:
        async with httpx.AsyncClient(timeout=self._timeout, headers=self._headers) as client:
            return [await self._send_one(client, m) for m in messages]

    async def _send_one(self, client: httpx.AsyncClient, sms: Sms) -> Delivery:
        try:
            response = await client.post(
                self._url,
                json={"to": sms.to, "text": sms.text, "reference": sms.reference},
                headers={"Idempotency-Key": sms.reference},
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            return Delivery(DeliveryStatus.FAILED, reason=f"sms_connect: {type(exc).__name__}")
        except httpx.HTTPError as exc:
            # Sent, then no answer: the provider may have the message.
            return Delivery(DeliveryStatus.UNKNOWN, reason=f"sms: {type(exc).__name__}")
        status = response.status_code
        if 200 <= status < 300:
            provider_id = None
            try:
                body = response.json()
                provider_id = (
                    str(body["id"])[:200] if isinstance(body, dict) and "id" in body else None
                )
            except ValueError:
                pass
            return Delivery(DeliveryStatus.SENT, provider_message_id=provider_id)
        transient = status == 429 or status >= 500
        return Delivery(
            DeliveryStatus.FAILED if transient else DeliveryStatus.REFUSED,
            reason=f"sms_http_{status}",
        )
