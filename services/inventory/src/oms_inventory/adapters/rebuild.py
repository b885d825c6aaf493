"""What ``oms rebuild inventory`` reproduces: every table the topics make, checked against
the live ones; the catalogue, which no topic carries, copied from the live database. The
expiry sweep's and the day close's decisions are read back from the service's own topic (the
bootstrap adds that subscription)."""

from __future__ import annotations

from oms_runtime import CompareTable, RebuildSpec, SeedTable

__all__ = ["REBUILD"]

_PROCESSED = "when the row was last written: the moment of processing, not of the event"

REBUILD = RebuildSpec(
    tables=(
        CompareTable("stock", {"updated_at": _PROCESSED}),
        CompareTable("reservations", {"created_at": _PROCESSED, "updated_at": _PROCESSED}),
        CompareTable("applied_references", {"applied_at": _PROCESSED}),
        CompareTable("transfers"),
        CompareTable("stock_days_closed"),
        CompareTable(
            "stock_movements",
            {
                "movement_id": "a sequence value: the live worker numbered the movements of "
                "its topics' batches as they ran side by side",
                "recorded_at": _PROCESSED,
            },
        ),
    ),
    seeded=(
        SeedTable("items", "the item catalogue, imported by an operator from a file"),
        SeedTable("locations", "the location catalogue, imported by an operator from a file"),
        SeedTable(
            "stock",
            "per-location stock policies of the catalogue import (safety stock, low-stock "
            "threshold): every stock row starts with the live row's policy, and the time the "
            "live row was created (which days the day close covers it for)",
            ("sku", "location_id", "safety_stock", "low_stock_threshold", "created_at"),
        ),
    ),
    side_effects={
        "outgoing events (StockReserved, AvailabilityChanged, alerts...)": "kept in the "
        "rebuilt outbox, never sent, emptied at the end",
        "reservation expiry sweep": "not run: the holds it expired (ReservationExpired on "
        "oms.inventory) are read back and expired again at their place in time",
        "day close (StockDayClosed)": "not run: the days it closed are read back from "
        "oms.inventory into stock_days_closed",
    },
)
