"""What ``oms rebuild orchestration`` reproduces: each order's saga, its decisions, the
reservations they asked for, the fulfilment orders and each location's daily capacity used,
checked against the live tables.

Every input is on a topic (orders, inventory's answers and availability, the locations'
answers). What the live service decided by what it saw at that moment, and by the clock, is
read back from its own topic before the inputs apply: each decision's plan (availability
arrives on a topic of its own, so a plan depends on which records came first) and each
fulfilment order's deadline, from which its capacity day follows. The fulfilment orders its
deadline sweep moved on are moved on again at their place in time (the bootstrap adds those
subscriptions)."""

from __future__ import annotations

from oms_runtime import RECALLED_TABLE, CompareTable, RebuildSpec

__all__ = ["REBUILD"]

_PROCESSED = "when the row was written: the moment of processing, not of the event"

REBUILD = RebuildSpec(
    tables=(
        CompareTable("orders", {"accepted_at": _PROCESSED}),
        CompareTable("availability"),
        CompareTable(
            "sagas",
            {
                "updated_at": _PROCESSED,
                "backordered_at": _PROCESSED + " (waiting orders keep their order by it)",
            },
        ),
        CompareTable("decisions", {"decided_at": _PROCESSED}),
        CompareTable("allocations"),
        CompareTable("fulfilment_orders", {"created_at": _PROCESSED}),
        CompareTable("capacity_used"),
    ),
    scratch=(RECALLED_TABLE,),
    side_effects={
        "sourcing decisions": "each decision announced live (SourcingDecided on oms.sourcing) "
        "is taken again as it was instead of sourcing anew; a decision that differs in the "
        "units it places, or one never announced (a retry that placed nothing), is sourced "
        "anew from the rebuilt availability",
        "acceptance deadlines": "each fulfilment order gets the deadline it got live "
        "(FulfilmentOrderCreated), and its location's capacity counts it on that day",
        "deadline sweep": "not run: the fulfilment orders it moved on (FulfilmentOrderCanceled "
        "'not accepted in time', caused by no event) are moved on again at their place in time",
        "outgoing events (SourcingDecided, ReserveStock, FulfilmentOrderCreated...)": "kept in "
        "the rebuilt outbox, never sent, emptied at the end",
    },
)
