"""A small real network for inventory tests: warehouses and stores at real coordinates, and
the events WMS, POS and orchestration send about them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from oms_events.codec import decode, encode, new_event
from oms_events.inventory import (
    AdjustmentReason,
    AvailabilityChanged,
    ReservationLine,
    ReserveStock,
    StockAdjustment,
    StockReceived,
    StockSnapshot,
    TransferReceived,
    TransferShipped,
)
from oms_events.registry import EventPayload
from oms_events.values import LocationType
from tests.support.kafka import read_topic
from tests.support.waiting import wait_for
from tests.support.world import Env

HAMBURG = "wh-hamburg"
BERLIN = "store-berlin-mitte"
MUNICH = "wh-munich"
TSHIRT = "TSHIRT-ORG-M-NAVY"
MUG = "MUG-STONE-300"
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)

CATALOGUE: dict[str, Any] = {
    "items": [
        {
            "sku": TSHIRT,
            "name": "Organic T-shirt M navy",
            "dimensions": {"length_mm": 300, "width_mm": 220, "height_mm": 20},
            "weight_g": 180,
            "low_stock_threshold": 5,
        },
        {"sku": MUG, "name": "Stoneware mug", "weight_g": 420, "returnable": False},
    ],
    "locations": [
        {
            "location_id": HAMBURG,
            "name": "Hamburg DC",
            "type": "warehouse",
            "latitude": 53.5511,
            "longitude": 9.9937,
            "capabilities": ["ship", "ship_to_store"],
            "channels": ["web-de", "app"],
        },
        {
            "location_id": MUNICH,
            "name": "Munich DC",
            "type": "warehouse",
            "latitude": 48.1351,
            "longitude": 11.5820,
            "capabilities": ["ship"],
            "channels": ["web-de", "marketplace"],
        },
        {
            "location_id": BERLIN,
            "name": "Berlin Mitte store",
            "type": "store",
            "latitude": 52.5200,
            "longitude": 13.4050,
            "capabilities": ["pickup", "ship_from_store"],
            "channels": ["web-de"],
        },
    ],
    "stock_policies": [{"sku": TSHIRT, "location_id": BERLIN, "safety_stock": 2}],
}


def run_cli(
    env: Env, dsn: str, *args: str, service: str = "oms_inventory"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", service, *args],
        env={
            **os.environ,
            "OMS_DATABASE_URL": dsn,
            "OMS_TOPIC_PREFIX": env.prefix,
            "KAFKA_BOOTSTRAP_SERVERS": env.bootstrap,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


async def import_catalogue(env: Env, tmp: Path, document: dict[str, Any] = CATALOGUE) -> None:
    path = tmp / f"catalogue-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(document))
    done = run_cli(env, await env.database("inventory"), "catalogue", "import", str(path))
    assert done.returncode == 0, done.stderr


def availability_record(
    sku: str,
    location: str,
    location_type: LocationType,
    units: int,
    as_of: datetime,
    sequence: int,
) -> tuple[str, bytes]:
    """An ``AvailabilityChanged`` as inventory publishes it, with its key: ``units`` on hand,
    all available."""
    changed = AvailabilityChanged(
        sku=sku,
        location_id=location,
        location_type=location_type,
        on_hand=units,
        reserved=0,
        safety_stock=0,
        in_transit=0,
        quarantined=0,
        available=units,
        as_of=as_of,
    )
    key = f"{sku}@{location}"
    published = new_event(
        changed, subject=key, source="oms/inventory", correlation_id=key, sequence=sequence
    )
    return key, encode(published)


def event(payload: EventPayload, subject: str, source: str = "wms/hamburg") -> bytes:
    return encode(new_event(payload, subject=subject, source=source, correlation_id=subject))


async def feed(env: Env, *payloads: EventPayload) -> None:
    """Feed records keyed like a WMS keys them: sku@location."""
    records = []
    for p in payloads:
        key = f"{p.sku}@{p.location_id}"  # type: ignore[attr-defined]
        records.append((key, event(p, key)))
    await send(env, "oms.inventory-feed", records)


def reserve(
    order_id: str,
    *lines: tuple[str, str, int],
    all_or_nothing: bool = False,
    hold_for_s: int | None = 3600,
    requested_at: datetime | None = None,
) -> ReserveStock:
    """(sku, location, quantity) per line; reservation ids derive from the order and line."""
    return ReserveStock(
        order_id=order_id,
        request_id=f"req-{order_id}",
        lines=tuple(
            ReservationLine(
                reservation_id=f"res-{order_id}-{n}",
                line_id=str(n),
                sku=sku,
                location_id=location,
                quantity=quantity,
            )
            for n, (sku, location, quantity) in enumerate(lines, start=1)
        ),
        all_or_nothing=all_or_nothing,
        hold_for_s=hold_for_s,
        requested_at=requested_at or datetime.now(UTC),
    )


def stale(seconds: int) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


async def request(env: Env, *payloads: EventPayload) -> list[bytes]:
    """Orchestration's requests, keyed by order; the bytes sent, for redelivery."""
    values = [event(p, p.order_id, "oms/orchestration") for p in payloads]  # type: ignore[attr-defined]
    producer_items = [(p.order_id, v) for p, v in zip(payloads, values, strict=True)]  # type: ignore[attr-defined]
    await send(env, "oms.reservation-requests", producer_items)
    return values


