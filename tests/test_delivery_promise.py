"""The delivery promise from placement to the parcel's carrier, with the order, inventory,
orchestration and shipping services as OS processes on the real broker and database:
orchestration makes the promise from the order's date (or keeps the channel's), the order
service shows it, shipping's rate shopping checks it as the parcel is packed
(deploy/demo/dispatch.yaml: UPS Express one day with a 16:00 cut-off, DHL and DPD two
days)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest

from oms_events.fulfilment import ReadyToShip
from oms_events.sourcing import FulfilmentOrderCreated
from oms_events.values import LineQuantity
from oms_order.domain.identity import order_id_for
from tests.support.inventory import HAMBURG, TSHIRT, events_until, import_catalogue, send
from tests.support.orchestration import SOURCING, stock_received_and_seen, write_sourcing
from tests.support.orders import CHANNEL, encoded, order_submitted
from tests.support.shipping import fulfilment_order, send_staff, work_through
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

# order_submitted places orders on Tuesday 24 November 2026 at 10:30 in Berlin: before
# Hamburg's 15:00 cut-off, so with one day of transit the customer is promised Wednesday.
WEDNESDAY_EVENING = datetime(2026, 11, 25, 22, 59, 59, tzinfo=UTC)  # 23:59:59 in Berlin
TUESDAY_MORNING = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)  # packed 11:32 in Berlin
TUESDAY_LATE = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)  # packed 16:32, after UPS's cut-off
CHANNEL_PROMISE = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)


async def _place(env: Env, external: str, promised_by: datetime | None = None) -> str:
    submitted = order_submitted(external, lines=[(TSHIRT, 1)]).model_copy(
        update={"promised_by": promised_by}
    )
    await send(env, "oms.channel-order-intake", [(f"{CHANNEL}:{external}", encoded(submitted))])
    return order_id_for(CHANNEL, external)


async def _world(env: Env, tmp_path: Path) -> None:
    config = copy.deepcopy(SOURCING)
    config["delivery"]["promise"] = {"transit_days": {"home_delivery": 1}}
    await import_catalogue(env, tmp_path)
    services = [
        await env.service("order"),
        await env.service("inventory"),
        await env.service("orchestration", OMS_SOURCING_CONFIG=write_sourcing(tmp_path, config)),
        await env.service("shipping"),
    ]
    for service in services:
        await service.wait_ready()
    await stock_received_and_seen(env, TSHIRT, HAMBURG, 10)


async def test_the_promise_made_at_placement_is_checked_as_each_parcel_is_packed(
    env: Env, tmp_path: Path
) -> None:
    await _world(env, tmp_path)
    in_time = await _place(env, "PROMISE-1")
    too_late = await _place(env, "PROMISE-2")
    promised = await _place(env, "PROMISE-3", promised_by=CHANNEL_PROMISE)

    created = await events_until(env, "oms.sourcing", 3, "FulfilmentOrderCreated")
    promises = {e.payload.order_id: e.payload.promised_by for e in created}
    assert all(isinstance(e.payload, FulfilmentOrderCreated) for e in created)
    assert promises == {
        in_time: WEDNESDAY_EVENING,
        too_late: WEDNESDAY_EVENING,
        promised: CHANNEL_PROMISE,  # the channel's own, kept as sent
    }

    async def order_service_shows_them() -> bool:
        rows = await env.fetch(
            "order",
            "SELECT order_id, promised_by FROM orders WHERE order_id = ANY($1::text[])",
            list(promises),
        )
        return {r["order_id"]: r["promised_by"] for r in rows} == promises

    await wait_for(order_service_shows_them, what="the order service to show the promises")

    line = (LineQuantity(line_id="1", sku=TSHIRT, quantity=1),)
    for order_id, at in ((in_time, TUESDAY_MORNING), (too_late, TUESDAY_LATE)):
        fo = await fulfilment_order(env, order_id, "CREATED")
        accept, pick, pack, _ = work_through(fo, line, at)
        await send_staff(env, accept, pick, pack)

    ready = await events_until(env, "oms.shipments", 2, "ReadyToShip")
    shopped: dict[str, ReadyToShip] = {e.payload.order_id: e.payload for e in ready}
    kept, missed = shopped[in_time], shopped[too_late]

    # Packed in the morning: UPS Express arrives Wednesday; the cheaper two-day services lose.
    assert (kept.promised_by, kept.promise_at_risk) == (WEDNESDAY_EVENING, False)
    [parcel] = kept.parcels
    assert (parcel.carrier, parcel.meets_promise) == ("ups", True)
    assert {a.lost_because for a in parcel.alternatives} >= {"misses_promise"}

    # Packed after UPS's cut-off: nothing arrives by Wednesday. The parcel still gets the
    # cheapest service, and the work is flagged.
    assert (missed.promised_by, missed.promise_at_risk) == (WEDNESDAY_EVENING, True)
    [parcel] = missed.parcels
    assert (parcel.carrier, parcel.meets_promise) == ("dhl", False)

    rows = await env.fetch(
        "shipping",
        "SELECT order_id, promised_by, promise_at_risk FROM fulfilment_orders"
        " WHERE order_id = ANY($1::text[])",
        [in_time, too_late],
    )
    assert {r["order_id"]: (r["promised_by"], r["promise_at_risk"]) for r in rows} == {
        in_time: (WEDNESDAY_EVENING, False),
        too_late: (WEDNESDAY_EVENING, True),
    }
