"""What store and warehouse staff and carriers send the shipping service, as they send it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from oms_events.codec import encode, new_event
from oms_events.fulfilment import (
    FulfilmentAccepted,
    HandedOver,
    Parcel,
    ParcelPacked,
    PickStarted,
    TrackingUpdateReceived,
)
from oms_events.registry import EventPayload
from oms_events.sourcing import FulfilmentOrderCreated
from oms_events.values import Address, DeliveryMethod, LineQuantity, LocationType
from tests.support.inventory import HAMBURG, TSHIRT, send
from tests.support.waiting import wait_for
from tests.support.world import Env

STAFF = "staff-17"


def staff_record(action: EventPayload) -> tuple[str, bytes]:
    """A staff app's action, keyed by order like the topic wants."""
    order_id: str = action.order_id  # type: ignore[attr-defined]
    location: str = action.location_id  # type: ignore[attr-defined]
    envelope = new_event(
        action, subject=order_id, source=f"staff-app/{location}", correlation_id=order_id
    )
    return order_id, encode(envelope)


def work_through(
    fo: dict[str, Any], lines: tuple[LineQuantity, ...], at: datetime
) -> list[EventPayload]:
    """Accept, pick, pack into one parcel and hand it over under its label (the carrier rate
    shopping chose: DHL for 800 g to Cologne with deploy/demo/dispatch.yaml): the staff's
    day, in order."""
    ids = {
        "order_id": fo["order_id"],
        "fulfilment_order_id": fo["fulfilment_order_id"],
        "location_id": fo["location_id"],
        "staff_id": STAFF,
    }
    return [
        FulfilmentAccepted(**ids, performed_at=at),
        PickStarted(**ids, performed_at=at + timedelta(minutes=1)),
        ParcelPacked(
            **ids,
            performed_at=at + timedelta(minutes=2),
            parcels=(Parcel(parcel_id="p-1", box="M-30x20x15", weight_grams=800, lines=lines),),
        ),
        HandedOver(**ids, performed_at=at + timedelta(minutes=3)),
    ]


def scan(tracking: str, code: str, at: datetime, carrier: str = "dhl") -> TrackingUpdateReceived:
    return TrackingUpdateReceived(
        carrier=carrier,
        tracking_number=tracking,
        carrier_status_code=code,
        description=f"scan {code}",
        location="Koeln",
        occurred_at=at,
    )


async def send_scans(env: Env, *scans: TrackingUpdateReceived) -> None:
    """Carrier scans keyed by tracking number, in the order given."""
    await send(
        env,
        "oms.carrier-tracking",
        [
            (
                s.tracking_number,
                encode(
                    new_event(
                        s,
                        subject=s.tracking_number,
                        source=f"carrier/{s.carrier}",
                        correlation_id=s.tracking_number,
                    )
                ),
            )
            for s in scans
        ],
    )


def released(order_id: str, fulfilment_order_id: str) -> FulfilmentOrderCreated:
    """Orchestration's release of two T-shirts to Hamburg for home delivery."""
    return FulfilmentOrderCreated(
        order_id=order_id,
        fulfilment_order_id=fulfilment_order_id,
        location_id=HAMBURG,
        location_type=LocationType.WAREHOUSE,
        delivery_method=DeliveryMethod.HOME_DELIVERY,
        lines=(LineQuantity(line_id="1", sku=TSHIRT, quantity=2),),
        shipping_address=Address(
            name="Erika Mustermann",
            line1="Heidestrasse 17",
            city="Koeln",
            postal_code="51147",
            country="DE",
        ),
        accept_by=datetime.now(UTC) + timedelta(hours=1),
    )


async def send_released(env: Env, *created: FulfilmentOrderCreated) -> None:
    await send(
        env,
        "oms.sourcing",
        [
            (
                fo.order_id,
                encode(
                    new_event(
                        fo, subject=fo.order_id, source="oms/orchestration", correlation_id="c"
                    )
                ),
            )
            for fo in created
        ],
    )


async def send_staff(env: Env, *actions: EventPayload) -> None:
    await send(env, "oms.staff-actions", [staff_record(a) for a in actions])


async def fulfilment_order(env: Env, order_id: str, *statuses: str) -> dict[str, Any]:
    """Shipping's fulfilment order of ``order_id``, once it has one of ``statuses``."""

    async def probe() -> dict[str, Any] | None:
        rows = await env.fetch(
            "shipping",
            "SELECT fulfilment_order_id, order_id, location_id, status, lines"
            " FROM fulfilment_orders WHERE order_id = $1 ORDER BY created_at DESC",
            order_id,
        )
        found = [dict(r) for r in rows if not statuses or r["status"] in statuses]
        return found[0] if found else None

    return await wait_for(probe, what=f"shipping's fulfilment order of {order_id} {statuses}")


async def label_tracking_number(env: Env, fulfilment_order_id: str) -> str:
    """The tracking number printed on the work's (first) parcel label, once packed."""

    async def probe() -> str | None:
        rows = await env.fetch(
            "shipping",
            "SELECT tracking_number FROM labels WHERE fulfilment_order_id = $1"
            " AND kind = 'outbound' ORDER BY parcel_id",
            fulfilment_order_id,
        )
        return str(rows[0]["tracking_number"]) if rows else None

    return await wait_for(probe, what=f"the label of {fulfilment_order_id}")


async def staff_call(
    url: str, method: str, path: str, key: str | None, body: Any = None
) -> tuple[int, Any]:
    """A call to the shipping staff API with a key: the status and the JSON answer."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url + path, headers=headers, json=body) as response:
            return response.status, await response.json(content_type=None)


async def staff_download(url: str, path: str, key: str) -> tuple[int, str, bytes]:
    """A document from the shipping staff API: the status, its media type and its bytes."""
    async with aiohttp.ClientSession() as session:
        async with session.get(url + path, headers={"Authorization": f"Bearer {key}"}) as got:
            return got.status, got.content_type, await got.read()


def now() -> datetime:
    return datetime.now(UTC)
