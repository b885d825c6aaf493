"""Each order's saga: its state, the decisions made for it, the reservations asked for and
the fulfilment orders created."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from oms_orchestration.domain.cancellation import drop_units, units_to_cancel
from oms_orchestration.domain.sourcing import Line
from oms_orchestration.domain.states import AllocationStatus, FulfilmentStatus, SagaState

NO_PROFILE = "none"
"""The profile of a saga no profile applied to."""

__all__ = [
    "NO_PROFILE",
    "Allocation",
    "Decision",
    "FulfilmentOrderRef",
    "FulfilmentTaken",
    "NewFulfilmentOrder",
    "Saga",
    "accept_fulfilment",
    "add_backordered",
    "allocations",
    "answer",
    "avoid",
    "call_off_empty",
    "cancel",
    "capacity_used",
    "create_fulfilment_orders",
    "drop_backordered",
    "give_up_line",
    "lapse",
    "lock_saga",
    "lock_sagas_of",
    "overdue_fulfilment_orders",
    "record_decisions",
    "reject_fulfilment",
    "savepoint",
    "set_state",
    "settle_sagas",
    "source_again",
    "start_sagas",
    "take_backordered",
]


@dataclass(frozen=True)
class Saga:
    order_id: str
    state: SagaState
    profile_id: str
    attempt: int
    excluded: list[str]
    backordered: list[Line]
    allocated_announced: bool
    failed_at: list[str]

    @property
    def avoided(self) -> set[str]:
        """Where this order's lines are not sourced now."""
        return set(self.excluded) | set(self.failed_at)


@dataclass(frozen=True)
class Allocation:
    reservation_id: str
    decision_id: str
    location_id: str
    line_id: str
    sku: str
    quantity: int
    status: AllocationStatus
    fulfilment_order_id: str | None


@dataclass(frozen=True)
class FulfilmentOrderRef:
    """A fulfilment order a step ended or replaced: where it was, and why it ended (when it
    had a reason)."""

    fulfilment_order_id: str
    location_id: str
    reason: str | None = None
    promised_by: datetime | None = None


@dataclass(frozen=True)
class FulfilmentTaken:
    """A fulfilment order a location took: its order, its location and what it was before."""

    order_id: str
    location_id: str
    was: FulfilmentStatus
    reason: str | None


def _ref(row: asyncpg.Record) -> FulfilmentOrderRef:
    return FulfilmentOrderRef(
        row["fulfilment_order_id"], row["location_id"], row.get("reason"), row.get("promised_by")
    )


def savepoint(conn: asyncpg.Connection) -> AbstractAsyncContextManager[Any]:
    """A savepoint in the open transaction: what fails inside it is undone, the rest stays."""
    transaction: AbstractAsyncContextManager[Any] = conn.transaction()
    return transaction


def _allocation(row: asyncpg.Record) -> Allocation:
    return Allocation(
        reservation_id=row["reservation_id"],
        decision_id=row["decision_id"],
        location_id=row["location_id"],
        line_id=row["line_id"],
        sku=row["sku"],
        quantity=row["quantity"],
        status=AllocationStatus(row["status"]),
        fulfilment_order_id=row["fulfilment_order_id"],
    )


def _saga(row: asyncpg.Record) -> Saga:
    return Saga(
        order_id=row["order_id"],
        state=SagaState(row["state"]),
        profile_id=row["profile_id"],
        attempt=row["attempt"],
        excluded=list(row["excluded"]),
        backordered=[Line(**line) for line in json.loads(row["backordered"])],
        allocated_announced=row["allocated_announced"],
        failed_at=list(row["failed_at"]),
    )


async def start_sagas(conn: asyncpg.Connection, profiles: Mapping[str, str]) -> dict[str, Saga]:
    """Start a saga for each order (order id -> profile id), one statement for any number: the
    new sagas by order id; an order whose saga already runs (a redelivered or repeated
    confirmation) is missing. A new row is this transaction's until it commits, as if locked:
    no need to lock it again."""
    rows = await conn.fetch(
        "INSERT INTO sagas (order_id, state, profile_id)"
        " SELECT o, 'sourcing', p FROM unnest($1::text[], $2::text[]) AS t(o, p)"
        " ON CONFLICT DO NOTHING RETURNING *",
        list(profiles),
        list(profiles.values()),
    )
    return {row["order_id"]: _saga(row) for row in rows}


