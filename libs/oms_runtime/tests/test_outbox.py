from datetime import UTC, datetime

from oms_events.codec import CONTENT_TYPE, decode
from oms_events.orders import OrderCompleted
from oms_runtime._consumer import ConsumedRecord
from oms_runtime._dead_letters import DeadLetter
from oms_runtime._outbox import Outbox


def test_emit_routes_by_event_type_and_keys_by_subject() -> None:
    outbox = Outbox(
        source="oms/order", topic_prefix="t1.", correlation_id="corr-9", causation_id="cause-1"
    )
    envelope = outbox.emit(
        OrderCompleted(order_id="ord_1", completed_at=datetime.now(UTC)),
        subject="ord_1",
        sequence=7,
    )
    [record] = outbox.records
    assert record.topic == "t1.oms.orders"
    assert record.key == b"ord_1"
    assert record.event_id == envelope.id
    decoded = decode(record.payload).envelope
    assert (decoded.correlationid, decoded.causationid, decoded.sequence) == (
        "corr-9",
        "cause-1",
        7,
    )
    assert decoded.time <= datetime.now(UTC)
    # CloudEvents Kafka binding, structured mode: no ce_ headers (test_cloudevents_binding.py).
    assert record.headers == (("content-type", CONTENT_TYPE.encode()),)


def test_dead_letter_keeps_the_original_and_says_why_and_where() -> None:
    consumed = ConsumedRecord(
        topic="t1.oms.channel-order-intake",
        partition=3,
        offset=42,
        key=b"web:1",
        value=b"not json",
        headers=(("trace", b"abc"),),
    )
    dead = DeadLetter.of(consumed, reason="malformed", detail="not JSON", attempts=1)
    record = dead.outbox_record("order", "t1.")
    headers = dict(record.headers)
    assert record.topic == "t1.oms.channel-order-intake.dlq"
    assert (record.key, record.payload) == (b"web:1", b"not json")
    assert headers["trace"] == b"abc"
    assert headers["oms.dlq.reason"] == b"malformed"
    assert headers["oms.dlq.topic"] == b"t1.oms.channel-order-intake"
    assert (headers["oms.dlq.partition"], headers["oms.dlq.offset"]) == (b"3", b"42")
    assert headers["oms.dlq.service"] == b"order"
