"""Transfers between locations: in transit at the receiver from shipping until receipt.

The two ends travel on different partitions (each keyed by its own location), so either may
arrive first; the transfer row remembers which did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from oms_runtime import RejectedEvent

__all__ = ["TransferEnd", "record_ends"]

_OTHER = {"shipped": "received", "received": "shipped"}


@dataclass(frozen=True)
class TransferEnd:
    """One end of a transfer as its record tells it."""

    transfer_id: str
    sku: str
    from_location_id: str
    to_location_id: str
    quantity: int
    at: datetime


async def record_ends(
    conn: asyncpg.Connection, end: Literal["shipped", "received"], ends: Sequence[TransferEnd]
) -> dict[str, int | None]:
    """Record one end of each of these transfers (each named once), with two statements: by
    transfer id, the other end's quantity, or None when it is not known.

    Both ends must describe one transfer: a mismatch would move units that never left. The
    first end, in the given order, that describes another transfer is rejected, also when the
    other end was being recorded in a transaction at once (the check found no row; the insert
    then waited for that transaction, and the row it met is another transfer's).
    """
    ids = [e.transfer_id for e in ends]
    assert len(ids) == len(set(ids)), "one end of a transfer is recorded once"
    known = {
        row["transfer_id"]: row
        for row in await conn.fetch(
            "SELECT transfer_id, sku, from_location_id, to_location_id FROM transfers"
            " WHERE transfer_id = ANY($1::text[]) ORDER BY transfer_id FOR UPDATE",
            ids,
        )
    }
    for e in ends:
        found = known.get(e.transfer_id)
        if found is not None and tuple(found)[1:] != (e.sku, e.from_location_id, e.to_location_id):
            raise RejectedEvent(
                "transfer_mismatch",
                f"transfer {e.transfer_id!r} is {found['sku']} from"
                f" {found['from_location_id']!r} to {found['to_location_id']!r}; this end says"
                f" {e.sku} from {e.from_location_id!r} to {e.to_location_id!r}",
            )
    other = _OTHER[end]
    rows = await conn.fetch(
        "INSERT INTO transfers (transfer_id, sku, from_location_id, to_location_id,"
        f" {end}_quantity, {end}_at)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[],"
        " $6::timestamptz[]) ORDER BY 1"
        f" ON CONFLICT (transfer_id) DO UPDATE SET {end}_quantity = EXCLUDED.{end}_quantity,"
        f" {end}_at = EXCLUDED.{end}_at WHERE (transfers.sku, transfers.from_location_id,"
        " transfers.to_location_id) = (EXCLUDED.sku, EXCLUDED.from_location_id,"
        f" EXCLUDED.to_location_id) RETURNING transfer_id, {other}_quantity AS other",
        ids,
        [e.sku for e in ends],
        [e.from_location_id for e in ends],
        [e.to_location_id for e in ends],
        [e.quantity for e in ends],
        [e.at for e in ends],
    )
    recorded = {row["transfer_id"]: row["other"] for row in rows}
    for e in ends:
        if e.transfer_id not in recorded:
            raise RejectedEvent(
                "transfer_mismatch",
                f"transfer {e.transfer_id!r} was recorded meanwhile as another SKU or other"
                f" locations; this end says {e.sku} from {e.from_location_id!r} to"
                f" {e.to_location_id!r}",
            )
    return recorded
