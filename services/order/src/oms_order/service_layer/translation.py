"""From the contract to the domain: the service layer is where wire types stop."""

from __future__ import annotations

from oms_events.orders import OrderSubmitted
from oms_order.domain.request import OrderRequest

__all__ = ["request_of"]


def request_of(submitted: OrderSubmitted) -> OrderRequest:
    return OrderRequest(
        placed_at=submitted.placed_at,
        customer=submitted.customer,
        billing_address=submitted.billing_address,
        shipping_address=submitted.shipping_address,
        pickup_store_id=submitted.pickup_store_id,
        delivery_method=submitted.delivery_method,
        currency=submitted.currency,
        lines=submitted.lines,
        totals=submitted.totals,
        payment=submitted.payment,
        promised_by=submitted.promised_by,
    )
