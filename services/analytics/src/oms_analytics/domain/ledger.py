"""An order's money ledger: what was authorised, captured, voided and refunded.

Each money event is kept once under its own id (a payment's authorisation and void under the
payment id, a capture under its capture id, a refund under its refund id), however often it
is redelivered or replayed, and whatever the order it arrives in. The ledger also knows the
order's channel, placement, grand total and whether it is closed, which the reconciliation
rules need (``domain/reconciliation.py``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from oms_analytics.domain.moments import from_stored, stored

__all__ = ["Closure", "Flow", "FundsLedger", "Movement"]


class Flow(StrEnum):
    AUTHORISED = "authorised"
    CAPTURED = "captured"
    VOIDED = "voided"
    REFUNDED = "refunded"


class Closure(StrEnum):
    """How an order ended: nothing more is to happen to its money but refunds."""

    CANCELED = "canceled"
    COMPLETED = "completed"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Movement:
    flow: Flow
    currency: str
    amount_minor: int
    at: datetime
    running_total_minor: int | None = None
    """The flow's total the event itself stated (``captured_total``, ``refunded_total``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "flow": str(self.flow),
            "currency": self.currency,
            "amount_minor": self.amount_minor,
            "at": self.at.isoformat(),
            "running_total_minor": self.running_total_minor,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Movement:
        running = data["running_total_minor"]
        return cls(
            flow=Flow(data["flow"]),
            currency=str(data["currency"]),
            amount_minor=int(data["amount_minor"]),
            at=datetime.fromisoformat(data["at"]),
            running_total_minor=None if running is None else int(running),
        )


@dataclass
class FundsLedger:
    channel: str | None = None
    placed_at: datetime | None = None
    grand_total: tuple[str, int] | None = None
    """(currency, minor units) of the accepted order."""
    closure: Closure | None = None
    closed_at: datetime | None = None
    movements: dict[str, Movement] = field(default_factory=dict)
    """By ``<flow>/<event's money id>``."""
    counted: set[str] = field(default_factory=set)
    """The movements already added to their channel's day."""
    partition: int | None = None
    """The source partition of the order's events, whose changelog partition holds the
    ledger (None in ledgers stored before it was kept)."""

    def placed(self, channel: str, at: datetime, currency: str, amount_minor: int) -> None:
        if self.placed_at is None:
            self.channel, self.placed_at = channel, at
            self.grand_total = (currency, amount_minor)

    def closed(self, closure: Closure, at: datetime, channel: str | None = None) -> None:
        """The first closure read is kept: an order ends once."""
        self.channel = self.channel or channel
        if self.closure is None:
            self.closure, self.closed_at = closure, at

    def moved(self, money_id: str, movement: Movement) -> bool:
        """Keep ``movement`` unless its id was seen; whether it was new."""
        key = f"{movement.flow}/{money_id}"
        if key in self.movements:
            return False
        self.movements[key] = movement
        return True

    def uncounted(self) -> list[Movement]:
        """The movements not yet added to their channel's day, once the channel is known;
        marked counted."""
        if self.channel is None:
            return []
        due = [key for key in sorted(self.movements) if key not in self.counted]
        self.counted.update(due)
        return [self.movements[key] for key in due]

    def totals(self) -> dict[Flow, dict[str, int]]:
        """Per flow, per currency, the sum in minor units (every flow present, maybe empty)."""
        sums: dict[Flow, dict[str, int]] = {flow: defaultdict(int) for flow in Flow}
        for movement in self.movements.values():
            sums[movement.flow][movement.currency] += movement.amount_minor
        return {flow: dict(sorted(amounts.items())) for flow, amounts in sums.items()}

    @property
    def version(self) -> int:
        """Grows with every fact kept: a stored copy with a higher one is newer."""
        return len(self.movements) + (self.placed_at is not None) + (self.closure is not None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "placed_at": stored(self.placed_at),
            "grand_total": list(self.grand_total) if self.grand_total else None,
            "closure": str(self.closure) if self.closure else None,
            "closed_at": stored(self.closed_at),
            "movements": {key: m.to_dict() for key, m in sorted(self.movements.items())},
            "counted": sorted(self.counted),
            "partition": self.partition,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FundsLedger:
        total = data["grand_total"]
        return cls(
            channel=data["channel"],
            placed_at=from_stored(data["placed_at"]),
            grand_total=(str(total[0]), int(total[1])) if total else None,
            closure=Closure(data["closure"]) if data["closure"] else None,
            closed_at=from_stored(data["closed_at"]),
            movements={k: Movement.from_dict(v) for k, v in data["movements"].items()},
            counted=set(data["counted"]),
            partition=data.get("partition"),
        )
