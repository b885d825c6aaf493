"""What the shipping use cases need from storage: ports the PostgreSQL adapter modules
satisfy (``bootstrap.py`` passes them) and the unit tests' fakes stand in for."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import asyncpg

from oms_shipping.adapters.fulfilment_orders import NewFulfilmentOrder, Refusal
from oms_shipping.adapters.parcels import KeptScan, ParcelRow
from oms_shipping.domain.fulfilment import FulfilmentOrder

__all__ = ["FulfilmentOrderStore", "ParcelStore"]


class FulfilmentOrderStore(Protocol):
    async def save_created(
        self, conn: asyncpg.Connection, new: Sequence[NewFulfilmentOrder]
    ) -> int:
        """Keep released work once; how many were new."""
        ...

    async def lock(
        self, conn: asyncpg.Connection, fulfilment_order_id: str
    ) -> FulfilmentOrder | None: ...

    async def save(self, conn: asyncpg.Connection, fo: FulfilmentOrder, at: datetime) -> None: ...

    async def keep_refusal(self, conn: asyncpg.Connection, refusal: Refusal) -> None:
        """Once per action id."""
        ...

    async def expire_pickups(
        self, conn: asyncpg.Connection, now: datetime, limit: int
    ) -> list[FulfilmentOrder]:
        """Up to ``limit`` pickups past their hold, now UNCOLLECTED."""
        ...


class ParcelStore(Protocol):
    async def tracking_numbers_in_use(
        self, conn: asyncpg.Connection, carrier: str, tracking_numbers: Sequence[str]
    ) -> list[str]: ...

    async def add_parcels(
        self,
        conn: asyncpg.Connection,
        *,
        carrier: str,
        tracking_numbers: Sequence[str],
        fulfilment_order_id: str,
        order_id: str,
        handed_over_at: datetime,
    ) -> None: ...

    async def lock_parcels(
        self, conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], ParcelRow]: ...

    async def save_parcels(
        self, conn: asyncpg.Connection, parcels: Sequence[ParcelRow]
    ) -> None: ...

    async def keep_scans(self, conn: asyncpg.Connection, scans: Sequence[KeptScan]) -> None: ...

    async def complete_deliveries(
        self, conn: asyncpg.Connection, fulfilment_order_ids: Sequence[str]
    ) -> list[str]:
        """Of these, the shipped ones whose every parcel is delivered become DELIVERED."""
        ...
