"""What a rebuild takes from the live service instead of deciding it again: each decision's
plan (``SourcingDecided``) and each fulfilment order's acceptance deadline
(``FulfilmentOrderCreated``), read back from ``oms.sourcing`` before the inputs apply.

A plan depends on what the service saw when it decided (the availability last heard of, which
comes on its own topic, and each location's capacity used that day by the clock), and a
deadline on the clock: neither comes again the same from the inputs. Outside a rebuild
nothing here is used.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from oms_events.sourcing import FulfilmentOrderCreated, SourcingDecided
from oms_orchestration.service_layer.stores import RecallStore
from oms_runtime import Received, UnitOfWork

__all__ = ["RecalledDecisions"]

_PLAN = "plan"
_ACCEPT_BY = "accept_by"


@dataclass(frozen=True)
class RecalledDecisions:
    store: RecallStore

    async def decided(self, work: UnitOfWork, run: Sequence[Received[SourcingDecided]]) -> None:
        """Each decision as it was announced, by its id."""
        await self.store.keep(
            work.conn,
            _PLAN,
            [(r.payload.decision_id, r.payload.model_dump(mode="json")) for r in run],
        )

    async def released(
        self, work: UnitOfWork, run: Sequence[Received[FulfilmentOrderCreated]]
    ) -> None:
        """Each fulfilment order's deadline, by its id."""
        await self.store.keep(
            work.conn,
            _ACCEPT_BY,
            [(r.payload.fulfilment_order_id, r.payload.accept_by.isoformat()) for r in run],
        )

    async def decisions(
        self, work: UnitOfWork, decision_ids: Collection[str]
    ) -> dict[str, SourcingDecided]:
        found = await self.store.recall(work.conn, _PLAN, sorted(decision_ids))
        return {key: SourcingDecided.model_validate(doc) for key, doc in found.items()}

    async def deadlines(
        self, work: UnitOfWork, fulfilment_order_ids: Collection[str]
    ) -> dict[str, datetime]:
        found = await self.store.recall(work.conn, _ACCEPT_BY, sorted(fulfilment_order_ids))
        return {key: datetime.fromisoformat(value) for key, value in found.items()}
