"""``oms rebuild notification`` on the real broker and database, the notification service as
a process sending to a real SMTP server and webhook receiver: sent, refused and opted-out
messages, webhook deliveries (one re-sent by an operator), an operations alert. The rebuild
sends and publishes nothing, reads the messages' outcomes back from oms.notifications,
copies what came over HTTP and matches every table; a changed live row is reported; the
swapped state serves the restarted worker."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from oms_events.orders import OrderStuck
from services.notification.tests import events as ev
from services.notification.tests.integration.test_customer_messages import publish
from tests.support.operator import oms
from tests.support.processes import ServiceProcess
from tests.support.rebuild import end_offsets, exists, fetch, group_idle
from tests.support.smtp import SmtpServer
from tests.support.waiting import wait_for
from tests.support.webhooks import WEBHOOK_SETTINGS, Receiver, subscribe, webhook_api
from tests.support.world import Env

pytestmark = pytest.mark.integration

_BOUNCE = "bounce@example.com"


def _bouncing(order_id: str) -> Any:
    accepted = ev.accepted(order_id, customer_id="cus-bounce")
    return accepted.model_copy(
        update={"customer": accepted.customer.model_copy(update={"email": _BOUNCE})}
    )


def _stuck(order_id: str) -> OrderStuck:
    return OrderStuck(
        order_id=order_id,
        status="CONFIRMED",
        since=ev.AT,
        threshold_s=3600,
        detected_at=ev.AT + timedelta(hours=2),
    )


async def _count(env: Env, query: str) -> int:
    rows = await env.fetch("notification", query)
    return int(rows[0][0])


async def _statuses(env: Env) -> dict[tuple[str, str], str]:
    rows = await env.fetch("notification", "SELECT order_id, template, status FROM notifications")
    return {(r["order_id"], r["template"]): r["status"] for r in rows}


async def _start(env: Env, smtp: SmtpServer) -> ServiceProcess:
    service = await env.service("notification", **smtp.env(), **WEBHOOK_SETTINGS)
    await service.wait_ready()
    return service


async def test_notification_rebuild_reads_outcomes_back_sends_nothing_and_swaps(
    env: Env, smtp: SmtpServer
) -> None:
    smtp.sink.answers[_BOUNCE] = "550 5.1.1 No such user"
    async with Receiver({"erp": 200, "ops": 200}) as receiver:
        live = await _start(env, smtp)
        services: dict[str, str | None] = {"notification": live.url}
        live_db = f"t{env.run}_notification"
        env.databases.append(f"{live_db}_rebuild")
        status, _ = await webhook_api(
            live,
            "PUT",
            "/v1/customers/cus-out/preferences",
            {"opted_out_channels": ["email"]},
        )
        assert status == 200
        erp = await subscribe(live, receiver.url("erp"), "OrderAccepted", "OrderConfirmed")
        await subscribe(live, receiver.url("ops"), "OrderStuck", operations=True)

        await publish(env, "ord-1", ev.accepted("ord-1"), ev.confirmed("ord-1"))
        await publish(env, "ord-1", ev.shipped("ord-1"))
        await publish(env, "ord-2", ev.accepted("ord-2", customer_id="cus-out"))
        await publish(env, "ord-2", ev.confirmed("ord-2"))  # opted out: suppressed
        await publish(env, "ord-3", _bouncing("ord-3"), ev.confirmed("ord-3"))  # refused
        await publish(env, "ord-1", _stuck("ord-1"))  # an operations alert

        async def settled() -> bool:
            # One statement, one snapshot: counted one by one, the open messages could be
            # counted before they were queued and the queued ones after.
            [counts] = await env.fetch(
                "notification",
                "SELECT (SELECT count(*) FROM notifications) AS told,"
                " (SELECT count(*) FROM notifications WHERE status IN ('queued', 'sending'))"
                " AS open, (SELECT count(*) FROM webhook_deliveries) AS delivered,"
                " (SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered')"
                " AS pending, (SELECT count(*) FROM oms_outbox) AS unsent",
            )
            return (
                counts["told"] == 4
                and counts["open"] == 0
                and counts["delivered"] == 7
                and counts["pending"] == 0
                and counts["unsent"] == 0
            )

        await wait_for(settled, timeout=60, what="every message and delivery settled, published")
        assert await _statuses(env) == {
            ("ord-1", "order_confirmed"): "sent",
            ("ord-1", "shipped"): "sent",
            ("ord-2", "order_confirmed"): "suppressed",
            ("ord-3", "order_confirmed"): "failed",
        }
        assert len(smtp.sink.received()) == 2
        # An operator sends one delivery again.
        [first] = await env.fetch(
            "notification",
            "SELECT delivery_id FROM webhook_deliveries WHERE subscription_id = $1 LIMIT 1",
            erp["subscription_id"],
        )
        path = f"/v1/webhooks/subscriptions/{erp['subscription_id']}/deliveries"
        status, _ = await webhook_api(live, "POST", f"{path}/{first['delivery_id']}/resend")
        assert status == 202
        await wait_for(settled, timeout=60, what="the re-sent delivery delivered")
        assert len(receiver.accepted("erp")) == 7
        assert len(receiver.accepted("ops")) == 1

        live.stop()
        await wait_for(lambda: group_idle(env, "notification"), what="the group empty")
        before = await end_offsets(env)
        requests, mails = len(receiver.requests), len(smtp.sink.received())

        done = await oms(env, "rebuild", "notification", "--json", services=services)
        assert done.code == 0, done.stderr
        report = done.json()
        assert report["match"] is True
        assert report["input_events"] == 8
        assert report["events"] > 8  # the outcomes read back from oms.notifications
        assert report["seeded"] == {
            "customer_preferences": 1,
            "webhook_subscriptions": 2,
            "webhook_events": 7,
            "webhook_deliveries": 7,
            "webhook_resends": 1,
            "alert_windows": 1,
        }
        tables = {t["table"]: t for t in report["tables"]}
        assert set(tables) == {"customer_orders", "notifications", "oms_inbox"}
        assert all(t["match"] for t in tables.values())
        assert tables["notifications"]["rows_rebuilt"] == 4
        assert tables["customer_orders"]["rows_rebuilt"] == 3
        assert tables["oms_inbox"]["rows_rebuilt"] == 8
        # Nothing sent, nothing published, the rebuilt outbox empty.
        assert await end_offsets(env) == before
        assert (len(receiver.requests), len(smtp.sink.received())) == (requests, mails)
        rebuilt = f"{live_db}_rebuild"
        assert await fetch(env, rebuilt, "SELECT count(*) AS n FROM oms_outbox") == [(0,)]
        # The copied re-send's id does not come again.
        [sequence] = await fetch(
            env, rebuilt, "SELECT last_value FROM webhook_resends_resend_id_seq"
        )
        assert sequence["last_value"] == 2

        # A live row changed behind the service's back: reported, the swap refused.
        changed = "UPDATE notifications SET attempts = attempts + $1 WHERE order_id = 'ord-3'"
        await env.fetch("notification", changed, 1)
        differs = await oms(env, "rebuild", "notification", "--swap", "--json", services=services)
        assert differs.code == 8, differs.stderr
        mismatch = differs.json()
        assert [t["table"] for t in mismatch["tables"] if not t["match"]] == ["notifications"]
        assert mismatch["swapped"] is False
        await env.fetch("notification", changed, -1)

        swapped = await oms(env, "rebuild", "notification", "--swap", "--json", services=services)
        assert swapped.code == 0, swapped.stderr
        outcome = swapped.json()
        assert (outcome["match"], outcome["swapped"]) == (True, True)
        env.databases.append(outcome["kept_as"])
        assert await exists(env, outcome["kept_as"])
        assert not await exists(env, rebuilt)

        # The worker goes on from the rebuilt state: the next change is told, nothing again.
        again = await _start(env, smtp)
        await publish(env, "ord-1", ev.delivered("ord-1"))

        async def delivered_told() -> bool:
            return (await _statuses(env)).get(("ord-1", "delivered")) == "sent"

        await wait_for(delivered_told, timeout=60, what="the delivery told after the swap")
        assert len(smtp.sink.received()) == mails + 1
        status, _ = await webhook_api(again, "POST", f"{path}/{first['delivery_id']}/resend")
        assert status == 202
        assert await _count(env, "SELECT max(resend_id) FROM webhook_resends") == 2
        again.stop()
