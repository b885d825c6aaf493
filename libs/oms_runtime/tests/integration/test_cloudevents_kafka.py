"""A record as the relay sends it comes back from the broker as a CloudEvent to the SDK."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from cloudevents.core.bindings import kafka
from cloudevents.core.formats.json import JSONFormat

from oms_events.codec import CONTENT_TYPE
from oms_events.orders import OrderCompleted
from oms_runtime import Outbox
from tests.support.kafka import read_topic
from tests.support.world import Env

pytestmark = pytest.mark.integration


async def test_an_outbox_record_reads_back_from_the_broker_as_a_cloudevent(env: Env) -> None:
    outbox = Outbox(source="oms/order", topic_prefix=env.prefix, correlation_id="corr-1")
    envelope = outbox.emit(
        OrderCompleted(order_id="ord_1", completed_at=datetime.now(UTC)),
        subject="ord_1",
        sequence=4,
    )
    [record] = outbox.records
    producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap, enable_idempotence=True)
    await producer.start()
    try:  # as the relay sends an outbox row
        await producer.send_and_wait(
            record.topic, record.payload, key=record.key, headers=list(record.headers)
        )
    finally:
        await producer.stop()

    [got] = await read_topic(env.bootstrap, record.topic, at_least=1)
    assert got.headers == {"content-type": CONTENT_TYPE.encode()}
    event = kafka.from_kafka(
        kafka.KafkaMessage(headers=got.headers, key=got.key, value=got.value), JSONFormat()
    )
    assert (event.get_id(), event.get_source(), event.get_type(), event.get_subject()) == (
        str(envelope.id),
        "oms/order",
        "OrderCompleted",
        "ord_1",
    )
    assert event.get_time() == envelope.time
    assert event.get_extension("correlationid") == "corr-1"
    assert event.get_extension("causationid") is None
    assert event.get_extension("sequence") == "0000000000000000004"
    assert event.get_data() == envelope.data
