"""A customer's e-mails through an order's life, from confirmed to delivered, with the order,
inventory, orchestration, shipping and notification services running as OS processes on the
real broker and database and a real SMTP server receiving what they send."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from oms_events.values import LineQuantity
from oms_order.domain.identity import order_id_for
from tests.support.inventory import HAMBURG, TSHIRT, import_catalogue, send
from tests.support.orchestration import SOURCING, stock_received_and_seen, write_sourcing
from tests.support.orders import CHANNEL, encoded, order_submitted
from tests.support.shipping import (
    fulfilment_order,
    label_tracking_number,
    now,
    scan,
    send_scans,
    send_staff,
    work_through,
)
from tests.support.smtp import SmtpServer, html_of, text_of
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration


async def test_a_customer_is_told_each_step_from_confirmed_to_delivered_once_in_german(
    env: Env, smtp: SmtpServer, tmp_path: Path
) -> None:
    await import_catalogue(env, tmp_path)
    services = [
        await env.service("order"),
        await env.service("inventory"),
        await env.service("orchestration", OMS_SOURCING_CONFIG=write_sourcing(tmp_path, SOURCING)),
        await env.service("shipping"),
        await env.service("notification", **smtp.env()),
    ]
    for service in services:
        await service.wait_ready()
    await stock_received_and_seen(env, TSHIRT, HAMBURG, 10)

    # A German customer's order (address in Cologne, no stated preference), and one whose
    # card is declined.
    declined = order_submitted("MAIL-2", lines=[(TSHIRT, 1)])
    declined = declined.model_copy(
        update={"payment": declined.payment.model_copy(update={"card_token": "tok_decline"})}
    )
    await send(
        env,
        "oms.channel-order-intake",
        [
            (f"{CHANNEL}:MAIL-1", encoded(order_submitted("MAIL-1", lines=[(TSHIRT, 2)]))),
            (f"{CHANNEL}:MAIL-2", encoded(declined)),
        ],
    )
    order_id = order_id_for(CHANNEL, "MAIL-1")
    fo = await fulfilment_order(env, order_id, "CREATED")

    async def told(subject: str) -> bool:
        return subject in smtp.sink.subjects()

    # The customer hears the order is being prepared before the staff pick it (minutes, not
    # the milliseconds of a test: an order already shipped is not said to be in preparation).
    await wait_for(lambda: told("Wir bereiten Ihre Bestellung MAIL-1 vor"), timeout=60)
    start = now() - timedelta(minutes=30)
    await send_staff(
        env, *work_through(fo, (LineQuantity(line_id="1", sku=TSHIRT, quantity=2),), start)
    )
    await fulfilment_order(env, order_id, "SHIPPED")
    tracking = await label_tracking_number(env, fo["fulfilment_order_id"])
    await send_scans(
        env,
        scan(tracking, "PU", start + timedelta(minutes=10)),
        scan(tracking, "OD", start + timedelta(minutes=20)),
    )
    await wait_for(lambda: told("Ihre Bestellung MAIL-1 kommt heute"), timeout=60)
    await send_scans(env, scan(tracking, "DL", start + timedelta(minutes=25)))

    await wait_for(lambda: told("Ihre Bestellung MAIL-1 wurde zugestellt"), timeout=90)
    assert sorted(smtp.sink.subjects()) == sorted(
        [
            "Die Zahlung für Ihre Bestellung MAIL-2 ist fehlgeschlagen",
            "Ihre Bestellung MAIL-1 ist bestätigt",
            "Wir bereiten Ihre Bestellung MAIL-1 vor",
            "Ihre Bestellung MAIL-1 ist unterwegs",
            "Ihre Bestellung MAIL-1 kommt heute",
            "Ihre Bestellung MAIL-1 wurde zugestellt",
        ]
    )
    mine = [m for m in smtp.sink.received() if "MAIL-1" in str(m["Subject"])]
    assert [str(m["Subject"]) for m in mine] == [
        "Ihre Bestellung MAIL-1 ist bestätigt",
        "Wir bereiten Ihre Bestellung MAIL-1 vor",
        "Ihre Bestellung MAIL-1 ist unterwegs",
        "Ihre Bestellung MAIL-1 kommt heute",
        "Ihre Bestellung MAIL-1 wurde zugestellt",
    ]
    assert {m["To"] for m in mine} == {"erika@example.com"}
    confirmed, _, shipped, today, delivered = (text_of(m) for m in mine)
    # 2 x 25.00 + 19 % VAT, plus 4.95 shipping, in German money and dates.
    assert f"- 2 x {TSHIRT}  59,50\u00a0€" in confirmed
    assert "Gesamtbetrag: 64,45\u00a0€" in confirmed
    assert "vom 24. November 2026" in confirmed
    assert f"Sendungsnummer: {tracking}" in shipped
    assert f"piececode={tracking}" in shipped
    assert (
        f'<a href="https://www.dhl.de/de/privatkunden/dhl-sendungsverfolgung.html?piececode={tracking}">'
        in html_of(mine[2])
    )
    assert f"DHL stellt Ihr Paket {tracking} der Bestellung MAIL-1 heute zu." in today
    assert f"DHL hat Ihr Paket {tracking} der Bestellung MAIL-1" in delivered
    assert len(smtp.sink.received()) == 6
