"""What the shipping use cases need from storage: ports the PostgreSQL adapter modules
satisfy (``bootstrap.py`` passes them) and the unit tests' fakes stand in for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from oms_shipping.adapters.fulfilment_orders import NewFulfilmentOrder, Refusal
from oms_shipping.adapters.labels import LabelRow, ReturnSource
from oms_shipping.adapters.parcels import KeptScan, ParcelRow
from oms_shipping.domain.catalogue import ItemSpec
from oms_shipping.domain.fulfilment import FulfilmentOrder, Shipment

__all__ = ["DecisionStore", "FulfilmentOrderStore", "ItemStore", "LabelStore", "ParcelStore"]


class FulfilmentOrderStore(Protocol):
    async def save_created(
        self, conn: asyncpg.Connection, new: Sequence[NewFulfilmentOrder]
    ) -> int:
        """Keep released work once; how many were new."""
        ...

    async def lock(
        self, conn: asyncpg.Connection, fulfilment_order_id: str
    ) -> FulfilmentOrder | None: ...

    async def find(
        self, conn: asyncpg.Connection, fulfilment_order_id: str
    ) -> FulfilmentOrder | None:
        """To read, not to change."""
        ...

    async def accepted(
        self, conn: asyncpg.Connection, location_id: str, limit: int
    ) -> list[FulfilmentOrder]:
        """The location's ACCEPTED work, oldest ``accept_by`` first."""
        ...

    async def save(self, conn: asyncpg.Connection, fo: FulfilmentOrder, at: datetime) -> None: ...

    async def keep_refusal(self, conn: asyncpg.Connection, refusal: Refusal) -> None:
        """Once per action id."""
        ...

    async def taken_over_api(self, conn: asyncpg.Connection, action_id: UUID) -> None:
        """The staff API took the action ``action_id`` (and publishes it under that id)."""
        ...

    async def api_actions(self, conn: asyncpg.Connection, action_ids: Sequence[UUID]) -> set[UUID]:
        """Of ``action_ids``, those the staff API took."""
        ...

    async def expire_pickups(
        self,
        conn: asyncpg.Connection,
        now: datetime,
        limit: int,
        only: Sequence[str] | None = None,
    ) -> list[FulfilmentOrder]:
        """Up to ``limit`` pickups past their hold (of ``only``, when given), now
        UNCOLLECTED."""
        ...


class ParcelStore(Protocol):
    async def tracking_numbers_in_use(
        self, conn: asyncpg.Connection, carrier: str, tracking_numbers: Sequence[str]
    ) -> list[str]: ...

    async def add_parcels(
        self,
        conn: asyncpg.Connection,
        *,
        shipment: Shipment,
        fulfilment_order_id: str,
        order_id: str,
    ) -> None: ...

    async def lock_parcels(
        self, conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], ParcelRow]: ...

    async def save_parcels(
        self, conn: asyncpg.Connection, parcels: Sequence[ParcelRow]
    ) -> None: ...

    async def keep_scans(self, conn: asyncpg.Connection, scans: Sequence[KeptScan]) -> None: ...

    async def complete_deliveries(
        self, conn: asyncpg.Connection, shipment_ids: Sequence[str]
    ) -> list[str]:
        """Of these shipments, those whose every parcel is delivered (not to a pickup store);
        their work becomes DELIVERED once its every parcel left and is delivered."""
        ...


class ItemStore(Protocol):
    async def specs(self, conn: asyncpg.Connection, skus: Sequence[str]) -> dict[str, ItemSpec]:
        """The catalogue's sizes and weights of those of ``skus`` it knows."""
        ...


class LabelStore(Protocol):
    async def draw_serials(
        self, conn: asyncpg.Connection, counts: Mapping[str, int]
    ) -> dict[str, int]:
        """``counts[carrier]`` serials per carrier, never drawn before: each run's first."""
        ...

    async def advance_serials(self, conn: asyncpg.Connection, serials: Mapping[str, int]) -> None:
        """Each carrier's counter at least at its serial here: never drawn again."""
        ...

    async def save_labels(self, conn: asyncpg.Connection, labels: Sequence[LabelRow]) -> None:
        """A parcel keeps its first label of a kind."""
        ...

    async def void_labels(self, conn: asyncpg.Connection, fulfilment_order_id: str) -> None:
        """The work's outbound labels no longer count (its packing was undone)."""
        ...

    async def label_document(
        self, conn: asyncpg.Connection, fulfilment_order_id: str, parcel_id: str, kind: str
    ) -> tuple[bytes, str, str] | None: ...

    async def return_source(
        self, conn: asyncpg.Connection, fulfilment_order_id: str, parcel_id: str
    ) -> ReturnSource | None: ...

    async def keep_refusal(self, conn: asyncpg.Connection, refusal: Refusal) -> None:
        """A label request refused, kept with the staff actions refused."""
        ...


class DecisionStore(Protocol):
    async def keep_decisions(
        self, conn: asyncpg.Connection, kind: str, decisions: Sequence[tuple[UUID, Any]]
    ) -> None:
        """Decisions of one kind, each by the action that drew it; the first stays."""
        ...

    async def recall(self, conn: asyncpg.Connection, cause: UUID, kind: str) -> Any | None: ...