async def lock_saga(conn: asyncpg.Connection, order_id: str) -> Saga | None:
    row = await conn.fetchrow("SELECT * FROM sagas WHERE order_id = $1 FOR UPDATE", order_id)
    return None if row is None else _saga(row)


async def lock_sagas_of(
    conn: asyncpg.Connection, reservation_ids: Sequence[str]
) -> dict[str, tuple[Saga, str]]:
    """Lock the sagas of the orders reservations were asked for, in order id order (so two
    instances never deadlock on them): by reservation id, its saga and decision; unknown
    reservations are missing. Only sagas are locked, so the saga stays the first lock a
    step takes."""
    rows = await conn.fetch(
        "SELECT s.*, a.reservation_id AS answered_id, a.decision_id AS answered_decision"
        " FROM sagas s JOIN allocations a ON a.order_id = s.order_id"
        " WHERE a.reservation_id = ANY($1::text[]) ORDER BY s.order_id FOR UPDATE OF s",
        list(reservation_ids),
    )
    return {r["answered_id"]: (_saga(r), r["answered_decision"]) for r in rows}


async def set_state(conn: asyncpg.Connection, order_id: str, state: SagaState) -> None:
    await conn.execute(
        "UPDATE sagas SET state = $2, updated_at = now() WHERE order_id = $1", order_id, state
    )


async def source_again(conn: asyncpg.Connection, order_id: str) -> None:
    """Back to sourcing with nothing backordered and no failed location avoided."""
    await conn.execute(
        "UPDATE sagas SET state = $2, backordered = '[]', failed_at = '{}', updated_at = now()"
        " WHERE order_id = $1",
        order_id,
        SagaState.SOURCING,
    )


@dataclass(frozen=True)
class Decision:
    """A sourcing decision to store, with the reservations it asks for."""

    decision_id: str
    order_id: str
    attempt: int
    profile_id: str
    config_version: int
    explanation: str
    requested: Sequence[tuple[str, str, Line]]
    """(reservation id, location, line)"""
    reroutes: str | None = None


async def record_decisions(conn: asyncpg.Connection, decisions: Sequence[Decision]) -> set[str]:
    """Store decisions, their reservations and each saga's attempt, one statement for any
    number; the ids of the decisions stored now (one stored before is left as it was, with
    its reservations and saga).

    The reservations and attempts are written only for decision rows inserted by this
    statement (joined to its ``RETURNING``)."""
    requested = [(d.decision_id, *r) for d in decisions for r in d.requested]
    rows = await conn.fetch(
        "WITH decision AS ("
        " INSERT INTO decisions (decision_id, order_id, attempt, profile_id, config_version,"
        " explanation, reroutes)"
        " SELECT i, o, a, p, v, e::jsonb, r FROM unnest($1::text[], $2::text[], $3::int[],"
        " $4::text[], $5::int[], $6::text[], $7::text[]) AS t(i, o, a, p, v, e, r)"
        " ON CONFLICT DO NOTHING RETURNING decision_id, order_id, attempt),"
        " reservations AS ("
        " INSERT INTO allocations (reservation_id, decision_id, order_id, location_id, line_id,"
        " sku, quantity, status)"
        " SELECT r.reservation_id, r.decision_id, d.order_id, r.location_id, r.line_id, r.sku,"
        " r.quantity, 'requested' FROM unnest($8::text[], $9::text[], $10::text[], $11::text[],"
        " $12::text[], $13::int[])"
        " AS r(decision_id, reservation_id, location_id, line_id, sku, quantity)"
        " JOIN decision d USING (decision_id)),"
        " saga AS ("
        " UPDATE sagas SET attempt = d.attempt, updated_at = now() FROM decision d"
        " WHERE sagas.order_id = d.order_id)"
        " SELECT decision_id FROM decision",
        [d.decision_id for d in decisions],
        [d.order_id for d in decisions],
        [d.attempt for d in decisions],
        [d.profile_id for d in decisions],
        [d.config_version for d in decisions],
        [d.explanation for d in decisions],
        [d.reroutes for d in decisions],
        [decision_id for decision_id, *_ in requested],
        [rid for _, rid, _, _ in requested],
        [loc for _, _, loc, _ in requested],
        [line.line_id for *_, line in requested],
        [line.sku for *_, line in requested],
        [line.quantity for *_, line in requested],
    )
    return {r["decision_id"] for r in rows}


