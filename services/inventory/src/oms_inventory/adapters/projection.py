"""Once per transaction: the availability projection and alerts for the stock it changed.

Coalescing per transaction keeps a burst of 500 reservations on one SKU to one
AvailabilityChanged. The rows are read under lock, and the network-wide sums under a per-SKU
lock, so each emitted picture is the state as committed, in commit order: the last record
per key on the compacted topic is the current one.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from oms_events.inventory import (
    AtLocation,
    AvailabilityChanged,
    BackInStock,
    LowStock,
    NetworkAvailabilityChanged,
    OutOfStock,
)
from oms_events.registry import EventPayload
from oms_events.values import LocationType
from oms_inventory.adapters.stock import changed_stock
from oms_inventory.domain.alerts import Alert, AlertState, alert_state, alerts_between
from oms_runtime import Outbox, UnitOfWork, advisory_key

__all__ = ["NETWORK", "emit_for_order", "publish_changes", "stock_key"]

NETWORK = "*"
"""The location part of the network-wide key ``sku@*``; the catalogue refuses ``*`` in
location ids, so no location's key can collide with it."""


def stock_key(sku: str, location_id: str) -> str:
    return f"{sku}@{location_id}"


def emit_for_order(outbox: Outbox, payload: AtLocation, order_id: str) -> None:
    """A stock fact about an order: its subject is the order, its key the SKU at the location
    (so one consumer sees one SKU at one location in order)."""
    outbox.emit(payload, subject=order_id, key=stock_key(payload.sku, payload.location_id))


def _sku_lock(sku: str) -> int:
    return advisory_key(f"oms-stock-sku:{sku}")


async def publish_changes(work: UnitOfWork) -> None:
    """The batch's finish step: one availability event per stock row its handlers changed,
    and each row's alert state moved. A rebuild builds no event (its outbox is emptied at the
    end; building them was most of what a rebuild of a feed cost), only the alert states."""
    conn, outbox = work.conn, work.outbox
    changed = changed_stock(work.notes)
    if not changed:
        return
    now = datetime.now(UTC)
    rows = await conn.fetch(
        "SELECT s.*, l.location_type FROM stock s JOIN locations l USING (location_id)"
        " WHERE (s.sku, s.location_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
        " ORDER BY s.sku, s.location_id FOR UPDATE OF s",
        [sku for sku, _ in changed],
        [location for _, location in changed],
    )
    moved_alerts: list[tuple[str, str, str]] = []
    for row in rows:
        available = row["on_hand"] - row["reserved"] - row["safety_stock"]
        state = alert_state(available, row["low_stock_threshold"])
        if state != row["alert_state"]:
            moved_alerts.append((row["sku"], row["location_id"], state.value))
        if work.rebuilding:
            continue
        key = stock_key(row["sku"], row["location_id"])
        outbox.emit(
            AvailabilityChanged(
                sku=row["sku"],
                location_id=row["location_id"],
                location_type=LocationType(row["location_type"]),
                on_hand=row["on_hand"],
                reserved=row["reserved"],
                safety_stock=row["safety_stock"],
                in_transit=row["in_transit"],
                quarantined=row["quarantined"],
                available=available,
                as_of=now,
            ),
            subject=key,
            sequence=row["version"],
        )
        for alert in alerts_between(AlertState(row["alert_state"]), state):
            outbox.emit(_alert(alert, row, available, now), subject=key)
    if moved_alerts:
        await conn.execute(
            "UPDATE stock s SET alert_state = t.state"
            " FROM unnest($1::text[], $2::text[], $3::text[]) AS t(sku, location_id, state)"
            " WHERE s.sku = t.sku AND s.location_id = t.location_id",
            *(list(column) for column in zip(*moved_alerts, strict=True)),
        )
    if not work.rebuilding:
        await _publish_network(conn, sorted({sku for sku, _ in changed}), outbox, now)


async def _publish_network(
    conn: asyncpg.Connection, skus: list[str], outbox: Outbox, now: datetime
) -> None:
    """Sums over every location; the per-SKU lock makes a concurrent transaction's sums wait
    for ours to commit, so they include our change."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k ORDER BY k",
        sorted({_sku_lock(sku) for sku in skus}),
    )
    totals = await conn.fetch(
        # Sums of int columns are bigint: no total overflows.
        "SELECT sku, sum(on_hand) AS on_hand, sum(reserved) AS reserved,"
        " sum(in_transit) AS in_transit, sum(quarantined) AS quarantined,"
        " sum(greatest(on_hand::bigint - reserved - safety_stock, 0))::bigint AS available,"
        " count(*) FILTER (WHERE on_hand::bigint - reserved - safety_stock > 0)::int AS in_stock,"
        " sum(version)::bigint AS version"
        " FROM stock WHERE sku = ANY($1::text[]) GROUP BY sku ORDER BY sku",
        skus,
    )
    for total in totals:
        outbox.emit(
            NetworkAvailabilityChanged(
                sku=total["sku"],
                on_hand=total["on_hand"],
                reserved=total["reserved"],
                in_transit=total["in_transit"],
                quarantined=total["quarantined"],
                available=total["available"],
                locations_in_stock=total["in_stock"],
                as_of=now,
            ),
            subject=stock_key(total["sku"], NETWORK),
            sequence=total["version"],
        )


def _alert(alert: Alert, row: asyncpg.Record, available: int, now: datetime) -> EventPayload:
    where = {"sku": row["sku"], "location_id": row["location_id"]}
    if alert is Alert.LOW_STOCK:
        return LowStock(**where, available=available, threshold=row["low_stock_threshold"])
    if alert is Alert.OUT_OF_STOCK:
        return OutOfStock(**where, since=now)
    return BackInStock(**where, available=available)
