"""Handed-over parcels and the carrier scans taken for them: a run of scans is read, kept and
applied with one statement per table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from oms_shipping.adapters.fulfilment_orders import PICKUP_METHODS
from oms_shipping.domain.fulfilment import Shipment
from oms_shipping.domain.tracking import ParcelStatus

__all__ = [
    "KeptScan",
    "ParcelRow",
    "add_parcels",
    "complete_deliveries",
    "keep_scans",
    "lock_parcels",
    "save_parcels",
    "tracking_numbers_in_use",
]


@dataclass(frozen=True)
class ParcelRow:
    carrier: str
    tracking_number: str
    fulfilment_order_id: str
    order_id: str
    shipment_id: str
    status: ParcelStatus
    latest_at: datetime


@dataclass(frozen=True)
class KeptScan:
    event_id: UUID
    carrier: str
    tracking_number: str
    carrier_status_code: str
    status: ParcelStatus
    occurred_at: datetime
    applied: bool
    note: str | None


async def tracking_numbers_in_use(
    conn: asyncpg.Connection, carrier: str, tracking_numbers: Sequence[str]
) -> list[str]:
    rows = await conn.fetch(
        "SELECT tracking_number FROM parcels WHERE carrier = $1 AND tracking_number = ANY($2)"
        " ORDER BY tracking_number",
        carrier,
        list(tracking_numbers),
    )
    return [r["tracking_number"] for r in rows]


async def add_parcels(
    conn: asyncpg.Connection, *, shipment: Shipment, fulfilment_order_id: str, order_id: str
) -> None:
    """The parcels of a shipment, handed over."""
    await conn.execute(
        "INSERT INTO parcels (carrier, tracking_number, parcel_id, fulfilment_order_id,"
        " order_id, shipment_id, status, latest_at, handed_over_at)"
        " SELECT c, t, p, $4, $5, $6, $7, $8, $8"
        " FROM unnest($1::text[], $2::text[], $3::text[]) AS u(c, t, p)",
        [p.carrier for p in shipment.parcels],
        [p.tracking_number for p in shipment.parcels],
        [p.parcel_id for p in shipment.parcels],
        fulfilment_order_id,
        order_id,
        shipment.shipment_id,
        ParcelStatus.HANDED_OVER.value,
        shipment.shipped_at,
    )


async def lock_parcels(
    conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], ParcelRow]:
    """The parcels of a run of scans, locked in one statement (in key order, so two
    instances never deadlock), by (carrier, tracking number)."""
    ordered = sorted(set(keys))
    rows = await conn.fetch(
        "SELECT p.carrier, p.tracking_number, p.fulfilment_order_id, p.order_id,"
        " p.shipment_id, p.status, p.latest_at FROM parcels p"
        " JOIN unnest($1::text[], $2::text[]) AS k(c, t) ON p.carrier = k.c"
        " AND p.tracking_number = k.t ORDER BY p.carrier, p.tracking_number FOR UPDATE OF p",
        [c for c, _ in ordered],
        [t for _, t in ordered],
    )
    return {
        (r["carrier"], r["tracking_number"]): ParcelRow(
            r["carrier"],
            r["tracking_number"],
            r["fulfilment_order_id"],
            r["order_id"],
            r["shipment_id"],
            ParcelStatus(r["status"]),
            r["latest_at"],
        )
        for r in rows
    }


async def save_parcels(conn: asyncpg.Connection, parcels: Sequence[ParcelRow]) -> None:
    if not parcels:
        return
    await conn.execute(
        "UPDATE parcels p SET status = u.s, latest_at = u.at"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS u(c, t, s, at)"
        " WHERE p.carrier = u.c AND p.tracking_number = u.t",
        [p.carrier for p in parcels],
        [p.tracking_number for p in parcels],
        [p.status.value for p in parcels],
        [p.latest_at for p in parcels],
    )


async def keep_scans(conn: asyncpg.Connection, scans: Sequence[KeptScan]) -> None:
    await conn.execute(
        "INSERT INTO tracking_updates (event_id, carrier, tracking_number, carrier_status_code,"
        " status, occurred_at, applied, note)"
        " SELECT e, c, t, code, s, at, a, n FROM unnest($1::uuid[], $2::text[], $3::text[],"
        " $4::text[], $5::text[], $6::timestamptz[], $7::bool[], $8::text[])"
        " WITH ORDINALITY AS u(e, c, t, code, s, at, a, n, i) ORDER BY i"
        " ON CONFLICT (event_id) DO NOTHING",
        [s.event_id for s in scans],
        [s.carrier for s in scans],
        [s.tracking_number for s in scans],
        [s.carrier_status_code for s in scans],
        [s.status.value for s in scans],
        [s.occurred_at for s in scans],
        [s.applied for s in scans],
        [s.note for s in scans],
    )


async def complete_deliveries(conn: asyncpg.Connection, shipment_ids: Sequence[str]) -> list[str]:
    """Of ``shipment_ids``, those whose every parcel is now delivered, in one statement;
    their work moves to DELIVERED once it is SHIPPED (its last parcels left) and every parcel
    of it is delivered. Work shipped to a pickup store is not delivered to its customer
    there: it waits, SHIPPED, for the store to receive it, and its shipment is not
    delivered.

    The parcels of one shipment are scanned on different partitions (keyed by tracking
    number), so their last two can be delivered in two transactions at once, each seeing the
    other's parcel not yet delivered. The work is locked first, in a statement of its own: the
    second transaction waits for the first to commit, then sees both parcels delivered."""
    await conn.execute(
        "SELECT 1 FROM fulfilment_orders WHERE fulfilment_order_id IN"
        " (SELECT fulfilment_order_id FROM parcels WHERE shipment_id = ANY($1))"
        " ORDER BY fulfilment_order_id FOR UPDATE",
        list(shipment_ids),
    )
    rows = await conn.fetch(
        "WITH done AS (SELECT p.shipment_id, p.fulfilment_order_id FROM parcels p"
        "  JOIN fulfilment_orders f USING (fulfilment_order_id)"
        "  WHERE p.shipment_id = ANY($1)"
        "  AND (f.pickup_store_id IS NULL OR f.delivery_method <> ALL($2::text[]))"
        "  GROUP BY p.shipment_id, p.fulfilment_order_id"
        "  HAVING bool_and(p.status = 'delivered')),"
        " work AS (UPDATE fulfilment_orders f SET status = 'DELIVERED', updated_at = now()"
        "  WHERE f.fulfilment_order_id IN (SELECT fulfilment_order_id FROM done)"
        "  AND f.status = 'SHIPPED' AND NOT EXISTS (SELECT 1 FROM parcels p"
        "  WHERE p.fulfilment_order_id = f.fulfilment_order_id AND p.status <> 'delivered'))"
        " SELECT shipment_id FROM done ORDER BY shipment_id",
        list(shipment_ids),
        list(PICKUP_METHODS),
    )
    return [r["shipment_id"] for r in rows]
