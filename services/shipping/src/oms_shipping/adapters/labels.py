"""Labels, their carrier choices and the tracking number counters; the end-of-day manifest.

A run of labels is kept in one statement; the serials of every carrier a packing needs are
drawn in one statement too (the counters' rows are locked in carrier order, so two packings
never deadlock, and a counter only goes up, so a serial is never drawn twice)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from oms_shipping.adapters.fulfilment_orders import keep_refusal

__all__ = [
    "LabelRow",
    "ReturnSource",
    "advance_serials",
    "draw_serials",
    "keep_refusal",
    "label_document",
    "label_views",
    "manifest",
    "return_source",
    "save_labels",
    "void_labels",
]


@dataclass(frozen=True)
class LabelRow:
    carrier: str
    tracking_number: str
    fulfilment_order_id: str
    parcel_id: str
    kind: str
    service: str
    weight_grams: int
    billable_grams: int
    cost_minor: int | None
    currency: str
    estimated_delivery: date | None
    meets_promise: bool | None
    alternatives: list[dict[str, Any]]
    pdf: bytes
    zpl: str


async def draw_serials(conn: asyncpg.Connection, counts: Mapping[str, int]) -> dict[str, int]:
    """``counts[carrier]`` new serials per carrier: the first of each carrier's run."""
    carriers = sorted(counts)
    rows = await conn.fetch(
        "INSERT INTO tracking_number_counters AS c (carrier, last_serial)"
        " SELECT k, n FROM unnest($1::text[], $2::bigint[]) AS t(k, n) ORDER BY k"
        " ON CONFLICT (carrier) DO UPDATE SET last_serial = c.last_serial + EXCLUDED.last_serial"
        " RETURNING carrier, last_serial",
        carriers,
        [counts[c] for c in carriers],
    )
    return {r["carrier"]: r["last_serial"] - counts[r["carrier"]] + 1 for r in rows}


async def advance_serials(conn: asyncpg.Connection, serials: Mapping[str, int]) -> None:
    """Each carrier's counter at least at ``serials[carrier]``: numbers issued under those
    serials are never drawn again (a rebuild takes the live service's numbers)."""
    carriers = sorted(serials)
    await conn.execute(
        "INSERT INTO tracking_number_counters AS c (carrier, last_serial)"
        " SELECT k, n FROM unnest($1::text[], $2::bigint[]) AS t(k, n) ORDER BY k"
        " ON CONFLICT (carrier) DO UPDATE"
        " SET last_serial = greatest(c.last_serial, EXCLUDED.last_serial)",
        carriers,
        [serials[c] for c in carriers],
    )


async def save_labels(conn: asyncpg.Connection, labels: Sequence[LabelRow]) -> None:
    """A parcel keeps its first label of a kind: a repeated request changes nothing."""
    await conn.execute(
        "INSERT INTO labels (carrier, tracking_number, fulfilment_order_id, parcel_id, kind,"
        " service, weight_grams, billable_grams, cost_minor, currency, estimated_delivery,"
        " meets_promise, alternatives, pdf, zpl)"
        " SELECT c, t, f, p, k, s, w, b, m, cur, d, ok, a::jsonb, pdf, z"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
        " $7::int[], $8::int[], $9::bigint[], $10::text[], $11::date[], $12::bool[],"
        " $13::text[], $14::bytea[], $15::text[])"
        " AS u(c, t, f, p, k, s, w, b, m, cur, d, ok, a, pdf, z)"
        " ON CONFLICT (fulfilment_order_id, parcel_id, kind) DO NOTHING",
        [x.carrier for x in labels],
        [x.tracking_number for x in labels],
        [x.fulfilment_order_id for x in labels],
        [x.parcel_id for x in labels],
        [x.kind for x in labels],
        [x.service for x in labels],
        [x.weight_grams for x in labels],
        [x.billable_grams for x in labels],
        [x.cost_minor for x in labels],
        [x.currency for x in labels],
        [x.estimated_delivery for x in labels],
        [x.meets_promise for x in labels],
        [json.dumps(x.alternatives) for x in labels],
        [x.pdf for x in labels],
        [x.zpl for x in labels],
    )


