"""The main job: start the services on the local stack, place orders, show them move.

Run by ``make demo`` after the stack is up. Every run starts from a clean state: it drops and
creates again its databases (demo_<service>, owned by the services' roles) and works on topics
and consumer groups of its own (prefix ``omsdemo<run>.``), deleting those of earlier runs.
It starts the order, inventory, orchestration, shipping, notification and analytics workers as
their own processes,
imports the catalogue and feeds stock, has channels submit orders (one in the old v1 intake
format and one unreadable record among them), and prints what each service did with them:
statuses and timelines, sourcing decisions with their explanations, reservations, a backorder
filled by a receipt, and notifications. The TV order is then worked by its location's staff
(accept, pick, pack, hand over on oms.staff-actions) and scanned by DHL, which pushes its
scans to the shipping service's signed tracking webhook, until it is DELIVERED and COMPLETED,
its stock committed and its payment captured; a click & collect order is set aside at the
Berlin store with a pickup code and collected with it, and a ship-to-store order travels from
Hamburg to the store, is scanned in there and collected; the Berlin staff take the collected
hoodie back over the counter (a return, inspected back onto the shelf and refunded, through
the order service's HTTP API, returns_demo.py); then the stock table, the e-mails the
customers received, read from a local SMTP server the demo runs for the notification service
(mail_demo.py), the analytics service's KPIs per channel and hour and the money it has
reconciled so far (analytics_demo.py); and, once the workers stopped, the order and the
analytics services' state rebuilt from their topics and compared with the live state (``oms
rebuild order``, ``oms rebuild analytics``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from analytics_demo import print_kpis, print_reconciliation
from mail_demo import MailSink, print_mailbox, state_preferences
from returns_demo import return_at_store
from shipping_demo import CarrierWebhook, collect_at_store, ship_split, ship_to_store
from stock_demo import prepare_stock, print_decisions, show_stock

from oms_events.codec import encode, new_event
from oms_events.orders import (
    CancelOrder,
    Customer,
    OrderSubmitted,
    OrderSubmittedV1,
    PaymentInfo,
    PaymentMethod,
    ReleaseOrder,
)
from oms_events.values import (
    Actor,
    ActorRole,
    Address,
    DeliveryMethod,
    Money,
    OrderLine,
    OrderTotals,
)
from oms_ops.local import free_ports, stack_env, worker_env
from oms_order.domain.identity import order_id_for

REPO = Path(__file__).resolve().parents[2]
CHANNELS = ("web-de", "marketplace-fr", "pos-berlin")
RUN = datetime.now(UTC).strftime("%y%m%d%H%M%S")
# The demo's topics and consumer groups carry this mark, its databases are demo_<service>.
MARK = "omsdemo"
TOPIC_PREFIX = f"{MARK}{RUN}."
GROUP_SUFFIX = f"-{MARK}{RUN}"


# DHL signs its tracking webhook with this (a demo value, made up per run).
DHL_SECRET = secrets.token_urlsafe(24)
SERVICES = free_ports(
    {
        "order": 8001,
        "inventory": 8002,
        "orchestration": 8003,
        "shipping": 8004,
        "notification": 8005,
        "analytics": 8006,
    }
)


def with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


async def start_clean(env: dict[str, str]) -> dict[str, str]:
    """Drop earlier runs' databases and topics, make this run's: the environment to use."""
    admin = await asyncpg.connect(env["OMS_PG_ADMIN_DSN"])
    try:
        for name in SERVICES:
            database = f"demo_{name}"
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{database}" OWNER "oms_{name}"')
            await admin.execute(f'REVOKE ALL ON DATABASE "{database}" FROM PUBLIC')
    finally:
        await admin.close()
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    kafka = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await kafka.start()
    try:
        earlier = [t for t in await kafka.list_topics() if MARK in t]
        if earlier:
            await kafka.delete_topics(earlier)
    finally:
        await kafka.close()
    # The command the stack creates its topics with, for this run's prefix.
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "oms_ops", "topics", "apply"],
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "OMS_TOPIC_PREFIX": TOPIC_PREFIX},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return env | {
        f"OMS_{name.upper()}_DATABASE_URL": with_database(
            env[f"OMS_{name.upper()}_DATABASE_URL"], f"demo_{name}"
        )
        for name in SERVICES
    }


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
    """What channels send in a few seconds of trading, good and bad."""

    def submitted(channel: str, suffix: str, sku: str, price: int, qty: int, **change: Any) -> Any:
        fields = order_fields(channel, f"{run}-{suffix}", sku, price, qty)
        if "card_token" in change:
            fields["payment"] = fields["payment"].model_copy(
                update={"card_token": change["card_token"]}
            )
        if "grand_total" in change:
            totals = fields["totals"]
            fields["totals"] = totals.model_copy(update={"grand_total": eur(change["grand_total"])})
        return OrderSubmitted(
            customer=Customer(customer_id=f"cus-{suffix}", email="customer@example.com"), **fields
        )

    payloads = [
        submitted(CHANNELS[0], "tshirt", "SKU-TSHIRT-M", 2500, 2),
        submitted(CHANNELS[1], "declined", "SKU-JEANS-32", 7990, 1, card_token="tok_decline"),
        submitted(CHANNELS[0], "tv", "SKU-TV-55", 119900, 1),
        submitted(CHANNELS[0], "badtotal", "SKU-SOCKS", 900, 3, grand_total=1),
        OrderSubmittedV1(
            customer_email="customer@example.com",
            **order_fields(CHANNELS[2], f"{run}-v1", "SKU-CAP", 1500, 1),
        ),
    ]
    records = [(f"{p.channel}:{p.external_order_id}", encode(envelope(p))) for p in payloads]
    records.append((f"{CHANNELS[0]}:{run}-bad", b'{"this is": "not an order"'))
    return records


def pickup_order(
    external_id: str,
    sku: str = "SKU-HOODIE-L",
    method: DeliveryMethod = DeliveryMethod.CLICK_AND_COLLECT,
) -> tuple[str, str, bytes]:
    """A web order to be collected at the Berlin store: its id, key and record."""
    fields = order_fields(CHANNELS[0], external_id, sku, 4990, 1)
    order = OrderSubmitted(
        customer=Customer(customer_id="cus-pickup", email="customer@example.com"),
        **{**fields, "shipping_address": None},
        delivery_method=method,
        pickup_store_id="store-berlin",
    )
    key = f"{order.channel}:{order.external_order_id}"
    return order_id_for(order.channel, order.external_order_id), key, encode(envelope(order))


def split_order(external_id: str) -> tuple[str, str, bytes]:
    """A web order of a T-shirt (Hamburg has them) and jeans (only Munich has them): its id,
    key and record."""
    shirt = order_fields(CHANNELS[0], external_id, "SKU-TSHIRT-M", 2500, 1)
    jeans = order_fields(CHANNELS[0], external_id, "SKU-JEANS-32", 7990, 1)
    first, second = shirt["totals"], jeans["totals"]

    def both(name: str) -> Money:
        return eur(getattr(first, name).amount_minor + getattr(second, name).amount_minor)

    totals = OrderTotals(
        subtotal=both("subtotal"),
        discount_total=eur(0),
        tax_total=both("tax_total"),
        shipping_total=first.shipping_total,
        grand_total=eur(both("grand_total").amount_minor - first.shipping_total.amount_minor),
    )
    order = OrderSubmitted(
        customer=Customer(customer_id="cus-split", email="customer@example.com"),
        **{
            **shirt,
            "lines": (shirt["lines"][0], jeans["lines"][0].model_copy(update={"line_id": "2"})),
            "totals": totals,
            "payment": shirt["payment"].model_copy(update={"amount": totals.grand_total}),
        },
    )
    key = f"{order.channel}:{order.external_order_id}"
    return order_id_for(order.channel, order.external_order_id), key, encode(envelope(order))


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


# A key made for this run: the order service is told only its SHA-256 digest.
SHOP_API_KEY = secrets.token_urlsafe(24)
STAFF_API_KEY = secrets.token_urlsafe(24)  # the Berlin store's counter: takes returns in


def start_workers(env: dict[str, str], logs: Path, mail: MailSink) -> list[subprocess.Popen[bytes]]:
    """Each service as its own process, as in production, on this run's databases and topics."""
    workers = []
    digest = hashlib.sha256(SHOP_API_KEY.encode()).hexdigest()
    for name, port in SERVICES.items():
        worker = worker_env(
            name,
            repo=REPO,
            bootstrap=env["KAFKA_BOOTSTRAP_SERVERS"],
            database_url=env[f"OMS_{name.upper()}_DATABASE_URL"],
            port=port,
            topic_prefix=TOPIC_PREFIX,
            group_suffix=GROUP_SUFFIX,
            api_key_digest=digest,
            channel=CHANNELS[0],
        )
        worker.update(mail.env() if name == "notification" else {})
        worker["OMS_CARRIER_WEBHOOK_SECRETS"] = json.dumps({"dhl": DHL_SECRET})
        worker["OMS_SHIPPING_API_KEYS"] = json.dumps(
            {digest: {"role": "operator", "actor_id": "demo"}}
        )
        if name == "order":
            keys = json.loads(worker["OMS_ORDER_API_KEYS"])
            keys[hashlib.sha256(STAFF_API_KEY.encode()).hexdigest()] = {
                "role": "staff",
                "actor_id": "berlin-counter-1",
                "location_id": "store-berlin",
            }
            worker["OMS_ORDER_API_KEYS"] = json.dumps(keys)
        with (logs / f"{name}.log").open("wb") as log:
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", f"oms_{name}", "worker"],
                    env=worker,
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


