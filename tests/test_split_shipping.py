"""A split order shipped by two locations, with the order, inventory, orchestration, shipping
and notification services running as OS processes on the real broker and database: no
location has both lines, so each ships its own; the order is fulfilled and captured in full
with the second shipment and completed with the second delivery, each location's stock
committed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from oms_events.values import LineQuantity
from oms_order.domain.identity import order_id_for
from tests.support.inventory import HAMBURG, MUG, MUNICH, TSHIRT, send
from tests.support.orchestration import stock_received_and_seen
from tests.support.orders import CHANNEL, encoded, order_in_status, order_submitted
from tests.support.services import every_service
from tests.support.shipping import (
    label_tracking_number,
    now,
    scan,
    send_scans,
    send_staff,
    work_through,
)
from tests.support.smtp import SmtpServer
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

SHIRTS = LineQuantity(line_id="1", sku=TSHIRT, quantity=2)
A_MUG = LineQuantity(line_id="2", sku=MUG, quantity=1)
TOTAL_MINOR = 5950 + 2975 + 495  # 2 x 25.00 and 1 x 25.00 with 19 % VAT, 4.95 shipping


async def _work(env: Env, order_id: str, status: str) -> dict[str, dict[str, Any]]:
    """Shipping's fulfilment orders of ``order_id`` by location, once both have ``status``."""

    async def probe() -> dict[str, dict[str, Any]] | None:
        rows = await env.fetch(
            "shipping",
            "SELECT fulfilment_order_id, order_id, location_id, status FROM fulfilment_orders"
            " WHERE order_id = $1",
            order_id,
        )
        found = {r["location_id"]: dict(r) for r in rows if r["status"] == status}
        return found if len(found) == 2 else None

    return await wait_for(probe, timeout=60, what=f"two fulfilment orders {status}")


async def test_a_split_order_ships_from_two_locations_and_completes_with_the_last_delivery(
    env: Env, smtp: SmtpServer, tmp_path: Path
) -> None:
    await every_service(env, smtp, tmp_path)
    await stock_received_and_seen(env, TSHIRT, HAMBURG, 5)
    await stock_received_and_seen(env, MUG, MUNICH, 3)

    submitted = order_submitted("SPLIT-1", lines=[(TSHIRT, 2), (MUG, 1)])
    await send(env, "oms.channel-order-intake", [(f"{CHANNEL}:SPLIT-1", encoded(submitted))])
    order_id = order_id_for(CHANNEL, "SPLIT-1")
    work = await _work(env, order_id, "CREATED")
    assert sorted(work) == [HAMBURG, MUNICH]

    # Hamburg ships the shirts first: the order is fulfilled in part.
    start = now() - timedelta(hours=2)
    await send_staff(env, *work_through(work[HAMBURG], (SHIRTS,), start))
    shirts = await label_tracking_number(env, work[HAMBURG]["fulfilment_order_id"])
    partly = await order_in_status(env, order_id, "PARTIALLY_FULFILLED")
    assert partly["payment_status"] == "PARTIALLY_CAPTURED"

    # Munich ships the mug: fulfilled, everything captured.
    await send_staff(env, *work_through(work[MUNICH], (A_MUG,), start + timedelta(minutes=5)))
    mug = await label_tracking_number(env, work[MUNICH]["fulfilment_order_id"])
    assert shirts != mug
    fulfilled = await order_in_status(env, order_id, "FULFILLED")
    assert (fulfilled["payment_status"], fulfilled["captured_minor"]) == ("CAPTURED", TOTAL_MINOR)

    # One parcel delivered does not complete the order; the second does.
    await send_scans(env, scan(shirts, "DL", start + timedelta(minutes=40)))
    await _work_status(env, work[HAMBURG]["fulfilment_order_id"], "DELIVERED")
    assert (await order_in_status(env, order_id, "FULFILLED"))["status"] == "FULFILLED"
    await send_scans(env, scan(mug, "DL", start + timedelta(minutes=45)))
    await order_in_status(env, order_id, "COMPLETED")

    async def committed() -> list[tuple[str, str, str, int]] | None:
        rows = await env.fetch(
            "inventory",
            "SELECT location_id, sku, status, committed FROM reservations WHERE order_id = $1"
            " ORDER BY location_id",
            order_id,
        )
        found = [tuple(r) for r in rows]
        return found if all(r[2] == "committed" for r in found) and found else None

    assert await wait_for(committed, what="both locations' stock committed") == [
        (HAMBURG, TSHIRT, "committed", 2),
        (MUNICH, MUG, "committed", 1),
    ]


async def _work_status(env: Env, fulfilment_order_id: str, status: str) -> None:
    async def probe() -> bool:
        rows = await env.fetch(
            "shipping",
            "SELECT status FROM fulfilment_orders WHERE fulfilment_order_id = $1",
            fulfilment_order_id,
        )
        return bool(rows) and rows[0]["status"] == status

    await wait_for(probe, what=f"{fulfilment_order_id} {status}")
