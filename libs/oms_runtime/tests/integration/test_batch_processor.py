"""The batch processor on the real PostgreSQL: hostile records and misbehaving handlers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import pytest

from oms_events.codec import decode, encode, new_event
from oms_events.orders import OrderAccepted, OrderCancellationRequested, OrderSubmitted
from oms_runtime import (
    BatchFinish,
    BatchProcessor,
    ConsumedRecord,
    Note,
    Received,
    RejectedEvent,
    Subscription,
    UnitOfWork,
    Wakeup,
)
from tests.support.orders import encoded, order_submitted
from tests.support.world import Env

pytestmark = pytest.mark.integration

TOPIC = "tx.oms.channel-order-intake"


def _record(
    offset: int, value: bytes, headers: tuple[tuple[str, bytes], ...] = (), key: bytes = b"k"
) -> ConsumedRecord:
    return ConsumedRecord(TOPIC, 0, offset, key, value, headers)


async def record_seen(work: UnitOfWork, received: Received[OrderSubmitted]) -> None:
    await work.conn.execute("INSERT INTO seen VALUES ($1)", received.payload.external_order_id)


async def _processor(
    env: Env,
    handler: object,
    finish: BatchFinish | None = None,
    *,
    subscription: Subscription | None = None,
    database: str = "runtime",
) -> tuple[BatchProcessor, asyncpg.Pool]:
    _, pool = await env.runtime_pool(database, size=2)
    await pool.execute("CREATE TABLE seen (external_order_id text PRIMARY KEY)")
    if subscription is None:
        subscription = Subscription("oms.channel-order-intake")
        subscription.each(OrderSubmitted, handler)  # type: ignore[arg-type]
    processor = BatchProcessor(
        service="test",
        database=pool,
        handlers=subscription.handlers,
        topic_prefix="tx.",
        attempts=3,
        finish=finish,
    )
    return processor, pool


async def test_a_handler_that_swallows_a_database_error_only_costs_its_own_event(env: Env) -> None:
    async def handler(work: UnitOfWork, received: Received[OrderSubmitted]) -> None:
        order = received.payload
        external = order.external_order_id
        await work.conn.execute("INSERT INTO seen VALUES ($1)", external)
        if external == "bad":
            try:  # a bug: the error is caught, the transaction is left failed
                await work.conn.execute("INSERT INTO seen VALUES ($1)", external)
            except asyncpg.UniqueViolationError:
                pass
        work.emit(
            OrderAccepted(order_id=f"ord-{external}", **order.model_dump(exclude={"extras"})),
            subject=f"ord-{external}",
        )

    processor, pool = await _processor(env, handler)
    try:
        result = await processor.process(
            [
                _record(0, encoded(order_submitted("a"))),
                _record(1, encoded(order_submitted("bad"))),
                _record(2, encoded(order_submitted("b"))),
            ]
        )
        assert result.processed == 2
        assert [(d.offset, d.reason) for d in result.dead_lettered] == [(1, "handler_failed")]
        assert "InFailedSQLTransactionError" in result.dead_lettered[0].detail
        assert {r[0] for r in await pool.fetch("SELECT external_order_id FROM seen")} == {"a", "b"}
        topics = [r[0] for r in await pool.fetch("SELECT topic FROM oms_outbox ORDER BY id")]
        assert topics == [
            "tx.oms.orders",
            "tx.oms.orders",
            "tx.oms.channel-order-intake.dlq",
            "tx.oms.operations",
        ]
        # The dead-lettered event is not in the inbox: a re-driven copy will be processed.
        assert await pool.fetchval("SELECT count(*) FROM oms_inbox") == 2
    finally:
        await pool.close()


async def test_hostile_bytes_and_headers_are_dead_lettered_not_crashing(env: Env) -> None:
    processor, pool = await _processor(env, record_seen)
    try:
        result = await processor.process(
            [
                _record(0, b'{"\\u0000x": 1}', headers=(("nul\x00name", b"\x00\xff"),)),
                _record(1, b"\xed\xa0\x80 lone surrogate bytes"),
                _record(2, b"x" * 1_100_000),
                _record(3, encoded(order_submitted("ok"))),
                # Types no handler could be keyed by: refused, not raised.
                _record(4, json.dumps({"type": ["OrderSubmitted"], "id": str(uuid4())}).encode()),
                _record(5, json.dumps({"type": {"a": 1}, "id": str(uuid4())}).encode()),
            ]
        )
        assert [d.reason for d in result.dead_lettered] == [
            "malformed",
            "malformed",
            "too_large",
            "malformed",
            "malformed",
        ]
        assert result.processed == 1
        stored = await pool.fetch(
            'SELECT "offset", reason, detail FROM oms_dead_letters ORDER BY 1'
        )
        assert [(r["offset"], r["reason"]) for r in stored] == [
            (0, "malformed"),
            (1, "malformed"),
            (2, "too_large"),
            (4, "malformed"),
            (5, "malformed"),
        ]
        assert "\x00" not in stored[0]["detail"]
        keys = await pool.fetchval("SELECT header_keys FROM oms_outbox ORDER BY id LIMIT 1")
        assert keys[0] == "nul\\x00name"
    finally:
        await pool.close()


async def test_a_batch_prepared_ahead_applies_as_one_decoded_after_its_claim(env: Env) -> None:
    """A rebuild decodes its next batch while the one before commits (``prepare``): the
    outcome must be the same as the live path's, which decodes a record once it is claimed."""
    valid = encoded(order_submitted("valid"))
    broken = json.loads(encoded(order_submitted("broken")))
    broken["data"]["lines"] = "not a list"
    earlier = encoded(order_submitted("earlier"))
    broken_earlier = json.loads(earlier)
    broken_earlier["data"]["lines"] = "not a list"
    batch = [
        _record(1, valid),
        _record(2, json.dumps(broken).encode()),
        _record(3, valid),  # a second copy in the same batch
        _record(4, earlier),  # applied by a batch before
        _record(5, b"not json"),
        _record(6, json.dumps(broken_earlier).encode()),  # a duplicate, invalid or not
        _record(7, json.dumps({"type": ["OrderSubmitted"], "id": str(uuid4())}).encode()),
    ]
    outcomes = []
    for database, prepare in (("live", False), ("prepared", True)):
        processor, pool = await _processor(env, record_seen, database=database)
        try:
            await processor.process([_record(0, earlier)])
            prepared = await processor.prepare(batch) if prepare else None
            result = await processor.process(batch, prepared)
            outcomes.append(
                (
                    result.processed,
                    result.duplicates,
                    sorted((d.offset, d.reason) for d in result.dead_lettered),
                    await pool.fetch("SELECT * FROM seen ORDER BY 1"),
                    await pool.fetch('SELECT event_id, "offset" FROM oms_inbox ORDER BY 2'),
                )
            )
        finally:
            await pool.close()
    live, prepared_ahead = outcomes
    assert live[:3] == (1, 3, [(2, "invalid_payload"), (5, "malformed"), (7, "malformed")])
    assert [r["external_order_id"] for r in live[3]] == ["earlier", "valid"]
    assert prepared_ahead == live


