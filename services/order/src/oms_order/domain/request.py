"""An order as a channel asks for it: what validation, risk and the new aggregate read.

The contract's ``OrderSubmitted`` is translated into this at the edge (the service layer), so
the rules never depend on the wire format: a new contract version changes the translation,
not the domain. The parts are the contract's value objects, immutable and already checked
for types and ISO codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from oms_events.orders import Customer, PaymentInfo
from oms_events.values import Address, DeliveryMethod, OrderLine, OrderTotals

__all__ = ["OrderRequest"]


@dataclass(frozen=True, slots=True)
class OrderRequest:
    placed_at: datetime
    customer: Customer
    billing_address: Address
    shipping_address: Address | None
    pickup_store_id: str | None
    delivery_method: DeliveryMethod
    currency: str
    lines: Sequence[OrderLine]
    totals: OrderTotals
    payment: PaymentInfo
    promised_by: datetime | None = None
    """The delivery date the channel promised the customer, if it did."""
