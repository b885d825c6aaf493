"""A rebuild sends nothing: it reads each message's outcome back from what the dispatcher
published. On fakes: every way a message settles, published and read back into a second
store that only saw the same events, gives the same rows."""

from __future__ import annotations

from dataclasses import astuple, replace
from datetime import timedelta

from oms_events.notifications import (
    NotificationFailed,
    NotificationSent,
    NotificationSuppressed,
)
from oms_notification.domain.delivery import DeliveryStatus
from oms_notification.domain.messages import (
    ORDER_UNKNOWN,
    OUTCOME_UNKNOWN,
    MessageStatus,
    recorded_failure,
)
from oms_notification.service_layer.dispatch import DispatchPolicy
from oms_notification.service_layer.messages import CustomerMessages
from oms_notification.service_layer.outcomes import RecordedOutcomes, recorded_outcome
from oms_runtime import Received, in_memory_unit_of_work
from services.notification.tests import events as ev
from services.notification.tests.fakes import FakeMessageStore, Row
from services.notification.tests.test_messages import NOW, retell, world


def _outcome(row: Row) -> tuple[object, ...]:
    """The columns a rebuild compares, the clock's left out."""
    return (
        row.status, row.locale, row.attempts, row.last_error, row.provider_message_id,
        row.sent_at,
    )  # fmt: skip


async def test_every_settled_message_reads_back_to_the_row_the_dispatcher_left() -> None:
    store, handlers, dispatcher, _email, units, clock = world(
        DeliveryStatus.FAILED,  # ord-1's confirmation: tried again, then sent
        DeliveryStatus.REFUSED,  # ord-1's partial cancellation: refused for good
        DeliveryStatus.UNKNOWN,  # ord-3's confirmation: handed over, then the line broke
        policy=DispatchPolicy(order_wait_s=30),
    )
    store.preferences["cus-out"] = (None, ("email",), False)
    received: list[Received[object]] = []
    for n, (order, payload) in enumerate(
        [
            ("ord-1", ev.accepted("ord-1")),
            ("ord-1", ev.confirmed("ord-1")),
            ("ord-1", ev.lines_canceled("ord-1")),
            ("ord-2", ev.accepted("ord-2", customer_id="cus-out")),
            ("ord-2", ev.confirmed("ord-2")),  # opted out: suppressed
            ("ord-3", ev.accepted("ord-3")),
            ("ord-3", ev.confirmed("ord-3")),
            ("ord-9", ev.confirmed("ord-9")),  # its order never arrives
            ("ord-4", ev.accepted("ord-4")),
            ("ord-4", ev.canceled("ord-4")),  # its facts do not fit: fails to render
        ]
    ):
        received.append(ev.received(payload, order, n))  # type: ignore[arg-type]
    for order in ("ord-1", "ord-2", "ord-3", "ord-9", "ord-4"):
        await retell(handlers, [r for r in received if r.payload.order_id == order])  # type: ignore[attr-defined]
    kept = store.orders["ord-4"]
    store.orders["ord-4"] = replace(kept, details={**kept.details, "totals": {}})
    await dispatcher.dispatch(units)
    clock.now += timedelta(seconds=31)
    await dispatcher.dispatch(units)
    statuses = sorted((r.message.order_id, r.message.kind, r.status) for r in store.rows.values())
    assert statuses == [
        ("ord-1", "lines_canceled", "failed"),
        ("ord-1", "order_confirmed", "sent"),
        ("ord-2", "order_confirmed", "suppressed"),
        ("ord-3", "order_confirmed", "unknown"),
        ("ord-4", "order_canceled", "failed"),
        ("ord-9", "order_confirmed", "failed"),
    ]
    attempts = {(r.message.order_id, r.message.kind): r.attempts for r in store.rows.values()}
    assert attempts[("ord-1", "order_confirmed")] == 2
    assert attempts[("ord-9", "order_confirmed")] == 1  # never claimed: the failure counts
    published = [e.payload for e in units.events()]
    assert {type(p) for p in published} == {
        NotificationSent,
        NotificationFailed,
        NotificationSuppressed,
    }

    # The rebuild: the same events, no dispatcher, the outcomes applied as published.
    rebuilt = FakeMessageStore(clock=lambda: NOW)
    await retell(CustomerMessages(rebuilt), received)  # type: ignore[arg-type]
    outcomes = RecordedOutcomes(rebuilt)
    work = in_memory_unit_of_work()
    for n, payload in enumerate(published):
        await outcomes.apply(work, [ev.received(payload, payload.order_id, n)])
    assert {k: _outcome(r) for k, r in rebuilt.rows.items()} == {
        k: _outcome(r) for k, r in store.rows.items()
    }
    assert {k: astuple(r.message) for k, r in rebuilt.rows.items()} == {
        k: astuple(r.message) for k, r in store.rows.items()
    }


def test_a_failure_says_whether_the_send_may_have_gone() -> None:
    assert recorded_failure(OUTCOME_UNKNOWN) is MessageStatus.UNKNOWN
    assert recorded_failure(f"{OUTCOME_UNKNOWN} (connection_reset)") is MessageStatus.UNKNOWN
    assert recorded_failure(ORDER_UNKNOWN) is MessageStatus.FAILED
    assert recorded_failure("smtp_550") is MessageStatus.FAILED


def test_an_outcome_published_before_it_carried_attempts_or_locale_leaves_them() -> None:
    sent = NotificationSent(
        notification_id="ntf_1", order_id="ord-1", trigger_event_id="e1", channel="email",
        template="shipped", locale="de", recipient="e***@example.com", sent_at=NOW,
    )  # fmt: skip
    failed = NotificationFailed(
        notification_id="ntf_2", order_id="ord-1", trigger_event_id="e2", channel="email",
        template="shipped", reason="smtp_550", retryable=False, attempts=3,
    )  # fmt: skip
    assert (recorded_outcome(sent).attempts, recorded_outcome(sent).locale) == (None, "de")
    assert (recorded_outcome(failed).attempts, recorded_outcome(failed).locale) == (3, None)
