"""What a rebuild takes from the live service instead of drawing it again: each label's
tracking number and each pickup code, read back from ``oms.shipments`` before the inputs
apply (``ReadyToShip``, ``ReadyForPickup``) and looked up by the staff action that drew them.

Tracking numbers come from each carrier's counter in the order packings committed live
(partitions side by side, instances, the staff API beside the topic): no topic keeps that
order, so drawing again could give two parcels each other's numbers. Pickup codes are drawn at
random. Outside a rebuild nothing here is used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog

from oms_events.envelope import Envelope
from oms_events.fulfilment import ReadyForPickup, ReadyToShip
from oms_runtime import Received, UnitOfWork
from oms_shipping.service_layer.stores import DecisionStore

__all__ = ["LABELS", "PICKUP_CODE", "RecalledDecisions", "cause_of"]

_log = structlog.get_logger(__name__)

LABELS = "labels"
PICKUP_CODE = "pickup_code"


def cause_of(envelope: Envelope) -> UUID | None:
    """The staff action an event of ours was published for (its causation id)."""
    try:
        return UUID(envelope.causationid) if envelope.causationid else None
    except ValueError:
        return None


@dataclass(frozen=True)
class RecalledDecisions:
    store: DecisionStore

    async def labels_issued(self, work: UnitOfWork, run: Sequence[Received[ReadyToShip]]) -> None:
        """Each packing's parcels with the carrier and number their labels got."""
        await self._keep(
            work,
            LABELS,
            [
                (
                    r.envelope,
                    {p.parcel_id: [p.carrier, p.tracking_number] for p in r.payload.parcels},
                )
                for r in run
            ],
        )

    async def codes_drawn(self, work: UnitOfWork, run: Sequence[Received[ReadyForPickup]]) -> None:
        """Each set-aside's pickup code."""
        await self._keep(work, PICKUP_CODE, [(r.envelope, r.payload.pickup_code) for r in run])

    async def _keep(
        self, work: UnitOfWork, kind: str, decisions: Sequence[tuple[Envelope, Any]]
    ) -> None:
        caused = [(cause_of(envelope), decision) for envelope, decision in decisions]
        uncaused = sum(1 for cause, _ in caused if cause is None)
        if uncaused:
            _log.warning("recalled_decision_without_cause", kind=kind, events=uncaused)
        await self.store.keep_decisions(
            work.conn, kind, [(cause, d) for cause, d in caused if cause is not None]
        )

    async def labels(self, work: UnitOfWork, action_id: UUID) -> Mapping[str, tuple[str, str]]:
        """The live labels of the packing ``action_id``: carrier and number by parcel."""
        found = await self.store.recall(work.conn, action_id, LABELS) or {}
        return {parcel: (carrier, number) for parcel, (carrier, number) in found.items()}

    async def pickup_code(self, work: UnitOfWork, action_id: UUID) -> str | None:
        code = await self.store.recall(work.conn, action_id, PICKUP_CODE)
        return str(code) if code is not None else None
