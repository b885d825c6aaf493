"""What ``oms rebuild order`` reproduces: every order, its lines, timeline, shipments and
returns, and the channels' early cancellations, checked against the live tables.

Every input is on a topic: the channels' orders and cancellations, the commands (the order
API publishes each order it takes to the intake topic and each command it takes to
``oms.order-commands``, under the request's id: the live consumer skips those, a rebuild
applies them), sourcing's progress and the shipments. What the payment provider answered is
read back from ``oms.payments`` before the inputs apply (the bootstrap adds that
subscription), and an order the API could not read is kept again from its ``OrderRejected``
at its place in time. Moments the live service took from its clock are, in a rebuild, the
applied event's time: for what the API took, the request's own moment."""

from __future__ import annotations

from oms_runtime import RECALLED_TABLE, CompareTable, RebuildSpec, SeedTable

__all__ = ["REBUILD"]

_PROCESSED = "when the row was written: the moment of processing, not of the event"
_SANDBOX = (
    "the sandbox payment provider's own books (a real provider keeps them at its end): a "
    "rebuild asks the provider nothing, so they are kept as they are"
)

REBUILD = RebuildSpec(
    tables=(
        CompareTable(
            "orders",
            {
                "created_at": _PROCESSED,
                "updated_at": _PROCESSED,
                "status_since": _PROCESSED + " (the status's change, set by a trigger)",
            },
        ),
        CompareTable("order_lines"),
        CompareTable("order_timeline", {"at": _PROCESSED}),
        CompareTable("pending_cancellations"),
        CompareTable("order_shipments"),
        CompareTable("order_returns", {"updated_at": _PROCESSED}),
    ),
    seeded=(
        SeedTable(
            "http_idempotency",
            "the order API's answers by Idempotency-Key: a retried request after a swap gets "
            "its first answer again",
        ),
        SeedTable("sandbox_payment_calls", _SANDBOX),
        SeedTable("sandbox_authorizations", _SANDBOX),
        SeedTable("sandbox_captures", _SANDBOX),
        SeedTable("sandbox_refunds", _SANDBOX),
        SeedTable(
            "order_stuck_reports",
            "the stuck-order sweep's reports, made by the clock (after the inputs: they "
            "refer to the rebuilt orders)",
            after_inputs=True,
        ),
    ),
    scratch=(RECALLED_TABLE,),
    side_effects={
        "payment provider": "never called: each authorisation's answer and each capture's id "
        "are read back from oms.payments (PaymentAuthorized, PaymentFailed, PaymentCaptured); "
        "voids and refunds, which change nothing the service keeps but through its own "
        "figures, are answered without a call",
        "stuck-order sweep": "not run: its reports are copied from the live database",
        "outgoing events (OrderAccepted, PaymentAuthorized, OrderConfirmed...)": "kept in the "
        "rebuilt outbox, never sent, emptied at the end",
    },
)