async def test_redelivered_batch_has_no_second_effect(env: Env) -> None:
    processor, pool = await _processor(env, record_seen)
    try:
        batch = [_record(0, encoded(order_submitted("once")))]
        first = await processor.process(batch)
        again = await processor.process(batch)
        assert (first.processed, first.duplicates) == (1, 0)
        assert (again.processed, again.duplicates) == (0, 1)
        assert await pool.fetchval("SELECT count(*) FROM seen") == 1
    finally:
        await pool.close()


async def test_a_recreated_topic_reusing_offsets_still_dead_letters_its_records(env: Env) -> None:
    processor, pool = await _processor(env, record_seen)
    try:
        first = await processor.process([_record(7, b"not json")])
        again = await processor.process([_record(7, b"not json")])  # a redelivery
        reused = await processor.process([_record(7, b"other bytes, same offset")])
        same_bytes = await processor.process([_record(7, b"not json", key=b"another key")])
        assert [len(r.dead_lettered) for r in (first, again, reused, same_bytes)] == [1, 0, 1, 1]
        assert await pool.fetchval("SELECT count(*) FROM oms_dead_letters") == 3
        dlq = await pool.fetchval(
            "SELECT count(*) FROM oms_outbox WHERE topic = 'tx.oms.channel-order-intake.dlq'"
        )
        assert dlq == 3
    finally:
        await pool.close()


