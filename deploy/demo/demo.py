"""The main job: start the services on the local stack, place orders, show them move.

Run by ``make demo`` after the stack is up. It starts the order and notification workers as
their own processes, has a channel submit orders (one in the old v1 intake format and one
unreadable record among them) and prints what each service did with them.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from oms_events.codec import encode, new_event
from oms_events.orders import Customer, OrderSubmitted, OrderSubmittedV1, PaymentInfo, PaymentMethod
from oms_events.values import Address, Money, OrderLine, OrderTotals

REPO = Path(__file__).resolve().parents[2]
SERVICES = {"order": 8001, "notification": 8005}
CHANNELS = ("web-de", "marketplace-fr", "pos-berlin")


def stack_env() -> dict[str, str]:
    out = subprocess.run(
        [str(REPO / "deploy" / "local" / "stack"), "env"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    env: dict[str, str] = {}
    for line in out.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        if value:
            env[name.strip()] = shlex.split(value)[0]
    return env


def eur(amount: int) -> Money:
    return Money(amount_minor=amount, currency="EUR")


def order_fields(channel: str, external_id: str, sku: str, price: int, qty: int) -> dict[str, Any]:
    subtotal, shipping = price * qty, 495
    tax = subtotal * 19 // 100
    address = Address(
        name="Erika Mustermann",
        line1="Heidestrasse 17",
        city="Koeln",
        postal_code="51147",
        country="DE",
    )
    total = subtotal + tax + shipping
    return {
        "channel": channel,
        "external_order_id": external_id,
        "placed_at": datetime.now(UTC),
        "billing_address": address,
        "shipping_address": address,
        "currency": "EUR",
        "lines": (
            OrderLine(
                line_id="1",
                sku=sku,
                quantity=qty,
                unit_price=eur(price),
                tax=eur(tax),
                discount=eur(0),
                line_total=eur(subtotal + tax),
            ),
        ),
        "totals": OrderTotals(
            subtotal=eur(subtotal),
            discount_total=eur(0),
            tax_total=eur(tax),
            shipping_total=eur(shipping),
            grand_total=eur(total),
        ),
        "payment": PaymentInfo(
            method=PaymentMethod.CARD,
            provider="sandbox",
            card_token="tok_approve",
            amount=eur(total),
        ),
    }


def intake_records(run: str) -> list[tuple[str, bytes]]:
    records: list[tuple[str, bytes]] = []
    for n, (channel, sku, price, qty) in enumerate(
        [(CHANNELS[0], "SKU-TSHIRT-M", 2500, 2), (CHANNELS[1], "SKU-JEANS-32", 7990, 1)]
    ):
        payload = OrderSubmitted(
            customer=Customer(customer_id=f"cus-{n}", email="customer@example.com"),
            **order_fields(channel, f"{run}-{n}", sku, price, qty),
        )
        records.append((f"{channel}:{run}-{n}", encode(envelope(payload))))
    old = OrderSubmittedV1(
        customer_email="customer@example.com",
        **order_fields(CHANNELS[2], f"{run}-v1", "SKU-CAP", 1500, 1),
    )
    records.append((f"{CHANNELS[2]}:{run}-v1", encode(envelope(old))))
    records.append((f"{CHANNELS[0]}:{run}-bad", b'{"this is": "not an order"'))
    return records


def envelope(payload: Any) -> Any:
    subject = f"{payload.channel}:{payload.external_order_id}"
    return new_event(
        payload,
        subject=subject,
        source=f"channel/{payload.channel}",
        correlation_id=str(uuid.uuid4()),
    )


def health(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return dict(json.load(response))
    except (OSError, ValueError):
        return None


async def wait(what: str, probe: Any, within: float = 90.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await probe()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise SystemExit(f"demo: timed out waiting for {what}")


def start_workers(env: dict[str, str], logs: Path) -> list[subprocess.Popen[bytes]]:
    """Each service as its own process, as in production, on the stack's own databases."""
    workers = []
    for name, port in SERVICES.items():
        worker_env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": env["KAFKA_BOOTSTRAP_SERVERS"],
            "OMS_DATABASE_URL": env[f"OMS_{name.upper()}_DATABASE_URL"],
            "OMS_HTTP_PORT": str(port),
        }
        with (logs / f"{name}.log").open("ab") as log:
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", f"oms_{name}", "worker", "--loglevel", "info"],
                    env=worker_env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        print(f"started {name} service on http://127.0.0.1:{port} (log: {logs / name}.log)")
    return workers


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)


