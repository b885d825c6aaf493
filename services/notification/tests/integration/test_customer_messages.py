"""The notification service as its own OS process on the real broker and database, sending
to a real SMTP server: the events arrive as the order, orchestration and shipping services
publish them."""

from __future__ import annotations

import json
import threading
from typing import Any

import aiohttp
import pytest

from oms_events.codec import encode
from oms_events.registry import EventPayload
from oms_events.topics import topic_for_event
from oms_notification.domain.messages import mask_email
from oms_runtime import key_digest
from services.notification.tests import events as ev
from tests.support.inventory import events_of, send
from tests.support.processes import ServiceProcess
from tests.support.smtp import SmtpServer, text_of
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

OPERATOR_KEY = "ops-key-for-tests-0123456789"


async def publish(env: Env, order_id: str, *payloads: EventPayload) -> None:
    """Each event on its topic, keyed by order, in order (one topic after the other)."""
    for payload in payloads:
        record = encode(ev.envelope(payload, order_id))
        await send(env, topic_for_event(payload.event_type).name, [(order_id, record)])


async def notification(env: Env, smtp: SmtpServer, **extra: str) -> ServiceProcess:
    service = await env.service(
        "notification",
        **smtp.env(),
        OMS_NOTIFICATION_API_KEYS=json.dumps(
            {key_digest(OPERATOR_KEY): {"role": "operator", "actor_id": "ops-1"}}
        ),
        **extra,
    )
    await service.wait_ready()
    return service


async def statuses(env: Env, order_id: str) -> dict[str, str]:
    rows = await env.fetch(
        "notification",
        "SELECT template, status FROM notifications WHERE order_id = $1",
        order_id,
    )
    return {r["template"]: r["status"] for r in rows}


async def test_customers_get_each_change_once_in_their_language_and_never_again_on_replay(
    env: Env, smtp: SmtpServer
) -> None:
    service = await notification(env, smtp)
    # An opted-out customer, and one who wants French whatever their address says.
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {OPERATOR_KEY}"}) as http:
        for customer, body in (
            ("cus-out", {"opted_out_channels": ["email"]}),
            ("cus-fr", {"locale": "fr", "marketing_opt_out": True}),
        ):
            url = f"{service.url}/v1/customers/{customer}/preferences"
            async with http.put(url, json=body) as response:
                assert response.status == 200, await response.text()
        async with http.put(url, json={"locale": "it"}) as refused:
            assert refused.status == 422
            assert (await refused.json())["code"] == "invalid_request"
        async with http.get(f"{service.url}/v1/customers/cus-nobody/preferences") as missing:
            assert missing.status == 404

    await publish(
        env,
        "ord-de",
        ev.accepted("ord-de"),
        ev.address_changed("ord-de", "Domkloster 4"),
        ev.confirmed("ord-de"),
        ev.lines_canceled("ord-de"),
        ev.fulfilment_created("ord-de"),
    )
    await publish(env, "ord-out", ev.accepted("ord-out", customer_id="cus-out"))
    await publish(env, "ord-out", ev.confirmed("ord-out"))
    await publish(env, "ord-fr", ev.accepted("ord-fr", customer_id="cus-fr"), ev.canceled("ord-fr"))

    async def all_told() -> list[str] | None:
        subjects = sorted(smtp.sink.subjects())
        return subjects if len(subjects) >= 4 else None

    assert await wait_for(all_told, timeout=60, what="four messages at the SMTP server") == sorted(
        [
            "Ihre Bestellung ORD-DE ist bestätigt",
            "Artikel Ihrer Bestellung ORD-DE wurden storniert",
            "Wir bereiten Ihre Bestellung ORD-DE vor",
            "Votre commande ORD-FR a été annulée",
        ]
    )
    [confirmation] = [m for m in smtp.sink.received() if "bestätigt" in str(m["Subject"])]
    assert "Domkloster 4" in text_of(confirmation)  # the address as changed
    [partial] = [m for m in smtp.sink.received() if "storniert" in str(m["Subject"])]
    body = text_of(partial)
    assert "- 1 x T-Shirt <Bio> & Fair" in body and "- 1 x Tasse" in body
    assert "11,90\u00a0€" in body
    assert partial["To"] == ev.EMAIL
    assert partial["Message-ID"].endswith("@oms.example.com>")

    # The opted-out customer's confirmation was decided, not sent.
    assert await wait_for(lambda: statuses(env, "ord-out")) == {"order_confirmed": "suppressed"}
    sent = await wait_for(
        lambda: events_of(env, "oms.notifications", 4, "NotificationSent"), timeout=30
    )
    assert {e.payload.recipient for e in sent} == {mask_email(ev.EMAIL)}

    # Replay every topic from offset 0 into a worker whose inbox forgot everything: the
    # messages' own keys keep each change told once.
    service.stop()
    await env.fetch("notification", "TRUNCATE oms_inbox")
    replay = await notification(env, smtp, OMS_GROUP_SUFFIX=f"-{env.run}-replay")

    async def replayed() -> bool:
        return (await replay.health() or {}).get("processed_events", 0) >= 9

    await wait_for(replayed, timeout=60, what="the nine events replayed")
    # A new change after the replayed ones: once it is told, a second copy would have been too.
    await publish(env, "ord-late", ev.accepted("ord-late"), ev.confirmed("ord-late"))

    async def late_told() -> bool:
        return "Ihre Bestellung ORD-LATE ist bestätigt" in smtp.sink.subjects()

    await wait_for(late_told, timeout=60, what="the message after the replayed ones")
    assert len(smtp.sink.received()) == 5