async def answer(
    conn: asyncpg.Connection, answers: Mapping[str, bool]
) -> dict[str, tuple[list[str], list[Allocation]]]:
    """Record inventory's answers (reservation id -> held), one statement for any number: by
    order, the decisions answered now (in the order of their rows) and the order's
    allocations as they are now. Answers found answered already change nothing, and an order
    with nothing answered now is missing.

    The read cannot see the update beside it (they share a snapshot), so an answered row's
    new status is taken from the update's RETURNING."""
    rows = await conn.fetch(
        "WITH answered AS ("
        " UPDATE allocations a SET status = CASE WHEN t.held THEN 'held' ELSE 'failed' END"
        " FROM unnest($1::text[], $2::bool[]) AS t(reservation_id, held)"
        " WHERE a.reservation_id = t.reservation_id AND a.status = 'requested'"
        " RETURNING a.reservation_id, a.order_id, a.status)"
        " SELECT a.order_id, a.reservation_id, a.decision_id, a.location_id, a.line_id, a.sku,"
        " a.quantity, coalesce(answered.status, a.status) AS status, a.fulfilment_order_id,"
        " answered.reservation_id IS NOT NULL AS answered"
        " FROM allocations a LEFT JOIN answered ON answered.reservation_id = a.reservation_id"
        " WHERE a.order_id IN (SELECT order_id FROM answered)"
        " ORDER BY a.order_id, a.decision_id, a.location_id, a.line_id",
        list(answers),
        list(answers.values()),
    )
    by_order: dict[str, tuple[list[str], list[Allocation]]] = {}
    for r in rows:
        decisions, allocations = by_order.setdefault(r["order_id"], ([], []))
        if r["answered"] and r["decision_id"] not in decisions:
            decisions.append(r["decision_id"])
        allocations.append(_allocation(r))
    return by_order


async def lapse(
    conn: asyncpg.Connection, reservation_ids: Sequence[str]
) -> dict[str, tuple[list[str], list[Allocation]]]:
    """Holds inventory let expire, of orders not canceled, that were never released to a
    location: they no longer hold (``failed``). One statement for any number: by order, the
    reservations lapsed now and the order's allocations as they are now. A hold already
    released, or lapsed before, is left as it is."""
    rows = await conn.fetch(
        "WITH lapsed AS ("
        " UPDATE allocations a SET status = 'failed' FROM sagas s"
        " WHERE a.reservation_id = ANY($1::text[]) AND a.status = 'held'"
        " AND a.fulfilment_order_id IS NULL AND s.order_id = a.order_id"
        " AND s.state <> 'canceled' RETURNING a.reservation_id, a.order_id)"
        " SELECT a.order_id, a.reservation_id, a.decision_id, a.location_id, a.line_id, a.sku,"
        " a.quantity, CASE WHEN lapsed.reservation_id IS NULL THEN a.status ELSE 'failed' END"
        " AS status, a.fulfilment_order_id, lapsed.reservation_id IS NOT NULL AS lapsed"
        " FROM allocations a LEFT JOIN lapsed ON lapsed.reservation_id = a.reservation_id"
        " WHERE a.order_id IN (SELECT order_id FROM lapsed)"
        " ORDER BY a.order_id, a.decision_id, a.location_id, a.line_id",
        list(reservation_ids),
    )
    by_order: dict[str, tuple[list[str], list[Allocation]]] = {}
    for r in rows:
        lapsed, allocations = by_order.setdefault(r["order_id"], ([], []))
        if r["lapsed"]:
            lapsed.append(r["reservation_id"])
        allocations.append(_allocation(r))
    return by_order


async def allocations(conn: asyncpg.Connection, order_id: str) -> list[Allocation]:
    rows = await conn.fetch(
        "SELECT reservation_id, decision_id, location_id, line_id, sku, quantity, status,"
        " fulfilment_order_id FROM allocations WHERE order_id = $1"
        " ORDER BY decision_id, location_id, line_id",
        order_id,
    )
    return [_allocation(r) for r in rows]


