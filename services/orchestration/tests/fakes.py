"""In-memory stand-ins for the orchestration service's stores, for unit tests of the saga
with the runtime's in-memory unit of work.

They keep the tables of ``adapters/sagas.py`` and ``adapters/orders.py`` in dicts and answer
as those statements do: a row inserted twice is left as it was (``ON CONFLICT DO NOTHING``),
an answer only moves a reservation still asked for, values are copied in and out, and a
savepoint undoes what failed inside it. The arithmetic of a canceled line is the domain's,
shared with the PostgreSQL adapter.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg

from oms_orchestration.adapters.sagas import (
    NO_PROFILE,
    Allocation,
    Decision,
    FulfilmentOrderRef,
    FulfilmentTaken,
    NewFulfilmentOrder,
    Saga,
)
from oms_orchestration.domain.cancellation import drop_units, units_to_cancel
from oms_orchestration.domain.sourcing import Line, OrderToSource
from oms_orchestration.domain.states import AllocationStatus, FulfilmentStatus, SagaState

_OPEN = (FulfilmentStatus.CREATED, FulfilmentStatus.ACCEPTED)
_ASKED = (AllocationStatus.REQUESTED, AllocationStatus.HELD)


@dataclass
class SagaRow:
    order_id: str
    state: SagaState
    profile_id: str
    attempt: int = 0
    excluded: list[str] = field(default_factory=list)
    backordered: list[Line] = field(default_factory=list)
    backordered_at: int | None = None
    """Its place in the queue of waiting orders."""
    allocated_announced: bool = False
    failed_at: list[str] = field(default_factory=list)

    def saga(self) -> Saga:
        return Saga(
            order_id=self.order_id,
            state=self.state,
            profile_id=self.profile_id,
            attempt=self.attempt,
            excluded=list(self.excluded),
            backordered=list(self.backordered),
            allocated_announced=self.allocated_announced,
            failed_at=list(self.failed_at),
        )


@dataclass
class FulfilmentRow:
    fulfilment_order_id: str
    order_id: str
    location_id: str
    status: FulfilmentStatus
    accept_by: datetime
    reason: str | None = None
    promised_by: datetime | None = None


@dataclass
class FakeSagaStore:
    """Sagas, decisions, allocations (the reservations asked for, by id), fulfilment orders
    and capacity used per (location, day)."""

    sagas: dict[str, SagaRow] = field(default_factory=dict)
    decisions: dict[str, Decision] = field(default_factory=dict)
    allocation_rows: dict[str, Allocation] = field(default_factory=dict)
    fulfilment_orders: dict[str, FulfilmentRow] = field(default_factory=dict)
    capacity: dict[tuple[str, date], int] = field(default_factory=dict)
    queued: int = 0

    def savepoint(self, conn: asyncpg.Connection) -> AbstractAsyncContextManager[Any]:
        return self._savepoint()

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        before = copy.deepcopy(self.__dict__)
        try:
            yield
        except BaseException:
            self.__dict__.update(before)
            raise

    def order_of(self, allocation: Allocation) -> str:
        return self.decisions[allocation.decision_id].order_id

    def of_order(self, order_id: str) -> list[Allocation]:
        """As ``allocations`` orders them: by decision, location and line."""
        return sorted(
            (a for a in self.allocation_rows.values() if self.order_of(a) == order_id),
            key=lambda a: (a.decision_id, a.location_id, a.line_id, a.reservation_id),
        )

    def _set(self, reservation_id: str, **changes: Any) -> Allocation:
        changed = dataclasses.replace(self.allocation_rows[reservation_id], **changes)
        self.allocation_rows[reservation_id] = changed
        return changed

    async def start_sagas(
        self, conn: asyncpg.Connection, profiles: Mapping[str, str]
    ) -> dict[str, Saga]:
        started = {}
        for order_id, profile_id in profiles.items():
            if order_id not in self.sagas:
                self.sagas[order_id] = SagaRow(order_id, SagaState.SOURCING, profile_id)
                started[order_id] = self.sagas[order_id].saga()
        return started

    async def lock_saga(self, conn: asyncpg.Connection, order_id: str) -> Saga | None:
        row = self.sagas.get(order_id)
        return None if row is None else row.saga()

    async def lock_sagas_of(
        self, conn: asyncpg.Connection, reservation_ids: Sequence[str]
    ) -> dict[str, tuple[Saga, str]]:
        known = [self.allocation_rows[r] for r in reservation_ids if r in self.allocation_rows]
        return {
            a.reservation_id: (self.sagas[self.order_of(a)].saga(), a.decision_id)
            for a in sorted(known, key=self.order_of)
        }

    async def set_state(self, conn: asyncpg.Connection, order_id: str, state: SagaState) -> None:
        if order_id in self.sagas:
            self.sagas[order_id].state = state

    async def source_again(self, conn: asyncpg.Connection, order_id: str) -> None:
        if row := self.sagas.get(order_id):
            row.state, row.backordered, row.failed_at = SagaState.SOURCING, [], []

    async def settle_sagas(
        self, conn: asyncpg.Connection, states: Sequence[tuple[str, SagaState, bool]]
    ) -> None:
        for order_id, state, announced in states:
            if row := self.sagas.get(order_id):
                row.state = state
                row.allocated_announced = row.allocated_announced or announced

    async def add_backordered(
        self, conn: asyncpg.Connection, saga: Saga, lines: Sequence[Line]
    ) -> None:
        if not lines:
            return
        row = self.sagas[saga.order_id]
        row.backordered = [*saga.backordered, *lines]
        if row.backordered_at is None:
            self.queued += 1
            row.backordered_at = self.queued

    async def avoid(
        self,
        conn: asyncpg.Connection,
        order_id: str,
        *,
        rejected: Sequence[str] = (),
        failed: Sequence[str] = (),
        state: SagaState | None = None,
    ) -> Saga | None:
        row = self.sagas.get(order_id)
        if row is None:
            return None
        row.excluded = sorted({*row.excluded, *rejected})
        row.failed_at = sorted({*row.failed_at, *failed})
        row.state = state or row.state
        return row.saga()

    async def take_backordered(self, conn: asyncpg.Connection, sku: str, limit: int) -> list[Saga]:
        waiting = [
            row
            for row in self.sagas.values()
            if row.state is not SagaState.CANCELED
            and row.profile_id != NO_PROFILE
            and any(line.sku == sku for line in row.backordered)
        ]
        waiting.sort(key=lambda row: (row.backordered_at is None, row.backordered_at, row.order_id))
        return [row.saga() for row in waiting[:limit]]

    async def drop_backordered(
        self, conn: asyncpg.Connection, saga: Saga, line_id: str, quantity: int
    ) -> tuple[int, Saga]:
        taken, kept = drop_units(saga.backordered, line_id, quantity)
        row = self.sagas[saga.order_id]
        row.backordered = kept
        return taken, row.saga()

    async def record_decisions(
        self, conn: asyncpg.Connection, decisions: Sequence[Decision]
    ) -> set[str]:
        stored = set()
        for d in decisions:
            if d.decision_id in self.decisions:
                continue
            self.decisions[d.decision_id] = d
            for reservation_id, location_id, line in d.requested:
                assert reservation_id not in self.allocation_rows, "a reservation id is its key"
                self.allocation_rows[reservation_id] = Allocation(
                    reservation_id=reservation_id,
                    decision_id=d.decision_id,
                    location_id=location_id,
                    line_id=line.line_id,
                    sku=line.sku,
                    quantity=line.quantity,
                    status=AllocationStatus.REQUESTED,
                    fulfilment_order_id=None,
                )
            if row := self.sagas.get(d.order_id):
                row.attempt = d.attempt
            stored.add(d.decision_id)
        return stored

    async def answer(
        self, conn: asyncpg.Connection, answers: Mapping[str, bool]
    ) -> dict[str, tuple[list[str], list[Allocation]]]:
        answered = set()
        for reservation_id, held in answers.items():
            found = self.allocation_rows.get(reservation_id)
            if found is None or found.status is not AllocationStatus.REQUESTED:
                continue
            self._set(
                reservation_id,
                status=AllocationStatus.HELD if held else AllocationStatus.FAILED,
            )
            answered.add(reservation_id)
        by_order = {}
        for order_id in sorted({self.order_of(self.allocation_rows[r]) for r in answered}):
            rows = self.of_order(order_id)
            decisions = list(
                dict.fromkeys(a.decision_id for a in rows if a.reservation_id in answered)
            )
            by_order[order_id] = (decisions, rows)
        return by_order

    async def lapse(
        self, conn: asyncpg.Connection, reservation_ids: Sequence[str]
    ) -> dict[str, tuple[list[str], list[Allocation]]]:
        lapsed: dict[str, list[str]] = {}
        for reservation_id in reservation_ids:
            found = self.allocation_rows.get(reservation_id)
            if (
                found is None
                or found.status is not AllocationStatus.HELD
                or found.fulfilment_order_id is not None
                or self.sagas[self.order_of(found)].state is SagaState.CANCELED
            ):
                continue
            self._set(reservation_id, status=AllocationStatus.FAILED)
            lapsed.setdefault(self.order_of(found), []).append(reservation_id)
        return {order_id: (ids, self.of_order(order_id)) for order_id, ids in lapsed.items()}

    async def allocations(self, conn: asyncpg.Connection, order_id: str) -> list[Allocation]:
        return self.of_order(order_id)

    async def give_up_line(
        self, conn: asyncpg.Connection, order_id: str, line_id: str, quantity: int
    ) -> list[tuple[Allocation, int]]:
        asked = sorted(
            (a for a in self.of_order(order_id) if a.line_id == line_id and a.status in _ASKED),
            key=lambda a: (a.decision_id, a.reservation_id),
            reverse=True,
        )
        taken = units_to_cancel([(a.reservation_id, a.quantity) for a in asked], quantity)
        before = {a.reservation_id: a for a in asked}
        for reservation_id, units in taken:
            was = before[reservation_id]
            if units == was.quantity:
                self._set(reservation_id, status=AllocationStatus.RELEASED)
            else:
                self._set(reservation_id, quantity=was.quantity - units)
        return [(before[reservation_id], units) for reservation_id, units in taken]

    async def cancel(
        self, conn: asyncpg.Connection, order_id: str
    ) -> tuple[list[str], list[FulfilmentOrderRef]]:
        await self.set_state(conn, order_id, SagaState.CANCELED)
        released = [a.reservation_id for a in self.of_order(order_id) if a.status in _ASKED]
        for reservation_id in released:
            self._set(reservation_id, status=AllocationStatus.RELEASED)
        canceled = []
        for fo in self.fulfilment_orders.values():
            if fo.order_id == order_id and fo.status in _OPEN:
                fo.status = FulfilmentStatus.CANCELED
                canceled.append(FulfilmentOrderRef(fo.fulfilment_order_id, fo.location_id))
        return released, canceled

    async def capacity_used(self, conn: asyncpg.Connection, day: date) -> dict[str, int]:
        return {location: used for (location, d), used in self.capacity.items() if d == day}

    async def create_fulfilment_orders(
        self, conn: asyncpg.Connection, new: Sequence[NewFulfilmentOrder]
    ) -> dict[str, FulfilmentOrderRef]:
        replaced = {}
        for fo in new:
            decision = self.decisions.get(fo.decision_id)
            reroutes = decision.reroutes if decision else None
            if reroutes is not None and reroutes in self.fulfilment_orders:
                was = self.fulfilment_orders[reroutes]
                replaced[fo.fulfilment_order_id] = FulfilmentOrderRef(
                    was.fulfilment_order_id, was.location_id, was.reason, was.promised_by
                )
        for fo in new:
            assert fo.fulfilment_order_id not in self.fulfilment_orders, "its id is its key"
            self.fulfilment_orders[fo.fulfilment_order_id] = FulfilmentRow(
                fo.fulfilment_order_id,
                fo.order_id,
                fo.location_id,
                FulfilmentStatus.CREATED,
                fo.accept_by,
                promised_by=fo.promised_by,
            )
            if fo.fulfilment_order_id in replaced:
                kept = replaced[fo.fulfilment_order_id].promised_by
                self.fulfilment_orders[fo.fulfilment_order_id].promised_by = kept or fo.promised_by
            for reservation_id in fo.reservation_ids:
                if reservation_id in self.allocation_rows:
                    self._set(reservation_id, fulfilment_order_id=fo.fulfilment_order_id)
            key = (fo.location_id, fo.day)
            self.capacity[key] = self.capacity.get(key, 0) + 1
        return replaced

    async def accept_fulfilment(
        self, conn: asyncpg.Connection, fulfilment_order_id: str
    ) -> FulfilmentTaken | None:
        fo = self.fulfilment_orders.get(fulfilment_order_id)
        if fo is None:
            return None
        was = fo.status
        if was is FulfilmentStatus.CREATED:
            fo.status = FulfilmentStatus.ACCEPTED
        return FulfilmentTaken(fo.order_id, fo.location_id, was, fo.reason)

    async def reject_fulfilment(
        self,
        conn: asyncpg.Connection,
        fulfilment_order_id: str,
        line_ids: Sequence[str],
        reason: str,
    ) -> tuple[str, str, list[Allocation]] | None:
        fo = self.fulfilment_orders.get(fulfilment_order_id)
        if fo is None or fo.status not in _OPEN:
            return None
        own = [
            a
            for a in sorted(self.allocation_rows.values(), key=lambda a: a.reservation_id)
            if a.fulfilment_order_id == fulfilment_order_id and a.status is AllocationStatus.HELD
        ]
        given_up = [
            self._set(a.reservation_id, status=AllocationStatus.RELEASED)
            for a in own
            if not line_ids or a.line_id in line_ids
        ]
        if len(given_up) == len(own):
            fo.status, fo.reason = FulfilmentStatus.REJECTED, reason
        return fo.order_id, fo.location_id, given_up

    async def overdue_fulfilment_orders(
        self, conn: asyncpg.Connection, now: datetime, limit: int
    ) -> list[tuple[str, str, str]]:
        due = sorted(
            (
                fo
                for fo in self.fulfilment_orders.values()
                if fo.status is FulfilmentStatus.CREATED and fo.accept_by <= now
            ),
            key=lambda fo: fo.accept_by,
        )
        return [(fo.fulfilment_order_id, fo.order_id, fo.location_id) for fo in due[:limit]]

    async def call_off_empty(
        self, conn: asyncpg.Connection, order_id: str
    ) -> list[FulfilmentOrderRef]:
        held = {
            a.fulfilment_order_id
            for a in self.allocation_rows.values()
            if a.status is AllocationStatus.HELD
        }
        called_off = []
        for fo in self.fulfilment_orders.values():
            if (
                fo.order_id == order_id
                and fo.status in _OPEN
                and fo.fulfilment_order_id not in held
            ):
                fo.status, fo.reason = FulfilmentStatus.CANCELED, "lines canceled"
                called_off.append(FulfilmentOrderRef(fo.fulfilment_order_id, fo.location_id))
        return called_off


@dataclass
class FakeOrderStore:
    """Accepted orders (with their shipping address) and availability as last seen, by
    (location, SKU); what ``availability_of`` answers is never below zero."""

    orders: dict[str, tuple[OrderToSource, Any]] = field(default_factory=dict)
    available: dict[tuple[str, str], int] = field(default_factory=dict)

    def accept(self, order: OrderToSource, address: Any = None) -> None:
        self.orders.setdefault(order.order_id, (order, copy.deepcopy(address)))

    async def load_orders(
        self, conn: asyncpg.Connection, order_ids: Sequence[str]
    ) -> dict[str, tuple[OrderToSource, Any]]:
        return {i: copy.deepcopy(self.orders[i]) for i in order_ids if i in self.orders}

    async def load_order(
        self, conn: asyncpg.Connection, order_id: str
    ) -> tuple[OrderToSource, Any] | None:
        return (await self.load_orders(conn, [order_id])).get(order_id)

    async def availability_of(
        self, conn: asyncpg.Connection, skus: Sequence[str]
    ) -> dict[tuple[str, str], int]:
        return {
            (location, sku): max(units, 0)
            for (location, sku), units in self.available.items()
            if sku in skus
        }


@dataclass
class FakeRecallStore:
    """A rebuild's recalled decisions by (kind, key), stored as the JSON the table keeps."""

    kept: dict[tuple[str, str], Any] = field(default_factory=dict)

    async def keep(
        self, conn: asyncpg.Connection, kind: str, decisions: Sequence[tuple[str, Any]]
    ) -> None:
        for key, decision in decisions:
            self.kept.setdefault((kind, key), copy.deepcopy(decision))

    async def recall(
        self, conn: asyncpg.Connection, kind: str, keys: Sequence[str]
    ) -> dict[str, Any]:
        return {k: copy.deepcopy(self.kept[(kind, k)]) for k in keys if (kind, k) in self.kept}
