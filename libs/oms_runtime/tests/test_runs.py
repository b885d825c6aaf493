"""How a batch is cut into runs for set-based handlers."""

from datetime import UTC, datetime
from uuid import uuid4

from oms_events.envelope import Envelope
from oms_runtime._consumer import Incoming, _runs
from oms_runtime._unit_of_work import ConsumedRecord


def _event(kind: str, key: str, partition: int = 0) -> Incoming:
    envelope = Envelope(
        id=uuid4(),
        source="oms/test",
        type=kind,
        dataversion=1,
        time=datetime.now(UTC),
        subject=key,
        dataschema=f"urn:oms:event:{kind}:v1",
        correlationid=key,
        sequence=0,
        data={},
    )
    record = ConsumedRecord("t", partition, 0, key.encode(), b"")
    return Incoming(record=record, envelope=envelope)


def _shape(runs: list[list[Incoming]]) -> list[list[str]]:
    return [[f"{i.envelope.type}:{i.envelope.subject}" for i in run] for run in runs]


def test_interleaved_orders_make_one_run_per_type() -> None:
    batch = [_event(k, o) for o in "abc" for k in ("Accepted", "Confirmed")]
    assert _shape(_runs(batch)) == [
        ["Accepted:a", "Accepted:b", "Accepted:c"],
        ["Confirmed:a", "Confirmed:b", "Confirmed:c"],
    ]


def test_a_keys_events_keep_their_order() -> None:
    batch = [
        _event("Accepted", "a"),
        _event("Confirmed", "a"),
        _event("Canceled", "a"),
        _event("Confirmed", "b"),
        _event("Accepted", "a", partition=1),  # another key: same id, other partition
    ]
    shape = _shape(_runs(batch))
    assert shape == [
        ["Accepted:a", "Accepted:a"],
        ["Confirmed:a", "Confirmed:b"],
        ["Canceled:a"],
    ]
    flat = [i for run in _runs(batch) for i in run if i.record.partition == 0]
    assert [i.envelope.type for i in flat if i.envelope.subject == "a"] == [
        "Accepted",
        "Confirmed",
        "Canceled",
    ]


def test_a_run_keeps_the_batchs_order_and_a_single_type_is_one_run() -> None:
    batch = [_event("Reserved", k) for k in "zyx"]
    assert _shape(_runs(batch)) == [["Reserved:z", "Reserved:y", "Reserved:x"]]
    assert _runs([]) == []


def test_invalid_events_run_apart_from_valid_ones() -> None:
    valid = _event("Accepted", "a")
    invalid = _event("Accepted", "b")
    invalid = Incoming(record=invalid.record, envelope=invalid.envelope, invalid=object())  # type: ignore[arg-type]
    assert [len(r) for r in _runs([valid, invalid])] == [1, 1]