async def test_each_dead_letter_is_told_once_on_the_operations_topic_without_its_value(
    env: Env,
) -> None:
    processor, pool = await _processor(env, record_seen)
    try:
        poison = encoded(order_submitted("x")).replace(b'"quantity":', b'"quantity":-')
        batch = [_record(3, poison, key=b"webshop:secret@example.com")]
        first = await processor.process(batch)
        again = await processor.process(batch)  # a redelivery: kept once, told once
        assert [len(r.dead_lettered) for r in (first, again)] == [1, 0]
        rows = await pool.fetch(
            "SELECT key, payload FROM oms_outbox WHERE topic = 'tx.oms.operations'"
        )
        assert len(rows) == 1
        alert = decode(rows[0]["payload"])
        assert alert.envelope.type == "RecordDeadLettered"
        assert alert.envelope.subject == f"{TOPIC}:0:3"
        assert rows[0]["key"] == TOPIC.encode()
        assert alert.payload.model_dump(exclude={"dead_lettered_at", "record_event_id"}) == {
            "service": "test",
            "topic": TOPIC,
            "partition": 0,
            "offset": 3,
            "reason": "invalid_payload",
            "attempts": 1,
            "record_type": "OrderSubmitted",
        }
        assert b"secret@example.com" not in rows[0]["payload"]
        # A record of the operations topic itself is kept, but not told again (no loop).
        own = ConsumedRecord("tx.oms.operations", 0, 0, b"k", b"not json", ())
        assert len((await processor.process([own])).dead_lettered) == 1
        told = "SELECT count(*) FROM oms_outbox WHERE topic = 'tx.oms.operations'"
        assert await pool.fetchval(told) == 1
    finally:
        await pool.close()


async def test_a_rejected_event_is_dead_lettered_at_once_and_leaves_no_notes_behind(
    env: Env,
) -> None:
    attempts: list[str] = []
    finished: list[list[str]] = []
    seen_note: Note[list[str]] = Note("seen", list)

    async def handler(work: UnitOfWork, received: Received[OrderSubmitted]) -> None:
        external = received.payload.external_order_id
        attempts.append(external)
        work.notes[seen_note].append(external)
        await work.conn.execute("INSERT INTO seen VALUES ($1)", external)
        if external == "refused":
            raise RejectedEvent("unknown_sku", f"order {external} names an unknown SKU")

    async def finish(work: UnitOfWork) -> None:
        finished.append(list(work.notes[seen_note]))
        await work.conn.execute(
            "INSERT INTO seen VALUES ($1)", "finished:" + ",".join(finished[-1])
        )

    processor, pool = await _processor(env, handler, finish)
    try:
        result = await processor.process(
            [
                _record(0, encoded(order_submitted("a"))),
                _record(1, encoded(order_submitted("refused"))),
                _record(2, encoded(order_submitted("b"))),
            ]
        )
        assert [(d.offset, d.reason, d.attempts) for d in result.dead_lettered] == [
            (1, "unknown_sku", 1)
        ]
        assert "unknown SKU" in result.dead_lettered[0].detail
        # The fast path ran every event once, the isolated re-run once more: no retries.
        assert attempts.count("refused") == 2
        # Retried alone, each kept event finished with its own notes; the refused one's
        # notes went with its rolled-back attempt.
        assert finished == [["a"], ["b"]]
        seen = {r[0] for r in await pool.fetch("SELECT external_order_id FROM seen")}
        assert seen == {"a", "b", "finished:a", "finished:b"}
    finally:
        await pool.close()


async def test_a_batch_finishes_once_with_every_handler_s_notes(env: Env) -> None:
    finished: list[list[str]] = []
    seen_note: Note[list[str]] = Note("seen", list)

    async def handler(work: UnitOfWork, received: Received[OrderSubmitted]) -> None:
        work.notes[seen_note].append(received.payload.external_order_id)

    async def finish(work: UnitOfWork) -> None:
        finished.append(list(work.notes[seen_note]))

    processor, pool = await _processor(env, handler, finish)
    try:
        await processor.process(
            [_record(n, encoded(order_submitted(name))) for n, name in enumerate("abc")]
        )
        assert finished == [["a", "b", "c"]]
    finally:
        await pool.close()


