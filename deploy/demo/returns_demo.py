"""A return taken over a store's counter: the Berlin staff take back the hoodie collected
there, through the order service's HTTP API, and inspect it back onto the shelf; the
customer is refunded what they paid for it."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

Wait = Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]]


def _post(port: int, path: str, key: str, body: Any, idempotency_key: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {key}",
            "Idempotency-Key": idempotency_key,
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


async def return_at_store(
    orders_db: Any, inventory_db: Any, order_id: str, *, port: int, staff_key: str, wait: Wait
) -> None:
    """Open the return, receive the hoodie, inspect it back into stock: each step one POST
    with the staff's key, published on oms.returns."""
    line = {"line_id": "1", "quantity": 1}
    steps = [
        (f"/v1/orders/{order_id}/returns", {"lines": [{**line, "reason": "size_or_fit"}]}),
        ("/receipt", {"lines": [line]}),
        ("/inspection", {"lines": [{**line, "disposition": "restock"}]}),
    ]
    stock_sql = (
        "SELECT on_hand FROM stock WHERE sku = 'SKU-HOODIE-L' AND location_id = 'store-berlin'"
    )
    before = await inventory_db.fetchval(stock_sql)
    statuses = []
    answer: dict[str, Any] = {}
    for n, (step, body) in enumerate(steps):
        url = step if n == 0 else f"/v1/returns/{answer['return_id']}{step}"
        answer = await asyncio.to_thread(_post, port, url, staff_key, body, f"{order_id}-{n}")
        statuses.append(answer["status"])

    async def restocked() -> bool:
        return bool(await inventory_db.fetchval(stock_sql) == before + 1)

    await wait("the returned hoodie to be back in stock", restocked)
    order = await orders_db.fetchrow(
        "SELECT payment_status FROM orders WHERE order_id = $1", order_id
    )
    print(
        "\n10. the customer brought the collected hoodie back to the Berlin counter; the"
        " staff, with their own API key, opened return"
        f" {answer['return_id']} ({answer['rma_number']}), received and inspected it:"
        f" {' -> '.join(statuses)} (POST /v1/orders/{{id}}/returns, /v1/returns/{{id}}/receipt"
        f" and /inspection, each on oms.returns); refunded"
        f" {answer['refunded_minor'] / 100:.2f} {answer['currency']}, payment"
        f" {order['payment_status']}; on hand in Berlin {before} -> {before + 1}"
    )
