"""The carriers' signed tracking webhook on the real broker and database, the shipping
service as an OS process: signed updates move the parcel to delivered through
oms.carrier-tracking, and every request that is not the carrier's is refused and kept."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from oms_events.values import LineQuantity
from oms_shipping.domain.carrier_signature import sign
from tests.support.inventory import TSHIRT
from tests.support.shipping import (
    fulfilment_order,
    label_tracking_number,
    now,
    released,
    send_released,
    send_staff,
    work_through,
)
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

SECRET = "dhl-webhook-secret-0123456789"


async def _post(
    url: str, carrier: str, body: bytes, *, secret: str | None = SECRET, shift_s: int = 0
) -> tuple[int, dict[str, Any]]:
    sent = int(time.time()) + shift_s
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers |= {
            "X-Carrier-Timestamp": str(sent),
            "X-Carrier-Signature": sign(secret, sent, body),
        }
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{url}/v1/carriers/{carrier}/tracking", data=body, headers=headers
        ) as response:
            return response.status, await response.json(content_type=None)


def _updates(*scans: tuple[str, str, int]) -> bytes:
    at = now()
    return json.dumps(
        {
            "updates": [
                {
                    "tracking_number": number,
                    "status_code": code,
                    "occurred_at": (at + timedelta(minutes=minutes)).isoformat(),
                }
                for number, code, minutes in scans
            ]
        }
    ).encode()


async def test_signed_updates_deliver_and_everything_else_is_refused_and_kept(env: Env) -> None:
    shipping = await env.service(
        "shipping", OMS_CARRIER_WEBHOOK_SECRETS=json.dumps({"dhl": SECRET})
    )
    await shipping.wait_ready()
    await send_released(env, released("ord-hook-1", "fo-hook-1"))
    fo = await fulfilment_order(env, "ord-hook-1", "CREATED")
    lines = (LineQuantity(line_id="1", sku=TSHIRT, quantity=2),)
    await send_staff(env, *work_through(fo, lines, now() - timedelta(hours=1)))
    await fulfilment_order(env, "ord-hook-1", "SHIPPED")
    tracking = await label_tracking_number(env, "fo-hook-1")

    refused = [
        (await _post(shipping.url, "dhl", _updates((tracking, "DL", 5)), secret=None)),
        (await _post(shipping.url, "dhl", _updates((tracking, "DL", 5)), shift_s=-900)),
        (await _post(shipping.url, "dhl", _updates((tracking, "DL", 5)), secret="x" * 20)),
        (await _post(shipping.url, "ups", _updates((tracking, "DL", 5)))),
        (await _post(shipping.url, "dhl", b'{"updates": "soon"}')),
    ]
    assert [(status, problem["code"]) for status, problem in refused] == [
        (401, "unsigned"),
        (401, "stale"),
        (401, "bad_signature"),
        (404, "unknown_carrier"),
        (422, "invalid_body"),
    ]
    kept = await env.fetch(
        "shipping", "SELECT carrier, reason FROM refused_carrier_requests ORDER BY id"
    )
    assert [tuple(r) for r in kept] == [
        ("dhl", "unsigned"),
        ("dhl", "stale"),
        ("dhl", "bad_signature"),
        ("ups", "unknown_carrier"),
        ("dhl", "invalid_body"),
    ]
    assert (await fulfilment_order(env, "ord-hook-1"))["status"] == "SHIPPED"  # nothing moved

    # The carrier's own request: out for delivery, then delivered; an unknown number is kept.
    status, answer = await _post(
        shipping.url,
        "dhl",
        _updates((tracking, "OD", 1), (tracking, "DL", 2), ("T-NOPE", "DL", 2)),
    )
    assert (status, answer) == (202, {"accepted": 3})
    await fulfilment_order(env, "ord-hook-1", "DELIVERED")

    async def unknown_kept() -> list[str]:
        rows = await env.fetch(
            "shipping",
            "SELECT reason FROM oms_dead_letters WHERE topic = $1",
            env.topic("oms.carrier-tracking"),
        )
        return [r["reason"] for r in rows]

    assert await wait_for(unknown_kept, what="the unknown tracking number kept") == [
        "unknown_tracking_number"
    ]
