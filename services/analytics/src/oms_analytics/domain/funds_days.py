"""The funds figures of one channel on one day (UTC): what was authorised, captured, voided
and refunded per currency, by each money event's own time, and which orders placed that day
have money that does not add up."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from oms_analytics.domain.ledger import Flow, Movement

__all__ = ["DayFunds"]


@dataclass
class DayFunds:
    amounts: dict[Flow, dict[str, int]] = field(default_factory=lambda: {flow: {} for flow in Flow})
    exceptional_orders: set[str] = field(default_factory=set)
    version: int = 0
    """Grows with every change: a stored copy with a higher one is newer."""

    def add(self, movement: Movement) -> None:
        amounts = self.amounts[movement.flow]
        amounts[movement.currency] = amounts.get(movement.currency, 0) + movement.amount_minor
        self.version += 1

    def flag(self, order_id: str, exceptional: bool) -> bool:
        """Count ``order_id`` among the day's orders with exceptions or not; whether that
        changed anything."""
        if exceptional == (order_id in self.exceptional_orders):
            return False
        if exceptional:
            self.exceptional_orders.add(order_id)
        else:
            self.exceptional_orders.discard(order_id)
        self.version += 1
        return True

    @classmethod
    def total(cls, parts: Iterable[DayFunds]) -> DayFunds:
        whole = cls()
        for part in parts:
            for flow, amounts in part.amounts.items():
                for currency, amount in amounts.items():
                    whole.amounts[flow][currency] = whole.amounts[flow].get(currency, 0) + amount
            whole.exceptional_orders |= part.exceptional_orders
            whole.version += part.version
        return whole

    def currencies(self) -> list[str]:
        return sorted({c for amounts in self.amounts.values() for c in amounts})

    def summary(self) -> dict[str, Any]:
        return {
            **{f"{flow}_minor": dict(sorted(self.amounts[flow].items())) for flow in Flow},
            "orders_with_exceptions": len(self.exceptional_orders),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "amounts": {str(flow): dict(amounts) for flow, amounts in self.amounts.items()},
            "exceptional_orders": sorted(self.exceptional_orders),
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DayFunds:
        return cls(
            amounts={
                Flow(flow): {str(c): int(a) for c, a in amounts.items()}
                for flow, amounts in data["amounts"].items()
            },
            exceptional_orders=set(data["exceptional_orders"]),
            version=int(data["version"]),
        )