async def test_a_set_based_handler_takes_each_run_of_its_type_whole_and_in_order(
    env: Env,
) -> None:
    calls: list[str] = []

    async def submitted(work: UnitOfWork, orders: Sequence[Received[OrderSubmitted]]) -> None:
        externals = [r.payload.external_order_id for r in orders]
        calls.append("orders " + ",".join(externals))
        await work.conn.execute("INSERT INTO seen SELECT * FROM unnest($1::text[])", externals)
        for r in orders:
            order_id = f"ord-{r.payload.external_order_id}"
            work.caused_by(r.envelope).emit(
                OrderAccepted(order_id=order_id, **r.payload.model_dump(exclude={"extras"})),
                subject=order_id,
            )

    async def canceled(work: UnitOfWork, received: Received[OrderCancellationRequested]) -> None:
        calls.append(f"cancel {received.payload.external_order_id}")

    # Orders as a set, cancellations one at a time.
    intake = (
        Subscription("oms.channel-order-intake")
        .batch(OrderSubmitted, submitted)
        .each(OrderCancellationRequested, canceled)
    )
    processor, pool = await _processor(env, None, subscription=intake)
    cancel = OrderCancellationRequested(
        channel="web", external_order_id="b", requested_at=datetime.now(UTC)
    )
    try:
        result = await processor.process(
            [
                _record(0, encoded(order_submitted("a"))),
                _record(1, encoded(order_submitted("b"))),
                _record(
                    2, encode(new_event(cancel, subject="b", source="shop", correlation_id="t"))
                ),
                _record(3, encoded(order_submitted("c"))),
                _record(4, encoded(order_submitted("a"))),  # breaks the unique key
            ]
        )
        # Runs of one type, in the batch's order; then, after one event failed, each event
        # again on its own in a savepoint, and the failing one dead-lettered.
        assert calls[:3] == ["orders a,b", "cancel b", "orders c,a"]
        assert calls[3:] == ["orders a", "orders b", "cancel b", "orders c"] + ["orders a"] * 3
        assert result.processed == 4
        assert [(d.offset, d.reason) for d in result.dead_lettered] == [(4, "handler_failed")]
        accepted = await pool.fetch("SELECT payload FROM oms_outbox WHERE topic = 'tx.oms.orders'")
        causes = {decode(r["payload"]).envelope.causationid for r in accepted}
        assert len(accepted) == 3 and len(causes) == 3
    finally:
        await pool.close()


async def test_an_event_no_handler_takes_is_ignored_without_reading_its_payload(env: Env) -> None:
    processor, pool = await _processor(env, record_seen)
    cancel = OrderCancellationRequested(
        channel="web", external_order_id="x", requested_at=datetime.now(UTC)
    )
    document = json.loads(encode(new_event(cancel, subject="x", source="shop", correlation_id="t")))
    del document["data"]["requested_at"]  # invalid, but only for a consumer that reads it
    try:
        result = await processor.process(
            [_record(0, json.dumps(document).encode()), _record(1, encoded(order_submitted("y")))]
        )
        assert (result.ignored, result.processed, result.dead_lettered) == (1, 1, [])
    finally:
        await pool.close()


async def test_a_job_woken_by_a_batch_is_woken_once_it_committed(env: Env) -> None:
    due = Wakeup()
    seen_when_woken: list[int] = []

    async def handler(work: UnitOfWork, received: Received[OrderSubmitted]) -> None:
        await record_seen(work, received)
        work.wake_on_commit(due)

    processor, pool = await _processor(env, handler)

    async def job() -> None:
        await due.wait(longest_s=60)
        seen_when_woken.append(await pool.fetchval("SELECT count(*) FROM seen"))

    try:
        woken = asyncio.ensure_future(job())
        await processor.process([_record(0, encoded(order_submitted("woken")))])
        await asyncio.wait_for(woken, timeout=5)
        assert seen_when_woken == [1]
    finally:
        await pool.close()