@pytest.mark.parametrize("when", ["before_the_servers_reply", "after_send"])
async def test_a_message_the_server_took_as_the_service_died_is_never_sent_twice(
    env: Env, smtp: SmtpServer, when: str
) -> None:
    lease = {"OMS_SMTP_TIMEOUT_S": "1", "OMS_SENDING_LEASE_S": "2"}
    if when == "after_send":
        # The server answered 250; the service dies before it records the outcome.
        service = await notification(env, smtp, **lease, OMS_FAULT_KILL_AT="after_send:1")
    else:
        service = await notification(env, smtp, **lease)
        killed = threading.Event()

        def kill_the_sender(message: Any) -> None:
            # The server holds the message; the service dies before it hears 250.
            if not killed.is_set():
                killed.set()
                service.kill()

        smtp.sink.on_message = kill_the_sender
    await publish(env, "ord-k", ev.accepted("ord-k"), ev.confirmed("ord-k"))
    assert service.proc is not None
    await wait_for(lambda: _exited(service), timeout=60, what="the service killed mid-send")
    assert smtp.sink.subjects() == ["Ihre Bestellung ORD-K ist bestätigt"]
    # Its claim was committed before it spoke to the server.
    assert await statuses(env, "ord-k") == {"order_confirmed": "sending"}

    await notification(env, smtp, **lease)
    await publish(env, "ord-k", ev.shipped("ord-k"))

    async def settled() -> dict[str, str] | None:
        found = await statuses(env, "ord-k")
        return found if found.get("shipped") == "sent" and len(found) == 2 else None

    assert await wait_for(settled, timeout=60, what="the unknown outcome settled") == {
        "order_confirmed": "unknown",
        "shipped": "sent",
    }
    assert smtp.sink.subjects() == [
        "Ihre Bestellung ORD-K ist bestätigt",
        "Ihre Bestellung ORD-K ist unterwegs",
    ]
    [failed] = await wait_for(
        lambda: events_of(env, "oms.notifications", 1, "NotificationFailed"), timeout=30
    )
    assert (failed.payload.template, failed.payload.retryable) == ("order_confirmed", False)
    assert failed.payload.reason.startswith("outcome_unknown")


async def _exited(service: ServiceProcess) -> bool:
    return service.proc is not None and service.proc.poll() is not None