async def void_labels(conn: asyncpg.Connection, fulfilment_order_id: str) -> None:
    """The outbound labels of a packing undone are void: packing again prints new ones (the
    void numbers are never issued again: the counters only go up)."""
    await conn.execute(
        "DELETE FROM labels WHERE fulfilment_order_id = $1 AND kind = 'outbound'",
        fulfilment_order_id,
    )


async def label_views(conn: asyncpg.Connection, fulfilment_order_id: str) -> list[dict[str, Any]]:
    """A fulfilment order's labels with their carrier choices, outbound first."""
    rows = await conn.fetch(
        "SELECT parcel_id, kind, carrier, service, tracking_number, weight_grams,"
        " billable_grams, cost_minor, currency, estimated_delivery, meets_promise,"
        " alternatives, created_at FROM labels WHERE fulfilment_order_id = $1"
        " ORDER BY kind, parcel_id",
        fulfilment_order_id,
    )
    return [{**dict(r), "alternatives": json.loads(r["alternatives"])} for r in rows]


async def label_document(
    conn: asyncpg.Connection, fulfilment_order_id: str, parcel_id: str, kind: str
) -> tuple[bytes, str, str] | None:
    """A parcel's label of ``kind``: its PDF, its ZPL and its tracking number."""
    row = await conn.fetchrow(
        "SELECT pdf, zpl, tracking_number FROM labels"
        " WHERE fulfilment_order_id = $1 AND parcel_id = $2 AND kind = $3",
        fulfilment_order_id,
        parcel_id,
        kind,
    )
    return (row["pdf"], row["zpl"], row["tracking_number"]) if row else None


@dataclass(frozen=True)
class ReturnSource:
    """What a parcel's return label is made from: its outbound label and its work."""

    order_id: str
    location_id: str
    status: str
    """Of the parcel: ``SHIPPED`` once it was handed over (whatever its work's status), else
    its work's."""
    shipping_address: str | None
    """As kept (JSON)."""
    carrier: str
    service: str
    weight_grams: int
    parcel_number: int
    parcel_count: int


async def return_source(
    conn: asyncpg.Connection, fulfilment_order_id: str, parcel_id: str
) -> ReturnSource | None:
    row = await conn.fetchrow(
        "SELECT f.order_id, f.location_id, CASE WHEN EXISTS (SELECT 1 FROM parcels p"
        " WHERE p.carrier = l.carrier AND p.tracking_number = l.tracking_number)"
        " THEN 'SHIPPED' ELSE f.status END AS status, f.shipping_address, l.carrier, l.service,"
        " l.weight_grams, (SELECT count(*) FROM labels o WHERE o.fulfilment_order_id ="
        " l.fulfilment_order_id AND o.kind = 'outbound' AND o.parcel_id <= l.parcel_id)"
        " AS parcel_number, (SELECT count(*) FROM labels o WHERE o.fulfilment_order_id ="
        " l.fulfilment_order_id AND o.kind = 'outbound') AS parcel_count"
        " FROM labels l JOIN fulfilment_orders f USING (fulfilment_order_id)"
        " WHERE l.fulfilment_order_id = $1 AND l.parcel_id = $2 AND l.kind = 'outbound'",
        fulfilment_order_id,
        parcel_id,
    )
    if row is None:
        return None
    return ReturnSource(
        order_id=row["order_id"],
        location_id=row["location_id"],
        status=row["status"],
        shipping_address=row["shipping_address"],
        carrier=row["carrier"],
        service=row["service"],
        weight_grams=row["weight_grams"],
        parcel_number=row["parcel_number"],
        parcel_count=row["parcel_count"],
    )


async def manifest(
    conn: asyncpg.Connection, location_id: str, carrier: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """The parcels ``location_id`` handed to ``carrier`` in [start, end), in hand-over order."""
    rows = await conn.fetch(
        "SELECT p.tracking_number, l.service, l.parcel_id, l.weight_grams, f.order_id,"
        " f.fulfilment_order_id, p.handed_over_at"
        " FROM parcels p JOIN fulfilment_orders f USING (fulfilment_order_id)"
        " LEFT JOIN labels l ON l.carrier = p.carrier AND l.tracking_number = p.tracking_number"
        " WHERE f.location_id = $1 AND p.carrier = $2 AND p.handed_over_at >= $3"
        " AND p.handed_over_at < $4 ORDER BY p.handed_over_at, p.tracking_number",
        location_id,
        carrier,
        start,
        end,
    )
    return [dict(r) for r in rows]