async def capacity_used(conn: asyncpg.Connection, day: date) -> dict[str, int]:
    rows = await conn.fetch("SELECT location_id, used FROM capacity_used WHERE day = $1", day)
    return {r["location_id"]: r["used"] for r in rows}


@dataclass(frozen=True)
class NewFulfilmentOrder:
    fulfilment_order_id: str
    order_id: str
    location_id: str
    reservation_ids: Sequence[str]
    accept_by: datetime
    day: date
    """The business day whose capacity it counts against."""
    decision_id: str
    promised_by: datetime | None = None
    """Unless it replaces a fulfilment order: then that one's promise is kept."""


async def create_fulfilment_orders(
    conn: asyncpg.Connection, new: Sequence[NewFulfilmentOrder]
) -> dict[str, FulfilmentOrderRef]:
    """Create fulfilment orders for held reservations, each counted against its location's
    capacity for its day, one statement for any number; by new id, the fulfilment order (id,
    location, reason, promise) its decision replaces, for those that replace one, whose
    promise the new one keeps. The parts write different tables, and the reroute reads need
    only rows of earlier statements (the decision, the replaced fulfilment order), which
    they see."""
    if not new:
        return {}
    assigned = [(fo.fulfilment_order_id, rid) for fo in new for rid in fo.reservation_ids]
    rows = await conn.fetch(
        "WITH created AS ("
        " INSERT INTO fulfilment_orders (fulfilment_order_id, order_id, location_id, status,"
        " accept_by, promised_by) SELECT t.f, t.o, t.l, 'created', t.a,"
        " coalesce(was.promised_by, t.p) FROM unnest($1::text[], $2::text[], $3::text[],"
        " $4::timestamptz[], $9::timestamptz[], $8::text[]) AS t(f, o, l, a, p, decision_id)"
        " LEFT JOIN decisions d USING (decision_id)"
        " LEFT JOIN fulfilment_orders was ON was.fulfilment_order_id = d.reroutes),"
        " assigned AS ("
        " UPDATE allocations SET fulfilment_order_id = t.f"
        " FROM unnest($5::text[], $6::text[]) AS t(f, r) WHERE reservation_id = t.r),"
        " counted AS ("
        " INSERT INTO capacity_used (location_id, day, used)"
        " SELECT l, d, count(*) FROM unnest($3::text[], $7::date[]) AS t(l, d) GROUP BY l, d"
        " ON CONFLICT (location_id, day) DO UPDATE"
        " SET used = capacity_used.used + EXCLUDED.used)"
        " SELECT t.f AS new_id, f.fulfilment_order_id, f.location_id, f.reason, f.promised_by"
        " FROM unnest($1::text[], $8::text[]) AS t(f, decision_id)"
        " JOIN decisions d USING (decision_id)"
        " JOIN fulfilment_orders f ON f.fulfilment_order_id = d.reroutes",
        [fo.fulfilment_order_id for fo in new],
        [fo.order_id for fo in new],
        [fo.location_id for fo in new],
        [fo.accept_by for fo in new],
        [f for f, _ in assigned],
        [r for _, r in assigned],
        [fo.day for fo in new],
        [fo.decision_id for fo in new],
        [fo.promised_by for fo in new],
    )
    return {r["new_id"]: _ref(r) for r in rows}


async def settle_sagas(
    conn: asyncpg.Connection, states: Sequence[tuple[str, SagaState, bool]]
) -> None:
    """Set sagas' states ((order id, state, allocation announced now)), one statement for
    any number; an allocation announced before stays announced."""
    if not states:
        return
    await conn.execute(
        "UPDATE sagas SET state = t.state,"
        " allocated_announced = sagas.allocated_announced OR t.announced, updated_at = now()"
        " FROM unnest($1::text[], $2::text[], $3::bool[]) AS t(order_id, state, announced)"
        " WHERE sagas.order_id = t.order_id",
        [order_id for order_id, _, _ in states],
        [state for _, state, _ in states],
        [announced for _, _, announced in states],
    )