async def publish(bootstrap: str, records: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait("oms.channel-order-intake", value, key=key.encode())
    finally:
        await producer.stop()


async def show(env: dict[str, str]) -> None:
    for name, port in SERVICES.items():

        async def ready(port: int = port) -> bool:
            report = health(port)
            return bool(report and report["status"] == "ok" and report["assigned_partitions"])

        await wait(f"{name} to be ready", ready)
    print("services ready: database up, partitions assigned\n")

    run = datetime.now(UTC).strftime("%H%M%S")
    records = intake_records(run)
    await publish(env["KAFKA_BOOTSTRAP_SERVERS"], records)
    print(
        f"a channel published {len(records)} records to oms.channel-order-intake "
        "(2 orders, 1 order in the old v1 format, 1 unreadable record)\n"
    )
    bad_key = f"{CHANNELS[0]}:{run}-bad".encode()
    orders_db = await asyncpg.connect(env["OMS_ORDER_DATABASE_URL"])
    notify_db = await asyncpg.connect(env["OMS_NOTIFICATION_DATABASE_URL"])
    try:
        externals = [f"{run}-0", f"{run}-1", f"{run}-v1"]

        async def settled() -> list[Any]:
            rows = await orders_db.fetch(
                "SELECT order_id, channel, external_order_id, status FROM orders"
                " WHERE external_order_id = ANY($1) ORDER BY external_order_id",
                externals,
            )
            dead = await orders_db.fetchval(
                "SELECT count(*) FROM oms_dead_letters WHERE key = $1", bad_key
            )
            sent = await notify_db.fetchval(
                "SELECT count(*) FROM notifications WHERE order_id = ANY($1)",
                [r["order_id"] for r in rows],
            )
            return rows if len(rows) == 3 and dead == 1 and sent == 3 else []

        rows = await wait("the orders to settle", settled)
        print(f"{'channel':<16}{'external id':<16}{'order id':<38}{'status':<10}timeline")
        for r in rows:
            timeline = await orders_db.fetch(
                "SELECT event_type FROM order_timeline WHERE order_id = $1 ORDER BY sequence",
                r["order_id"],
            )
            print(
                f"{r['channel']:<16}{r['external_order_id']:<16}{r['order_id']:<38}"
                f"{r['status']:<10}{' -> '.join(t['event_type'] for t in timeline)}"
            )
        print()
        for n in await notify_db.fetch(
            "SELECT order_id, template, channel, status FROM notifications"
            " WHERE order_id = ANY($1) ORDER BY order_id",
            [r["order_id"] for r in rows],
        ):
            print(
                f"notification service: {n['template']} by {n['channel']} for "
                f"{n['order_id']}: {n['status']}"
            )
        dead = await orders_db.fetchrow(
            'SELECT reason, detail, topic, partition, "offset" FROM oms_dead_letters'
            " WHERE key = $1",
            bad_key,
        )
        print(
            f"\ndead-lettered to {dead['topic']}.dlq: {dead['reason']} "
            f"(partition {dead['partition']}, offset {dead['offset']}): {dead['detail'][:90]}"
        )
    finally:
        await orders_db.close()
        await notify_db.close()
    print(
        "\nevery change above went through a service's outbox and the topics in the README;"
        "\nthe services are still independent processes with their own databases."
    )


def main() -> int:
    env = stack_env()
    logs = Path(os.environ.get("OMS_STACK_DIR", REPO / ".stack")) / "demo-logs"
    logs.mkdir(parents=True, exist_ok=True)
    workers = start_workers(env, logs)
    try:
        asyncio.run(show(env))
    finally:
        stop_workers(workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
