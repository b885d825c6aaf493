"""What ``oms rebuild shipping`` reproduces: the work, its parcels, labels, carrier scans,
refusals and the tracking number counters, checked against the live tables. The staff
API publishes every action it applies to ``oms.staff-actions`` and the carrier webhook its
updates to ``oms.carrier-tracking``, so both topics hold every input. What the live service
drew (tracking numbers, pickup codes) is read back from its own topic before the inputs
apply, and the pickups its sweep expired at their place in time (the bootstrap adds those
subscriptions). The catalogue, the refused webhook requests and the return labels (issued or
refused over HTTP), which no topic carries, are copied from the live database, and the
tracking number counters with them."""

from __future__ import annotations

from oms_runtime import CompareTable, RebuildSpec, SeedTable
from oms_shipping.adapters.recalled import TABLE as RECALLED

__all__ = ["REBUILD"]

_PROCESSED = "when the row was written: the moment of processing, not of the event"
_TAKEN = (
    "an identity value numbering rows as they were written: topics' batches side by side "
    "and rolled-back attempts leave other gaps and interleavings live than in a rebuild"
)

REBUILD = RebuildSpec(
    tables=(
        CompareTable("fulfilment_orders", {"created_at": _PROCESSED, "updated_at": _PROCESSED}),
        CompareTable("parcels"),
        CompareTable("labels", {"created_at": _PROCESSED}),
        CompareTable("tracking_number_counters"),
        CompareTable("tracking_updates", {"taken": _TAKEN, "received_at": _PROCESSED}),
        CompareTable("refused_actions", {"taken": _TAKEN, "refused_at": _PROCESSED}),
    ),
    seeded=(
        SeedTable("items", "items' sizes and weights, imported by an operator from a file"),
        SeedTable(
            "staff_api_actions",
            "the ids of the actions the staff API took: the live consumer skips those, so "
            "they carry on after a swap",
        ),
        SeedTable(
            "refused_carrier_requests",
            "carrier webhook requests refused over HTTP (unsigned, stale, unreadable): "
            "nothing of them was published, only their digest is kept",
        ),
        SeedTable(
            "tracking_number_counters",
            "each carrier's serials drawn, return labels' included, which are drawn over "
            "HTTP and on no topic; the rebuild only moves them up to the numbers it recalls, "
            "so it stays compared: a number drawn anew in the rebuild shows",
        ),
        SeedTable(
            "labels",
            "return labels, issued over HTTP and published nowhere (after the inputs: they "
            "refer to the rebuilt work)",
            where="kind = 'return'",
            after_inputs=True,
        ),
        SeedTable(
            "refused_actions",
            "return-label requests refused over HTTP, published nowhere",
            columns=(
                "event_id",
                "fulfilment_order_id",
                "order_id",
                "location_id",
                "action",
                "reason",
                "detail",
                "refused_at",
            ),
            where="action = 'return_label'",
            after_inputs=True,
        ),
    ),
    scratch=(RECALLED,),
    side_effects={
        "labels": "rendered into the rebuilt database only (the service sends labels to no "
        "printer or carrier); each parcel gets the tracking number it got live, read back "
        "from ReadyToShip on oms.shipments, and the counters move past them",
        "pickup codes": "not drawn again: each is read back from ReadyForPickup on oms.shipments",
        "uncollected-pickup sweep": "not run: the pickups it expired (PickupExpired on "
        "oms.shipments) are read back and expired again at their place in time",
        "outgoing events (Packed, ReadyToShip, ShipmentShipped...)": "kept in the rebuilt "
        "outbox, never sent, emptied at the end",
    },
)