async def add_backordered(conn: asyncpg.Connection, saga: Saga, lines: Sequence[Line]) -> None:
    """Lines to source again when stock comes back; the saga keeps its place in the queue."""
    if not lines:
        return
    await conn.execute(
        "UPDATE sagas SET backordered = $2::jsonb,"
        " backordered_at = coalesce(backordered_at, now()), updated_at = now()"
        " WHERE order_id = $1",
        saga.order_id,
        json.dumps([line.__dict__ for line in [*saga.backordered, *lines]]),
    )


async def avoid(
    conn: asyncpg.Connection,
    order_id: str,
    *,
    rejected: Sequence[str] = (),
    failed: Sequence[str] = (),
    state: SagaState | None = None,
) -> Saga | None:
    """Never again (``rejected``), or until stock returns (``failed``); ``state``, when
    given, is set in the same statement. The saga as it is now (None if there is none)."""
    row = await conn.fetchrow(
        "UPDATE sagas SET excluded = ARRAY(SELECT DISTINCT unnest(excluded || $2::text[])),"
        " failed_at = ARRAY(SELECT DISTINCT unnest(failed_at || $3::text[])),"
        " state = coalesce($4, state), updated_at = now() WHERE order_id = $1 RETURNING *",
        order_id,
        list(rejected),
        list(failed),
        state,
    )
    return None if row is None else _saga(row)


async def take_backordered(conn: asyncpg.Connection, sku: str, limit: int) -> list[Saga]:
    """Sagas of orders with lines waiting for ``sku``, oldest first, locked for this
    transaction (an order still waiting on inventory for other lines counts too: nobody else
    would wake it)."""
    rows = await conn.fetch(
        "SELECT * FROM sagas WHERE state <> 'canceled' AND profile_id <> $3"
        " AND backordered @> jsonb_build_array(jsonb_build_object('sku', $1::text))"
        " ORDER BY backordered_at, order_id LIMIT $2 FOR UPDATE",
        sku,
        limit,
        NO_PROFILE,
    )
    return [_saga(r) for r in rows]


async def cancel(
    conn: asyncpg.Connection, order_id: str
) -> tuple[list[str], list[FulfilmentOrderRef]]:
    """Mark the saga canceled: the reservations still to give back, the fulfilment orders
    (id, location) to call off."""
    await set_state(conn, order_id, SagaState.CANCELED)
    released = await conn.fetch(
        "UPDATE allocations SET status = 'released' WHERE order_id = $1"
        " AND status IN ('requested', 'held') RETURNING reservation_id",
        order_id,
    )
    canceled = await conn.fetch(
        "UPDATE fulfilment_orders SET status = 'canceled' WHERE order_id = $1"
        " AND status IN ('created', 'accepted') RETURNING fulfilment_order_id, location_id",
        order_id,
    )
    return [r["reservation_id"] for r in released], [_ref(r) for r in canceled]


async def accept_fulfilment(
    conn: asyncpg.Connection, fulfilment_order_id: str
) -> FulfilmentTaken | None:
    """Mark it accepted (when it was created); the order, location and status it had (None
    when unknown)."""
    row = await conn.fetchrow(
        "UPDATE fulfilment_orders f SET status = CASE WHEN f.status = 'created'"
        " THEN 'accepted' ELSE f.status END FROM fulfilment_orders before"
        " WHERE f.fulfilment_order_id = $1 AND before.fulfilment_order_id = f.fulfilment_order_id"
        " RETURNING f.order_id, f.location_id, before.status AS was, f.reason",
        fulfilment_order_id,
    )
    if row is None:
        return None
    return FulfilmentTaken(
        row["order_id"], row["location_id"], FulfilmentStatus(row["was"]), row["reason"]
    )