async def publish(bootstrap: str, topic: str, records: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(TOPIC_PREFIX + topic, value, key=key.encode())
    finally:
        await producer.stop()


def post_order(payload: Any, idempotency_key: str) -> tuple[int, dict[str, Any]]:
    """What a web shop does: POST the order with its API key and an idempotency key."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{SERVICES['order']}/v1/orders",
        data=payload.model_dump_json().encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {SHOP_API_KEY}",
            "Idempotency-Key": idempotency_key,
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(json.load(response))


def command(payload: Any, order_id: str) -> tuple[str, bytes]:
    envelope = new_event(payload, subject=order_id, source="cs/desk", correlation_id=order_id)
    return order_id, encode(envelope)


RESTING = ("REJECTED", "RELEASED", "BACKORDERED", "CANCELED")


def at_rest(row: Any) -> bool:
    """Nothing more will happen to the order without someone acting."""
    return row["status"] in RESTING or row["on_hold"] or row["payment_status"] == "FAILED"


ORDERS_SQL = (
    "SELECT order_id, channel, external_order_id, status, payment_status, on_hold, hold_reason,"
    " rejection_reasons FROM orders WHERE external_order_id = ANY($1)"
    " ORDER BY array_position($1, external_order_id)"
)


async def print_orders(orders_db: Any, notify_db: Any, externals: list[str]) -> None:
    rows = await orders_db.fetch(ORDERS_SQL, externals)
    print(f"{'channel':<16}{'external id':<25}{'status':<21}{'payment':<20}timeline")
    for r in rows:
        timeline = await orders_db.fetch(
            "SELECT event_type FROM order_timeline WHERE order_id = $1 ORDER BY sequence",
            r["order_id"],
        )
        status = r["status"] + (" (on hold)" if r["on_hold"] else "")
        print(
            f"{r['channel']:<16}{r['external_order_id']:<25}{status:<21}{r['payment_status']:<20}"
            f"{' -> '.join(t['event_type'] for t in timeline)}"
        )
        if r["rejection_reasons"]:
            for reason in json.loads(r["rejection_reasons"]):
                print(
                    f"{'':<16}  rejected: {reason['code']} ({reason['field']}): {reason['message']}"
                )
        if r["on_hold"]:
            print(f"{'':<16}  held: {r['hold_reason']}")
    notes = await notify_db.fetch(
        "SELECT order_id, template, status FROM notifications WHERE order_id = ANY($1)"
        " ORDER BY created_at",
        [r["order_id"] for r in rows],
    )
    by_order: dict[str, list[str]] = {}
    for n in notes:
        by_order.setdefault(n["order_id"], []).append(f"{n['template']} ({n['status']})")
    print("\ncustomer e-mails by the notification service (what each told):")
    for r in rows:
        print(f"  {r['external_order_id']:<25}{', '.join(by_order.get(r['order_id'], [])) or '-'}")


async def show(env: dict[str, str], mail: MailSink) -> None:
    for name, port in SERVICES.items():

        async def ready(port: int = port) -> bool:
            report = health(port)
            return bool(report and report["status"] == "ok" and report["assigned_partitions"])

        await wait(f"{name} to be ready", ready)
    print("services ready: database up, partitions assigned\n")

    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    # The orders' numbers need not differ between runs: every run starts on empty databases.
    run = "A1001"
    popup = await prepare_stock(env, run, publish=publish, wait=wait)
    records = intake_records(run)
    await publish(bootstrap, "oms.channel-order-intake", records)
    print(
        f"2. channels published {len(records)} records to oms.channel-order-intake: orders from"
        " three channels (one in the old v1 format), a declined card, an order over the risk"
        " threshold, one with a wrong total, and one unreadable record"
    )
    web_order = OrderSubmitted(
        customer=Customer(customer_id="cus-web", email="customer@example.com"),
        **order_fields(CHANNELS[0], f"{run}-http", "SKU-HOODIE-L", 4990, 1),
    )
    # The web customer reads French: their e-mails come in French whatever the address says.
    stated = await asyncio.to_thread(
        state_preferences, SERVICES["notification"], SHOP_API_KEY, "cus-web", {"locale": "fr"}
    )
    first = await asyncio.to_thread(post_order, web_order, f"checkout-{run}")
    again = await asyncio.to_thread(post_order, web_order, f"checkout-{run}")
    print(
        f"   and the web shop POSTed an order to /v1/orders with its API key: {first[0]}"
        f" {first[1]['status']}; its retry with the same Idempotency-Key got the same answer"
        f" ({again[0]} {again[1]['status']}, order {again[1]['order_id']}); its customer"
        f" asked for French e-mails (PUT /v1/customers/cus-web/preferences: {stated})\n"
    )
    externals = [f"{run}-{s}" for s in ("tshirt", "declined", "tv", "badtotal", "v1", "http")]
    ids = {
        s: order_id_for(c, f"{run}-{s}") for s, c in (("tshirt", CHANNELS[0]), ("tv", CHANNELS[0]))
    }
    bad_key = f"{CHANNELS[0]}:{run}-bad".encode()
    orders_db = await asyncpg.connect(env["OMS_ORDER_DATABASE_URL"])
    notify_db = await asyncpg.connect(env["OMS_NOTIFICATION_DATABASE_URL"])
    try:

        async def settled() -> bool:
            rows = await orders_db.fetch(ORDERS_SQL, externals)
            dead = await orders_db.fetchval(
                "SELECT count(*) FROM oms_dead_letters WHERE key = $1", bad_key
            )
            done = [r for r in rows if at_rest(r)]
            return len(done) == len(externals) and dead == 1

        await wait("the orders to settle", settled)
        await print_orders(orders_db, notify_db, externals)
        dead = await orders_db.fetchrow(
            'SELECT reason, detail, topic, partition, "offset" FROM oms_dead_letters'
            " WHERE key = $1",
            bad_key,
        )
        topic = dead["topic"].removeprefix(TOPIC_PREFIX)
        print(
            f"\nthe unreadable record went to {topic}.dlq ({dead['reason']}, partition"
            f" {dead['partition']}, offset {dead['offset']}): {dead['detail'][:80]}"
        )

        agent = Actor(actor_id="cs-desk-1", role=ActorRole.CUSTOMER_SERVICE)
        await publish(
            bootstrap,
            "oms.order-commands",
            [
                command(
                    ReleaseOrder(order_id=ids["tv"], note="customer verified", requested_by=agent),
                    ids["tv"],
                ),
                command(
                    CancelOrder(
                        order_id=ids["tshirt"], reason="customer asked", requested_by=agent
                    ),
                    ids["tshirt"],
                ),
            ],
        )
        await print_decisions(env, [*ids.values(), order_id_for(CHANNELS[2], f"{run}-v1")])
        print(
            "\n3. customer service released the held order and canceled the T-shirt order"
            " on oms.order-commands\n"
        )

        async def commands_applied() -> bool:
            rows = await orders_db.fetch(
                "SELECT status, payment_status FROM orders WHERE order_id = ANY($1)",
                list(ids.values()),
            )
            return sorted((r["status"], r["payment_status"]) for r in rows) == [
                ("CANCELED", "VOIDED"),
                ("RELEASED", "AUTHORIZED"),
            ]

        await wait("the commands to apply", commands_applied)
        await print_orders(orders_db, notify_db, externals)
        await show_stock(
            env,
            orders_db,
            run,
            popup,
            tv_order=ids["tv"],
            backordered=order_id_for(CHANNELS[2], f"{run}-v1"),
            publish=publish,
            wait=wait,
            port=SERVICES["inventory"],
            api_key=SHOP_API_KEY,
            carrier=CarrierWebhook(f"http://127.0.0.1:{SERVICES['shipping']}", DHL_SECRET),
        )
        await collect_at_store(
            env, orders_db, pickup_order(f"{run}-pickup"), publish=publish, wait=wait
        )
        # T-shirts are in Hamburg only: it ships them to the store.
        to_store = pickup_order(f"{run}-sts", "SKU-TSHIRT-M", DeliveryMethod.SHIP_TO_STORE)
        await ship_to_store(env, orders_db, to_store, publish=publish, wait=wait)
        await ship_split(env, orders_db, split_order(f"{run}-split"), publish=publish, wait=wait)
        inventory_db = await asyncpg.connect(env["OMS_INVENTORY_DATABASE_URL"])
        try:
            await return_at_store(
                orders_db,
                inventory_db,
                order_id_for(CHANNELS[0], f"{run}-pickup"),
                port=SERVICES["order"],
                staff_key=STAFF_API_KEY,
                wait=wait,
            )
        finally:
            await inventory_db.close()
        externals += [f"{run}-pickup", f"{run}-sts", f"{run}-split"]
        await print_orders(orders_db, notify_db, externals)
        await print_mailbox(mail, notify_db, wait)
        await print_kpis(orders_db, SERVICES["analytics"], wait)
        print_reconciliation(SERVICES["analytics"])
        print(
            f"\nanalytics dashboard: http://127.0.0.1:{SERVICES['analytics']}/dashboard"
            " (live charts while the services run; `make run` keeps them up)"
        )
    finally:
        await orders_db.close()
        await notify_db.close()
    print(
        "\nevery change above is an event on oms.orders, oms.payments, oms.returns,"
        "\noms.inventory, oms.availability or oms.shipments, written through each service's"
        "\noutbox; the notification service reacted to them on its own."
    )


REBUILT = {
    "order": "the order service's state made again from its topics by its own handlers, no"
    " payment taken, nothing published",
    "analytics": "every event counted again by the analytics worker's own counting, no alert"
    " sent, no changelog written; its faust table compared with the live changelog",
}


def show_rebuild(env: dict[str, str], service: str) -> None:
    """What an operator can do once the workers stopped: the service's state made again from
    its topics, side effects off, into a database of its own, and compared with the live state
    (`oms rebuild SERVICE`, docs/operations.md)."""
    environ = {
        **os.environ,
        **env,
        "OMS_TOPIC_PREFIX": TOPIC_PREFIX,
        "OMS_GROUP_SUFFIX": GROUP_SUFFIX,
        "OMS_SERVICES": service,
        f"OMS_{service.upper()}_URL": f"http://127.0.0.1:{SERVICES[service]}",
        "OMS_OPERATOR": "demo",
    }
    command = [sys.executable, "-m", "oms_ops", "rebuild", service, "--json"]
    deadline = time.monotonic() + 60
    while True:  # exit 3 while the stopped workers' group still has members
        done = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=300)
        if done.returncode != 3 or time.monotonic() > deadline:
            break
        time.sleep(1)
    print(f"\n`oms rebuild {service}` (the workers stopped):")
    print(textwrap.fill(f"{REBUILT[service]}, into demo_{service}_rebuild:", 90))
    try:
        report = json.loads(done.stdout)
    except ValueError:
        print(f"  exit {done.returncode}: {done.stderr.strip()[-500:]}")
        return
    print(f"  {report['events']} events applied, in {report['seconds']} s")
    for table in report["tables"]:
        verdict = "matches" if table["match"] else "DIFFERS"
        print(f"  {table['table']:<30}{table['rows_rebuilt']:>6} rows  {verdict} the live state")


def main() -> int:
    env = asyncio.run(start_clean(stack_env(REPO)))
    logs = Path(os.environ.get("OMS_STACK_DIR", REPO / ".stack")) / "demo-logs"
    logs.mkdir(parents=True, exist_ok=True)
    mail = MailSink().start()
    workers = start_workers(env, logs, mail)
    try:
        asyncio.run(show(env, mail))
    finally:
        stop_workers(workers)
        mail.stop()
    for service in REBUILT:
        show_rebuild(env, service)
    return 0


if __name__ == "__main__":
    sys.exit(main())
