"""What the saga needs from storage, as ports.

The PostgreSQL modules satisfy them as they are: ``oms_orchestration.adapters.sagas`` the
saga store, ``oms_orchestration.adapters.orders`` the order store,
the runtime's ``RecalledDecisionStore`` a rebuild's recall store; unit tests pass in-memory
fakes. Every method takes the unit of work's connection first, so one transaction spans
everything a step does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import Any, Protocol

import asyncpg

from oms_orchestration.adapters.sagas import (
    Allocation,
    Decision,
    FulfilmentOrderRef,
    FulfilmentTaken,
    NewFulfilmentOrder,
    Saga,
)
from oms_orchestration.domain.sourcing import Line, OrderToSource
from oms_orchestration.domain.states import SagaState

__all__ = ["OrderStore", "RecallStore", "SagaStore"]


class SagaStore(Protocol):
    """Each order's saga and what hangs off it: its decisions, the reservations they asked
    for (allocations), the fulfilment orders made of those held, and each location's daily
    capacity used by them."""

    def savepoint(self, conn: asyncpg.Connection) -> AbstractAsyncContextManager[Any]:
        """What fails inside is undone; the rest of the transaction stays."""
        ...

    async def start_sagas(
        self, conn: asyncpg.Connection, profiles: Mapping[str, str]
    ) -> dict[str, Saga]:
        """The sagas started now (order id -> profile id given); one already running is
        missing from the answer."""
        ...

    async def lock_saga(self, conn: asyncpg.Connection, order_id: str) -> Saga | None: ...

    async def lock_sagas_of(
        self, conn: asyncpg.Connection, reservation_ids: Sequence[str]
    ) -> dict[str, tuple[Saga, str]]:
        """By reservation id, its saga and decision; unknown reservations are missing."""
        ...

    async def set_state(
        self, conn: asyncpg.Connection, order_id: str, state: SagaState
    ) -> None: ...

    async def source_again(self, conn: asyncpg.Connection, order_id: str) -> None:
        """Back to sourcing with nothing backordered and no failed location avoided."""
        ...

    async def settle_sagas(
        self, conn: asyncpg.Connection, states: Sequence[tuple[str, SagaState, bool]]
    ) -> None:
        """(order id, state, allocation announced now); announced once stays announced."""
        ...

    async def add_backordered(
        self, conn: asyncpg.Connection, saga: Saga, lines: Sequence[Line]
    ) -> None:
        """``saga``'s backordered lines and ``lines``; its place in the queue is kept."""
        ...

    async def avoid(
        self,
        conn: asyncpg.Connection,
        order_id: str,
        *,
        rejected: Sequence[str] = (),
        failed: Sequence[str] = (),
        state: SagaState | None = None,
    ) -> Saga | None: ...

    async def take_backordered(self, conn: asyncpg.Connection, sku: str, limit: int) -> list[Saga]:
        """Sagas waiting for ``sku`` (not canceled, with a profile), oldest first, locked."""
        ...

    async def drop_backordered(
        self, conn: asyncpg.Connection, saga: Saga, line_id: str, quantity: int
    ) -> tuple[int, Saga]: ...

    async def record_decisions(
        self, conn: asyncpg.Connection, decisions: Sequence[Decision]
    ) -> set[str]:
        """The ids of the decisions stored now, with their reservations asked for and their
        sagas' attempts; a decision stored before changes nothing."""
        ...

    async def answer(
        self, conn: asyncpg.Connection, answers: Mapping[str, bool]
    ) -> dict[str, tuple[list[str], list[Allocation]]]:
        """Answers (reservation id -> held) to reservations still asked for: by order, the
        decisions answered now and all its allocations as they are now; answers found
        answered already change nothing."""
        ...

    async def lapse(
        self, conn: asyncpg.Connection, reservation_ids: Sequence[str]
    ) -> dict[str, tuple[list[str], list[Allocation]]]:
        """Unreleased holds of orders not canceled that inventory let expire no longer hold:
        by order, the reservations lapsed now and all its allocations as they are now."""
        ...

    async def allocations(self, conn: asyncpg.Connection, order_id: str) -> list[Allocation]: ...

    async def give_up_line(
        self, conn: asyncpg.Connection, order_id: str, line_id: str, quantity: int
    ) -> list[tuple[Allocation, int]]:
        """Each reservation (as it was) units of the canceled line are taken from, and how
        many: whole ones released, a partial one keeping the rest."""
        ...

    async def cancel(
        self, conn: asyncpg.Connection, order_id: str
    ) -> tuple[list[str], list[FulfilmentOrderRef]]:
        """The saga canceled: the reservations to give back, the fulfilment orders to call
        off."""
        ...

    async def capacity_used(self, conn: asyncpg.Connection, day: date) -> dict[str, int]: ...

    async def create_fulfilment_orders(
        self, conn: asyncpg.Connection, new: Sequence[NewFulfilmentOrder]
    ) -> dict[str, FulfilmentOrderRef]:
        """By new id, the fulfilment order its decision replaces (for a reroute)."""
        ...

    async def accept_fulfilment(
        self, conn: asyncpg.Connection, fulfilment_order_id: str
    ) -> FulfilmentTaken | None: ...

    async def reject_fulfilment(
        self,
        conn: asyncpg.Connection,
        fulfilment_order_id: str,
        line_ids: Sequence[str],
        reason: str,
    ) -> tuple[str, str, list[Allocation]] | None: ...

    async def overdue_fulfilment_orders(
        self, conn: asyncpg.Connection, now: datetime, limit: int
    ) -> list[tuple[str, str, str]]: ...

    async def call_off_empty(
        self, conn: asyncpg.Connection, order_id: str
    ) -> list[FulfilmentOrderRef]: ...


class OrderStore(Protocol):
    """The accepted orders sourcing needs and the availability last seen of each SKU."""

    async def load_orders(
        self, conn: asyncpg.Connection, order_ids: Sequence[str]
    ) -> dict[str, tuple[OrderToSource, Any]]:
        """Each order and its shipping address (as stored); orders never accepted are
        missing."""
        ...

    async def load_order(
        self, conn: asyncpg.Connection, order_id: str
    ) -> tuple[OrderToSource, Any] | None: ...

    async def availability_of(
        self, conn: asyncpg.Connection, skus: Sequence[str]
    ) -> dict[tuple[str, str], int]:
        """By (location, SKU), the units available (never below zero)."""
        ...


class RecallStore(Protocol):
    """What a rebuild read back of the live service's decisions, by kind and key."""

    async def keep(
        self, conn: asyncpg.Connection, kind: str, decisions: Sequence[tuple[str, Any]]
    ) -> None: ...

    async def recall(
        self, conn: asyncpg.Connection, kind: str, keys: Sequence[str]
    ) -> dict[str, Any]: ...
