"""Records as the outbox writes them are CloudEvents to the CloudEvents SDK (Kafka binding).

The SDK reads the exact bytes and headers that ``Outbox.emit`` produces and the relay sends:
structured content mode, the whole event in the value, ``content-type`` its only header.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.bindings import kafka
from cloudevents.core.exceptions import CloudEventValidationError
from cloudevents.core.formats.json import JSONFormat
from cloudevents.v1 import kafka as kafka_v1

from oms_events.codec import CONTENT_TYPE, decode
from oms_events.envelope import Envelope
from oms_events.orders import OrderCompleted
from oms_events.registry import EventPayload
from oms_runtime._outbox import Outbox, OutboxRecord

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "oms_events" / "tests" / "golden"
COMPLETED_AT = datetime(2024, 6, 11, 9, 15, 30, 123456, tzinfo=UTC)


def emit(payload: EventPayload, *, subject: str, sequence: int) -> tuple[OutboxRecord, Envelope]:
    outbox = Outbox(
        source="oms/order", topic_prefix="t1.", correlation_id="corr-9", causation_id="cause-1"
    )
    envelope = outbox.emit(payload, subject=subject, sequence=sequence)
    [record] = outbox.records
    return record, envelope


def message(record: OutboxRecord) -> kafka.KafkaMessage:
    return kafka.KafkaMessage(headers=dict(record.headers), key=record.key, value=record.payload)


def completed() -> tuple[OutboxRecord, Envelope]:
    return emit(
        OrderCompleted(order_id="ord_1", completed_at=COMPLETED_AT), subject="ord_1", sequence=7
    )


def test_the_only_header_is_the_structured_content_type() -> None:
    record, _ = completed()
    assert record.headers == (("content-type", CONTENT_TYPE.encode()),)
    assert CONTENT_TYPE == "application/cloudevents+json; charset=UTF-8"


@pytest.mark.parametrize("read", [kafka.from_kafka, kafka.from_structured])
def test_the_sdk_reads_every_attribute(read: Any) -> None:
    record, envelope = completed()
    event = read(message(record), JSONFormat())
    assert event.get_specversion() == "1.0"
    assert event.get_id() == str(envelope.id)
    assert event.get_source() == "oms/order"
    assert event.get_type() == "OrderCompleted"
    assert event.get_subject() == "ord_1"
    assert event.get_time() == envelope.time
    assert event.get_time().tzinfo is not None
    assert event.get_dataschema() == "urn:oms:event:OrderCompleted:v1"
    assert event.get_datacontenttype() == "application/json"
    assert event.get_extension("dataversion") == 1
    assert event.get_extension("correlationid") == "corr-9"
    assert event.get_extension("causationid") == "cause-1"
    # The sequence extension is a string that orders lexicographically.
    assert event.get_extension("sequence") == "0000000000000000007"
    assert event.get_extension("partitionkey") == "ord_1"  # the SDK's name for the record key
    assert event.get_data() == {
        "order_id": "ord_1",
        "completed_at": "2024-06-11T09:15:30.123456Z",
    }


def test_a_ce_header_would_make_the_sdk_read_binary_mode() -> None:
    # What the outbox wrote before: a partial ce_ header set, which the SDK cannot read.
    record, envelope = completed()
    headers = {**dict(record.headers), "ce_type": envelope.type.encode()}
    with pytest.raises(CloudEventValidationError, match="source"):
        kafka.from_kafka(
            kafka.KafkaMessage(headers=headers, key=record.key, value=record.payload),
            JSONFormat(),
        )


def test_the_sdk_1x_api_reads_it_too() -> None:
    # cloudevents 1.x's ``cloudevents.kafka``; it copies the content-type header over
    # ``datacontenttype`` (its own to_structured moves that attribute into the header).
    record, envelope = completed()
    event = kafka_v1.from_structured(
        kafka_v1.KafkaMessage(headers=dict(record.headers), key=record.key, value=record.payload)
    )
    attributes = dict(event.get_attributes())
    assert datetime.fromisoformat(attributes.pop("time")) == envelope.time
    assert attributes.pop("datacontenttype") == CONTENT_TYPE
    assert attributes == {
        "specversion": "1.0",
        "id": str(envelope.id),
        "source": "oms/order",
        "type": "OrderCompleted",
        "dataversion": 1,
        "subject": "ord_1",
        "dataschema": "urn:oms:event:OrderCompleted:v1",
        "correlationid": "corr-9",
        "causationid": "cause-1",
        "sequence": "0000000000000000007",
        "partitionkey": b"ord_1",
    }
    assert event.get_data() == envelope.data


@pytest.mark.parametrize("fixture", sorted(GOLDEN_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_every_event_type_reads_back_with_its_data(fixture: Path) -> None:
    payload = decode(fixture.read_bytes()).payload
    record, envelope = emit(payload, subject="subject-1", sequence=12)
    event = kafka.from_kafka(message(record), JSONFormat())
    assert (event.get_type(), event.get_extension("dataversion")) == (
        payload.event_type,
        payload.version,
    )
    assert event.get_extension("sequence") == "0000000000000000012"
    assert event.get_data() == envelope.data == payload.model_dump(mode="json")