async def send(env: Env, topic: str, items: Sequence[tuple[str, bytes]]) -> None:
    """Keyed records through one producer, in order per key, without waiting for each."""
    producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        futures = [
            await producer.send(env.topic(topic), value, key=key.encode()) for key, value in items
        ]
        for future in futures:
            await future
    finally:
        await producer.stop()


async def events_of(env: Env, topic: str, at_least: int, *types: str) -> list[Any]:
    """Decoded events of ``types`` on ``topic``, once at least ``at_least`` records are there."""
    records = await read_topic(env.bootstrap, env.topic(topic), at_least=at_least)
    decoded = [decode(r.value) for r in records]
    return [d for d in decoded if not types or d.envelope.type in types]


async def events_until(env: Env, topic: str, count: int, *types: str) -> list[Any]:
    """Decoded events of ``types`` once at least ``count`` of them are on ``topic``: a row
    changes before the relay publishes its events."""

    async def probe() -> list[Any] | None:
        found = await events_of(env, topic, 1, *types)
        return found if len(found) >= count else None

    return await wait_for(probe, what=f"{count} of {types} on {topic}")


def receipt(receipt_id: str, sku: str, location: str, quantity: int) -> StockReceived:
    return StockReceived(
        sku=sku,
        location_id=location,
        receipt_id=receipt_id,
        quantity=quantity,
        received_at=datetime.now(UTC),
    )


async def stock(env: Env, sku: str, location: str) -> dict[str, int]:
    rows = await env.fetch(
        "inventory",
        "SELECT on_hand, reserved, safety_stock, in_transit, quarantined FROM stock"
        " WHERE sku = $1 AND location_id = $2",
        sku,
        location,
    )
    return dict(rows[0]) if rows else {}


def snapshot(sku: str, location: str, on_hand: int, minutes: int, sequence: int) -> StockSnapshot:
    return StockSnapshot(
        sku=sku,
        location_id=location,
        on_hand=on_hand,
        as_of=T0 + timedelta(minutes=minutes),
        source_sequence=sequence,
    )


def adjustment(
    adjustment_id: str, location: str, delta: int, minutes: int, reason: AdjustmentReason
) -> StockAdjustment:
    return StockAdjustment(
        sku=TSHIRT,
        location_id=location,
        adjustment_id=adjustment_id,
        delta=delta,
        reason=reason,
        occurred_at=T0 + timedelta(minutes=minutes),
        source="wms-hh",
    )


def transfer_out(
    transfer_id: str, quantity: int, at: datetime, to: str = MUNICH
) -> TransferShipped:
    """Units of the T-shirt leaving Hamburg."""
    return TransferShipped(
        sku=TSHIRT,
        location_id=HAMBURG,
        transfer_id=transfer_id,
        to_location_id=to,
        quantity=quantity,
        shipped_at=at,
    )


def transfer_in(
    transfer_id: str, quantity: int, at: datetime, sku: str = TSHIRT
) -> TransferReceived:
    """Units from Hamburg arriving at Munich."""
    return TransferReceived(
        sku=sku,
        location_id=MUNICH,
        transfer_id=transfer_id,
        from_location_id=HAMBURG,
        quantity=quantity,
        received_at=at,
    )