async def reject_fulfilment(
    conn: asyncpg.Connection, fulfilment_order_id: str, line_ids: Sequence[str], reason: str
) -> tuple[str, str, list[Allocation]] | None:
    """Take the rejected lines (all when none are named) off a fulfilment order: (order id,
    location, the reservations given up), or None when there is nothing left to reject."""
    fo = await conn.fetchrow(
        "SELECT order_id, location_id FROM fulfilment_orders WHERE fulfilment_order_id = $1"
        " AND status IN ('created', 'accepted') FOR UPDATE",
        fulfilment_order_id,
    )
    if fo is None:
        return None
    rows = await conn.fetch(
        "UPDATE allocations SET status = 'released' WHERE fulfilment_order_id = $1"
        " AND status = 'held' AND (cardinality($2::text[]) = 0 OR line_id = ANY($2::text[]))"
        " RETURNING reservation_id, decision_id, location_id, line_id, sku, quantity, status,"
        " fulfilment_order_id",
        fulfilment_order_id,
        list(line_ids),
    )
    left = await conn.fetchval(
        "SELECT count(*) FROM allocations WHERE fulfilment_order_id = $1 AND status = 'held'",
        fulfilment_order_id,
    )
    if not left:
        await conn.execute(
            "UPDATE fulfilment_orders SET status = 'rejected', reason = $2"
            " WHERE fulfilment_order_id = $1",
            fulfilment_order_id,
            reason,
        )
    return fo["order_id"], fo["location_id"], [_allocation(r) for r in rows]


async def overdue_fulfilment_orders(
    conn: asyncpg.Connection, now: datetime, limit: int
) -> list[tuple[str, str, str]]:
    """Fulfilment orders not accepted in time, locked (instances sweeping together skip
    each other's)."""
    rows = await conn.fetch(
        "SELECT fulfilment_order_id, order_id, location_id FROM fulfilment_orders"
        " WHERE status = 'created' AND accept_by <= $1 ORDER BY accept_by LIMIT $2"
        " FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    return [(r["fulfilment_order_id"], r["order_id"], r["location_id"]) for r in rows]


async def give_up_line(
    conn: asyncpg.Connection, order_id: str, line_id: str, quantity: int
) -> list[tuple[Allocation, int]]:
    """Stop asking for up to ``quantity`` units of a canceled line: whole reservations,
    newest first, that fit in it, then part of the next one. Each reservation taken from (as
    it was) and the units taken: a whole one is marked released, a partial one keeps the
    rest. The caller gives them back and tells the locations."""
    rows = await conn.fetch(
        "SELECT * FROM allocations WHERE order_id = $1 AND line_id = $2"
        " AND status IN ('requested', 'held') ORDER BY decision_id DESC, reservation_id DESC"
        " FOR UPDATE",
        order_id,
        line_id,
    )
    found = {r["reservation_id"]: _allocation(r) for r in rows}
    taken = units_to_cancel([(a.reservation_id, a.quantity) for a in found.values()], quantity)
    # A released allocation keeps its quantity (what it held); a partial one what is left.
    await conn.execute(
        "UPDATE allocations a SET"
        " quantity = CASE WHEN a.quantity = t.units THEN a.quantity ELSE a.quantity - t.units END,"
        " status = CASE WHEN a.quantity = t.units THEN 'released' ELSE a.status END"
        " FROM unnest($1::text[], $2::int[]) AS t(id, units) WHERE a.reservation_id = t.id",
        [reservation_id for reservation_id, _ in taken],
        [units for _, units in taken],
    )
    return [(found[reservation_id], units) for reservation_id, units in taken]


async def call_off_empty(conn: asyncpg.Connection, order_id: str) -> list[FulfilmentOrderRef]:
    """Open fulfilment orders of the order with nothing held any more, now canceled."""
    rows = await conn.fetch(
        "UPDATE fulfilment_orders f SET status = 'canceled', reason = 'lines canceled'"
        " WHERE f.order_id = $1 AND f.status IN ('created', 'accepted')"
        " AND NOT EXISTS (SELECT 1 FROM allocations a WHERE a.fulfilment_order_id ="
        " f.fulfilment_order_id AND a.status = 'held')"
        " RETURNING f.fulfilment_order_id, f.location_id",
        order_id,
    )
    return [_ref(r) for r in rows]


async def drop_backordered(
    conn: asyncpg.Connection, saga: Saga, line_id: str, quantity: int
) -> tuple[int, Saga]:
    """Take up to ``quantity`` units of a line off the backorder: how many were taken, and
    the saga as it is now."""
    taken, kept = drop_units(saga.backordered, line_id, quantity)
    row = await conn.fetchrow(
        "UPDATE sagas SET backordered = $2::jsonb, updated_at = now() WHERE order_id = $1"
        " RETURNING *",
        saga.order_id,
        json.dumps([line.__dict__ for line in kept]),
    )
    return taken, _saga(row)
