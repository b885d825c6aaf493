"""A channel's cancel of an order while the order itself is being submitted by another path,
on PostgreSQL without Kafka: the order posted over HTTP in one transaction, the cancel read
from the intake topic in another, at once. Whichever takes the order's identity first, the
order ends canceled; before, the cancel could find no order (not yet committed) and be kept
for later while the submission found no cancel kept (not yet committed): an order the
customer canceled went on to be paid, sourced and shipped."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import pytest

from oms_order.adapters import MIGRATIONS, shipments
from oms_order.adapters import orders as order_store
from oms_order.domain.identity import order_id_for
from oms_order.domain.validation import RiskPolicy, ValidationPolicy
from oms_order.service_layer.actions import OrderActions
from oms_order.service_layer.timeline import flush_timeline
from oms_runtime import Outbox, UnitOfWork
from services.order.tests.fakes import FakePayments
from tests.support.concurrency import second_while_first_open, three_connections
from tests.support.orders import CHANNEL, order_submitted
from tests.support.world import Env

pytestmark = pytest.mark.integration

EXTERNAL = "RACE-1"
ORDER_ID = order_id_for(CHANNEL, EXTERNAL)
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
async def connections(env: Env) -> AsyncIterator[list[asyncpg.Connection]]:
    """The HTTP request's connection, the intake consumer's and an observer's."""
    async with three_connections(await env.migrated_database("order", MIGRATIONS)) as opened:
        yield opened


def _actions() -> OrderActions:
    return OrderActions(
        payments=FakePayments(),
        orders=order_store,
        shipments=shipments,
        validation=ValidationPolicy(),
        risk=RiskPolicy(),
        clock=lambda: NOW,
    )


def _work(conn: asyncpg.Connection) -> UnitOfWork:
    return UnitOfWork(conn=conn, outbox=Outbox(source="oms/order"), cause=uuid.uuid4())


async def _submit(actions: OrderActions, conn: asyncpg.Connection) -> None:
    work = _work(conn)
    await actions.submit(work, order_submitted(EXTERNAL))
    await flush_timeline(work)


async def _cancel(actions: OrderActions, conn: asyncpg.Connection) -> None:
    work = _work(conn)
    await actions.request_cancellation(
        work,
        channel=CHANNEL,
        external_order_id=EXTERNAL,
        lines=(),
        reason="changed my mind",
        requested_at=NOW,
    )
    await flush_timeline(work)


Step = Callable[[OrderActions, asyncpg.Connection], Awaitable[None]]


@pytest.mark.parametrize(("first_step", "second_step"), [(_submit, _cancel), (_cancel, _submit)])
async def test_a_cancel_racing_its_order_s_submission_cancels_it(
    connections: list[asyncpg.Connection], first_step: Step, second_step: Step
) -> None:
    first_conn, second_conn, observer = connections
    actions = _actions()
    first = first_conn.transaction()
    await first.start()
    await first_step(actions, first_conn)
    await second_while_first_open(
        first, observer, second_conn, lambda: second_step(actions, second_conn)
    )
    status = await observer.fetchval("SELECT status FROM orders WHERE order_id = $1", ORDER_ID)
    assert status == "CANCELED"
    kept = await observer.fetchval("SELECT count(*) FROM pending_cancellations")
    assert kept == 0
