"""Which messages the events call for, how they are rendered and how the dispatcher settles
each send, on fakes (no broker, no database, no SMTP server)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oms_events.notifications import NotificationFailed, NotificationSent
from oms_events.orders import OrderAccepted
from oms_notification.adapters.email_templates import RenderError, TemplateRenderer
from oms_notification.domain.delivery import DeliveryStatus
from oms_notification.domain.messages import (
    LOCALES,
    Channel,
    MessageKind,
    MessageStatus,
    UnknownOutcomePolicy,
    after_failure,
    choose_locale,
    mask_email,
)
from oms_notification.service_layer.dispatch import Dispatcher, DispatchPolicy
from oms_notification.service_layer.messages import CustomerMessages
from oms_runtime import Received, in_memory_unit_of_work
from services.notification.tests import events as ev
from services.notification.tests.fakes import (
    FakeEmailSender,
    FakeMessageStore,
    FakeSmsSender,
    Units,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def world(
    *script: DeliveryStatus, policy: DispatchPolicy | None = None
) -> tuple[FakeMessageStore, CustomerMessages, Dispatcher, FakeEmailSender, Units, Clock]:
    clock = Clock()
    store = FakeMessageStore(clock=clock)
    handlers = CustomerMessages(
        store, tracking_urls={"dhl": "https://track.example/{tracking_number}"}
    )
    email = FakeEmailSender(list(script))
    dispatcher = Dispatcher(
        store=store,
        renderer=TemplateRenderer(),
        email=email,
        policy=policy or DispatchPolicy(),
        clock=clock,
        jitter=lambda: 0.0,
    )
    return store, handlers, dispatcher, email, Units(), clock


async def tell(
    handlers: CustomerMessages, *payloads: object, order_id: str = "ord-1"
) -> list[Received[Any]]:
    received = [ev.received(p, order_id, n) for n, p in enumerate(payloads)]  # type: ignore[arg-type]
    await retell(handlers, received)
    return received


async def retell(handlers: CustomerMessages, received: list[Received[Any]]) -> None:
    """The same events again, as a redelivery or a replay brings them."""
    work = in_memory_unit_of_work()
    accepted = [r for r in received if isinstance(r.payload, OrderAccepted)]
    if accepted:
        await handlers.accepted(work, accepted)
    await handlers.changes(work, [r for r in received if r not in accepted])


async def test_an_orders_life_is_told_once_per_change_in_the_customers_language() -> None:
    store, handlers, dispatcher, email, units, _ = world()
    order = "ord-1"
    told = await tell(
        handlers,
        ev.accepted(order),
        ev.confirmed(order),
        ev.fulfilment_created(order, 1),
        ev.fulfilment_created(order, 2),  # a second location: the same change, told once
        ev.held(order, "risk_review"),  # the shop's own business: not told
    )
    # The preparation follows the confirmation: it waits until that is settled.
    assert await dispatcher.dispatch(units) == 1
    assert await dispatcher.dispatch(units) == 1
    told += await tell(
        handlers,
        ev.shipped(order),
        ev.delivered(order),
        ev.refund(order, return_id=None),  # a cancellation's refund: told with it
    )
    assert await dispatcher.dispatch(units) == 2
    assert [e.subject for e in email.sent] == [
        "Ihre Bestellung ORD-1 ist bestätigt",
        "Wir bereiten Ihre Bestellung ORD-1 vor",
        "Ihre Bestellung ORD-1 ist unterwegs",
        "Ihre Bestellung ORD-1 wurde zugestellt",
    ]
    assert {e.to for e in email.sent} == {ev.EMAIL}
    shipped = email.sent[2]
    assert "Sendungsnummer: 00340434100001" in shipped.text
    assert "https://track.example/00340434100001" in shipped.text
    assert "T-Shirt &lt;Bio&gt; &amp; Fair" in shipped.html  # escaped in HTML
    assert "T-Shirt <Bio> & Fair" in shipped.text  # not in plain text
    sent = [e.payload for e in units.events()]
    assert all(isinstance(p, NotificationSent) for p in sent)
    assert {p.recipient for p in sent} == {"e***@example.com"}
    assert {p.locale for p in sent} == {"de"}
    # Redelivered and replayed, the same events queue nothing and send nothing.
    await retell(handlers, told)
    assert await dispatcher.dispatch(units) == 0
    assert len(store.rows) == 4


async def test_being_prepared_is_not_told_once_the_order_shipped() -> None:
    store, handlers, dispatcher, email, units, _ = world()
    await tell(handlers, ev.accepted("ord-1"), ev.confirmed("ord-1"))
    assert await dispatcher.dispatch(units) == 1
    # The sourcing topic lagged behind the shipments topic.
    await tell(handlers, ev.shipped("ord-1"), ev.fulfilment_created("ord-1"))
    assert await dispatcher.dispatch(units) == 1
    assert email.sent[-1].subject == "Ihre Bestellung ORD-1 ist unterwegs"
    assert store.statuses() == {
        "order_confirmed": "sent",
        "shipped": "sent",
        "in_preparation": "suppressed",
    }


async def test_what_follows_the_confirmation_waits_for_it_or_for_the_order_wait() -> None:
    store, handlers, dispatcher, email, units, clock = world(
        DeliveryStatus.FAILED, policy=DispatchPolicy(order_wait_s=30, retry_first_s=1)
    )
    # The shipments topic ran ahead: shipped arrives before the confirmation is told.
    await tell(handlers, ev.accepted("ord-1"), ev.shipped("ord-1"), ev.confirmed("ord-1"))
    await dispatcher.dispatch(units)  # the confirmation fails once; shipped still waits
    assert store.statuses() == {"shipped": "queued", "order_confirmed": "queued"}
    clock.now += timedelta(seconds=1)
    assert await dispatcher.dispatch(units) == 1
    assert await dispatcher.dispatch(units) == 1
    assert [m.subject for m in email.sent] == [
        "Ihre Bestellung ORD-1 ist bestätigt",
        "Ihre Bestellung ORD-1 ist unterwegs",
    ]
    # Without any confirmation, a shipment is told once the order wait is over.
    await tell(handlers, ev.accepted("ord-2"), ev.shipped("ord-2"), order_id="ord-2")
    assert await dispatcher.dispatch(units) == 0
    clock.now += timedelta(seconds=31)
    assert await dispatcher.dispatch(units) == 1


async def test_a_partial_cancellation_lists_its_lines_and_refund() -> None:
    _store, handlers, dispatcher, email, units, _ = world()
    await tell(handlers, ev.accepted("ord-1", country="FR"), ev.lines_canceled("ord-1"))
    await dispatcher.dispatch(units)
    [message] = email.sent
    assert message.subject == "Des articles de votre commande ORD-1 ont été annulés"
    assert "- 1 x T-Shirt <Bio> & Fair" in message.text
    assert "- 1 x Tasse" in message.text
    assert "11,90\u00a0€" in message.text


async def test_a_whole_cancellation_says_what_is_refunded_or_released() -> None:
    _store, handlers, dispatcher, email, units, _ = world()
    await tell(handlers, ev.accepted("ord-1", country="US"), ev.canceled("ord-1"))
    await tell(handlers, ev.accepted("ord-2", country="US"), order_id="ord-2")
    await handlers.captured(
        in_memory_unit_of_work(), [ev.received(ev.captured("ord-2", 5000), "ord-2")]
    )
    await tell(handlers, ev.canceled("ord-2"), order_id="ord-2")
    await dispatcher.dispatch(units)
    released, refunded = (m.text for m in email.sent)
    assert "You have not been charged: the reserved €94.20 is released." in released
    assert "We refund €50.00 to your payment method." in refunded


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", list(MessageKind))
def test_every_kind_has_a_template_in_every_locale(kind: MessageKind, locale: str) -> None:
    facts = {
        "amount": {"amount_minor": 100, "currency": "EUR"},
        "refunded_total": {"amount_minor": 100, "currency": "EUR"},
        "retryable": False,
        "reason": "address_verification",
        "lines": [{"name": "Tasse", "quantity": 1, "total": None}],
        "expected_at": None,
        "pre_order": False,
        "carrier_name": "DHL",
        "tracking_number": "T1",
        "tracking_url": None,
        "shipped_at": "2026-11-25T10:00:00+00:00",
        "delivered_at": "2026-11-25T10:00:00+00:00",
        "refund": None,
        "store_name": "Berlin Mitte",
        "store_hours": None,
        "pickup_code": "K7P42QXY",
        "hold_until": "2026-12-02T18:00:00+00:00",
        "collected_at": "2026-11-25T10:00:00+00:00",
        "received_at": "2026-11-25T10:00:00+00:00",
        "rma_number": "RMA-1",
        "expires_at": "2026-12-25T10:00:00+00:00",
    }
    order = {
        "reference": "R-1",
        "placed_at": ev.AT,
        "customer_name": "Erika",
        "lines": facts["lines"],
        "totals": {k: facts["amount"] for k in ("grand_total", "shipping_total")},
        "shipping_address": None,
    }
    rendered = TemplateRenderer().render(kind.value, locale, {"order": order, "facts": facts})
    assert "R-1" in rendered.subject and "R-1" in rendered.text and "R-1" in rendered.html
    assert rendered.html.startswith("<!doctype html>")


def test_an_unknown_locale_or_missing_fact_is_a_render_error() -> None:
    with pytest.raises(RenderError, match=r"no template it/shipped\.j2"):
        TemplateRenderer().render("shipped", "it", {})
    with pytest.raises(RenderError, match="UndefinedError"):
        TemplateRenderer().render("shipped", "en", {"order": {}, "facts": {}})


async def test_an_opted_out_customer_gets_nothing_but_a_marketing_opt_out_changes_nothing() -> None:
    store, handlers, dispatcher, email, units, _ = world()
    store.preferences["cus-out"] = (None, ("email",), False)
    store.preferences["cus-marketing"] = ("fr", (), True)
    await tell(handlers, ev.accepted("ord-1", customer_id="cus-out"), ev.confirmed("ord-1"))
    await tell(
        handlers,
        ev.accepted("ord-2", customer_id="cus-marketing"),
        ev.confirmed("ord-2"),
        order_id="ord-2",
    )
    assert await dispatcher.dispatch(units) == 1
    assert [m.subject for m in email.sent] == ["Votre commande ORD-2 est confirmée"]
    [suppressed] = [r for r in store.rows.values() if r.message.order_id == "ord-1"]
    assert (suppressed.status, suppressed.last_error) == ("suppressed", "opted_out")


async def test_a_transient_failure_waits_and_a_refusal_fails_for_good() -> None:
    store, handlers, dispatcher, email, units, clock = world(
        DeliveryStatus.FAILED, DeliveryStatus.REFUSED
    )
    await tell(handlers, ev.accepted("ord-1"), ev.confirmed("ord-1"), ev.lines_canceled("ord-1"))
    assert await dispatcher.dispatch(units) == 0
    assert store.statuses() == {"order_confirmed": "queued", "lines_canceled": "failed"}
    [failed] = [e.payload for e in units.events()]
    assert isinstance(failed, NotificationFailed) and not failed.retryable
    assert failed.template == "lines_canceled"
    assert await dispatcher.dispatch(units) == 0  # not due before its wait is over
    clock.now += timedelta(seconds=5)
    assert await dispatcher.dispatch(units) == 1
    assert store.statuses()["order_confirmed"] == "sent"
    assert len(email.tried) == 3


@pytest.mark.parametrize("policy", list(UnknownOutcomePolicy))
async def test_a_send_whose_outcome_is_unknown_follows_the_policy(
    policy: UnknownOutcomePolicy,
) -> None:
    store, handlers, dispatcher, email, units, clock = world(
        policy=DispatchPolicy(unknown_outcome=policy, sending_lease_s=60)
    )
    await tell(handlers, ev.accepted("ord-1"), ev.confirmed("ord-1"))
    # The service died after its claim committed: the row stays 'sending'.
    claimed = await store.claim_due(in_memory_unit_of_work().conn, NOW, 10, NOW)
    assert [c.kind for c in claimed] == ["order_confirmed"]
    assert await dispatcher.dispatch(units) == 0  # still within its lease: left alone
    clock.now += timedelta(seconds=61)
    sent = await dispatcher.dispatch(units)
    published = [e.payload for e in units.events()]
    if policy is UnknownOutcomePolicy.GIVE_UP:
        assert sent == 0 and email.tried == []
        assert store.statuses() == {"order_confirmed": "unknown"}
        [failed] = published
        assert isinstance(failed, NotificationFailed)
        assert (failed.retryable, failed.attempts) == (False, 1)
        assert failed.reason.startswith("outcome_unknown")
    else:
        assert sent == 1
        [resent] = email.sent
        assert resent.message_id == f"<{claimed[0].notification_id}@oms.example.com>"
        assert store.statuses() == {"order_confirmed": "sent"}


async def test_a_message_whose_order_never_arrives_fails_after_the_wait() -> None:
    store, handlers, dispatcher, _email, units, clock = world(
        policy=DispatchPolicy(order_wait_s=30)
    )
    await tell(handlers, ev.confirmed("ord-9"), order_id="ord-9")
    assert await dispatcher.dispatch(units) == 0
    assert store.statuses() == {"order_confirmed": "queued"}
    clock.now += timedelta(seconds=31)
    await dispatcher.dispatch(units)
    assert store.statuses() == {"order_confirmed": "failed"}
    [failed] = [e.payload for e in units.events()]
    assert isinstance(failed, NotificationFailed) and failed.reason.startswith("order_unknown")


async def test_text_messages_go_to_the_phone_when_a_provider_is_configured() -> None:
    store, _, dispatcher, _email, units, _ = world()
    sms = FakeSmsSender()
    dispatcher.sms = sms
    handlers = CustomerMessages(store, channels=(Channel.EMAIL, Channel.SMS))
    await tell(handlers, ev.accepted("ord-1"), ev.confirmed("ord-1"))
    assert await dispatcher.dispatch(units) == 2
    [text] = sms.sent
    assert text.to == "+49 221 1234567" and text.text == "Ihre Bestellung ORD-1 ist bestätigt"
    recipients = {e.payload.recipient for e in units.events()}
    assert recipients == {"e***@example.com", "***67"}


def test_policy_rules() -> None:
    assert choose_locale(None, "AT", "en") == "de"
    assert choose_locale("fr", "DE", "en") == "fr"
    assert choose_locale("it", "IT", "en") == "en"
    assert mask_email("erika@example.com") == "e***@example.com"
    waits = [
        after_failure(
            attempts=n, max_attempts=5, transient=True, now=NOW, first_s=5, max_s=30,
            jitter=lambda: 0.5,
        ).next_attempt_at
        for n in (1, 2, 3, 4)
    ]  # fmt: skip
    assert [(w - NOW).total_seconds() for w in waits if w] == [7.5, 12.5, 22.5, 32.5]
    final = after_failure(attempts=5, max_attempts=5, transient=True, now=NOW, first_s=5, max_s=30)
    assert (final.status, final.publish_failure) == (MessageStatus.FAILED, True)


async def test_a_message_whose_facts_do_not_fit_fails_alone() -> None:
    store, handlers, dispatcher, email, units, _ = world()
    await tell(handlers, ev.accepted("ord-1"), ev.canceled("ord-1"), ev.confirmed("ord-1"))
    order = store.orders["ord-1"]
    store.orders["ord-1"] = replace(order, details={**order.details, "totals": {}})
    assert await dispatcher.dispatch(units) == 0
    assert store.statuses() == {"order_canceled": "failed", "order_confirmed": "failed"}
    reasons = sorted(e.payload.reason for e in units.events())
    assert [r.split(":")[0] for r in reasons] == ["render_failed", "render_failed"]
    assert email.tried == []


async def test_a_click_and_collect_customer_is_told_where_with_which_code_and_when_collected() -> (
    None
):
    _store, handlers, dispatcher, email, units, _ = world()
    handlers = replace(
        handlers,
        pickup_stores={"store-berlin": {"name": "Berlin Mitte", "hours": "Mo-Sa 10-20"}},
    )

    async def told(*payloads: object) -> list[Any]:
        await tell(handlers, *payloads)
        while await dispatcher.dispatch(units):  # later kinds wait for the confirmation
            pass
        return [email.sent.pop(0) for _ in list(email.sent)]

    await told(ev.accepted("ord-1"), ev.confirmed("ord-1"))
    [preparing] = await told(ev.pickup_released("ord-1"))
    assert "für die Abholung in Berlin Mitte vorbereitet" in preparing.text
    assert "Abholcode" in preparing.text and "Sendungsnummer" not in preparing.text
    [ready] = await told(ev.ready_for_pickup("ord-1"))
    assert ready.subject == "Ihre Bestellung ORD-1 liegt zur Abholung bereit"
    assert "Ihr Abholcode: K7P42QXY" in ready.text and "Öffnungszeiten: Mo-Sa 10-20" in ready.text
    assert "<strong>K7P42QXY</strong>" in ready.html
    [collected] = await told(ev.collected("ord-1"))
    assert collected.subject == "Sie haben Ihre Bestellung ORD-1 abgeholt"
    assert "in Berlin Mitte abgeholt" in collected.text


async def test_a_received_return_is_told_once_with_its_lines() -> None:
    _store, handlers, dispatcher, email, units, _ = world()
    await tell(handlers, ev.accepted("ord-1"), ev.confirmed("ord-1"))
    await dispatcher.dispatch(units)
    email.sent.clear()
    [returned] = await tell(handlers, ev.return_received("ord-1"))
    await retell(handlers, [returned])  # a redelivery or replay queues nothing again
    await dispatcher.dispatch(units)
    [message] = email.sent
    assert message.subject == "Ihre Rücksendung zur Bestellung ORD-1 ist angekommen"
    assert "am 24. November 2026 bei uns eingegangen" in message.text
    assert "- 1 x " in message.text and "Erstattung" in message.text
    assert handlers.describe(ev.return_received("ord-1")) == (
        MessageKind.RETURN_RECEIVED,
        {
            "return_id": "ret-1",
            "lines": [{"line_id": "1", "sku": "SKU-MUG", "quantity": 1}],
            "received_at": ev.AT.isoformat(),
        },
    )


async def test_an_authorised_return_is_told_with_its_number_and_last_day() -> None:
    _store, handlers, dispatcher, email, units, _ = world()
    await tell(handlers, ev.accepted("ord-1"), ev.confirmed("ord-1"))
    await dispatcher.dispatch(units)
    email.sent.clear()
    [authorized] = await tell(handlers, ev.return_authorized("ord-1"))
    await retell(handlers, [authorized])  # a redelivery or replay queues nothing again
    await dispatcher.dispatch(units)
    [message] = email.sent
    assert message.subject == "Ihre Rücksendung zur Bestellung ORD-1: RMA-7F3A"
    assert "Ihre Rücksendenummer ist RMA-7F3A" in message.text
    assert "bis zum 24. Dezember 2026" in message.text and "- 1 x " in message.text
    assert "<strong>RMA-7F3A</strong>" in message.html
    assert handlers.describe(ev.return_authorized("ord-1")) == (
        MessageKind.RETURN_AUTHORIZED,
        {
            "return_id": "ret-1",
            "rma_number": "RMA-7F3A",
            "lines": [{"line_id": "1", "sku": "SKU-MUG", "quantity": 1}],
            "expires_at": (ev.AT + timedelta(days=30)).isoformat(),
        },
    )


async def test_out_for_delivery_is_told_with_the_tracking_link_unless_already_delivered() -> None:
    _store, handlers, dispatcher, email, units, _ = world()
    await tell(handlers, ev.accepted("ord-1", country="GB"), ev.confirmed("ord-1"))
    await tell(handlers, ev.out_for_delivery("ord-1"))
    while await dispatcher.dispatch(units):
        pass
    today = email.sent[-1]
    assert today.subject == "Your order ORD-1 arrives today"
    assert "https://track.example/00340434100001" in today.text

    _store, handlers, dispatcher, email, units, _ = world()
    await tell(handlers, ev.accepted("ord-2", country="GB"), order_id="ord-2")
    await tell(
        handlers,
        ev.confirmed("ord-2"),
        ev.delivered("ord-2"),
        ev.out_for_delivery("ord-2"),  # read late, from another partition
        order_id="ord-2",
    )
    while await dispatcher.dispatch(units):
        pass
    endings = [m.subject.split(" ORD-2 ")[-1] for m in email.sent]
    assert endings == ["is confirmed", "has been delivered"]
