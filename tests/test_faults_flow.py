"""Orders placed while the services and the infrastructure are hurt, checked afterwards the
way Jepsen checks a run.

On a stack of the test's own (what a second clone's stack is to deploy/local/stack, so the
suite's shared broker and database are left alone): order, two inventory workers, two
orchestration workers and notification as OS processes. While 120 one-unit orders for a SKU
with 60 units stream in, a fifth at a time: an inventory worker is SIGKILLed and started again;
an orchestration worker is SIGSTOPped past its session timeout (its partitions move while it
may hold a batch open) and woken; every connection of the order service's database is
terminated; the Kafka broker is SIGKILLed and started again; PostgreSQL is stopped in immediate
mode (every backend killed, no checkpoint: crash recovery at its start) and started again.
Afterwards every order reached exactly one final state, the services agree on which orders were
released, the stock balances (exactly 60 held, never more, the ledger adding up to the row),
nothing was dead-lettered and each customer was told each change exactly once.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from oms_order.domain.identity import order_id_for
from tests.support.inventory import HAMBURG, TSHIRT, feed, import_catalogue, receipt, send
from tests.support.orchestration import SOURCING, write_sourcing
from tests.support.orders import CHANNEL, encoded, order_submitted
from tests.support.processes import ServiceProcess, stop_all
from tests.support.smtp import SmtpServer
from tests.support.stack import PrivateStack
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

ORDERS = 120
UNITS = 60
SESSION_TIMEOUT_S = 6  # the shortest the runtime allows: the stopped worker is out after it
SESSION = {"OMS_KAFKA_SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S)}
FINAL = ("RELEASED", "BACKORDERED")


async def _released_in_orchestration(env: Env) -> int:
    rows = await env.fetch("orchestration", "SELECT count(*) AS n FROM fulfilment_orders")
    return int(rows[0]["n"])


async def _statuses(env: Env) -> Counter[str]:
    rows = await env.fetch("order", "SELECT status, count(*) AS n FROM orders GROUP BY 1")
    return Counter({r["status"]: int(r["n"]) for r in rows})


async def _place(env: Env, first: int, last: int) -> None:
    await send(
        env,
        "oms.channel-order-intake",
        [
            (f"{CHANNEL}:F-{n}", encoded(order_submitted(f"F-{n}", lines=[(TSHIRT, 1)])))
            for n in range(first, last)
        ],
    )


async def _world(env: Env, smtp: SmtpServer, tmp_path: Path, workers: int) -> list[ServiceProcess]:
    """The catalogue, every service (``workers`` of inventory and orchestration) ready, the
    T-shirts received and seen by orchestration: the services, order's first."""
    await import_catalogue(env, tmp_path)
    sourcing = write_sourcing(tmp_path, SOURCING)
    services = [await env.service("order")]
    services += [await env.service("inventory", **SESSION) for _ in range(workers)]
    services += [
        await env.service("orchestration", OMS_SOURCING_CONFIG=sourcing, **SESSION)
        for _ in range(workers)
    ]
    services.append(await env.service("notification", **smtp.env(), OMS_DISPATCH_INTERVAL_S="0.1"))
    for service in services:
        await service.wait_ready()
    await feed(env, receipt("rcv-f", TSHIRT, HAMBURG, UNITS))

    async def stock_seen() -> bool:
        rows = await env.fetch(
            "orchestration",
            "SELECT available FROM availability WHERE sku = $1 AND location_id = $2",
            TSHIRT,
            HAMBURG,
        )
        return bool(rows) and rows[0]["available"] == UNITS

    await wait_for(stock_seen, what="orchestration to see the T-shirts")
    return services


async def _checked(env: Env, smtp: SmtpServer, services: list[ServiceProcess]) -> None:
    """Every order final once, the services agreeing, the stock balancing, nothing
    dead-lettered, nobody told anything twice."""

    async def all_final() -> Counter[str] | None:
        counted = await _statuses(env)
        return counted if sum(counted[s] for s in FINAL) == ORDERS else None

    statuses = await wait_for(all_final, timeout=120, what=f"{ORDERS} orders in a final state")
    assert statuses == Counter({"RELEASED": UNITS, "BACKORDERED": ORDERS - UNITS})
    await _the_services_agree(env)
    await _the_stock_balances(env)

    async def everyone_told() -> list[str] | None:
        subjects = smtp.sink.subjects()
        confirmed = [s for s in subjects if s.endswith("ist bestätigt")]
        return subjects if len(confirmed) == ORDERS else None

    subjects = await wait_for(everyone_told, timeout=90, what="every order's confirmation sent")
    repeated = {s: n for s, n in Counter(subjects).items() if n > 1}
    assert repeated == {}, repeated
    for name in {service.name for service in services}:
        dead = await env.fetch(name, "SELECT count(*) AS n FROM oms_dead_letters")
        assert dead[0]["n"] == 0, name


async def _the_services_agree(env: Env) -> None:
    """The orders the order service released are the ones orchestration released, each once,
    and the ones inventory holds stock for."""
    released = {
        r["order_id"]
        for r in await env.fetch("order", "SELECT order_id FROM orders WHERE status = 'RELEASED'")
    }
    assert released <= {order_id_for(CHANNEL, f"F-{n}") for n in range(ORDERS)}
    fulfilment = await env.fetch("orchestration", "SELECT order_id FROM fulfilment_orders")
    assert sorted(r["order_id"] for r in fulfilment) == sorted(released)
    sagas = await env.fetch("orchestration", "SELECT state, count(*) AS n FROM sagas GROUP BY 1")
    assert sum(r["n"] for r in sagas) == ORDERS
    held = await env.fetch("inventory", "SELECT order_id FROM reservations WHERE status = 'held'")
    assert sorted(r["order_id"] for r in held) == sorted(released)


async def _the_stock_balances(env: Env) -> None:
    [stock] = await env.fetch(
        "inventory",
        "SELECT on_hand, reserved FROM stock WHERE sku = $1 AND location_id = $2",
        TSHIRT,
        HAMBURG,
    )
    assert (stock["on_hand"], stock["reserved"]) == (UNITS, UNITS)
    movements = await env.fetch(
        "inventory",
        "SELECT sum(on_hand_delta) AS on_hand, sum(reserved_delta) AS reserved"
        " FROM stock_movements WHERE sku = $1 AND location_id = $2",
        TSHIRT,
        HAMBURG,
    )
    assert tuple(movements[0]) == (UNITS, UNITS)  # the ledger adds up to the row


async def test_orders_through_every_fault_end_once_each(smtp: SmtpServer, tmp_path: Path) -> None:
    private = PrivateStack(tmp_path / "faults" / ".stack")
    # Commits flushed: a crashed server keeps what it acknowledged, as in production.
    env = Env(private.up(), tmp_path, flush_commits=True)
    env.prefix = ""  # the registry's topics, which `up` made: fewer partitions to recover
    try:
        services = await _world(env, smtp, tmp_path, workers=2)
        inventory, orchestration = services[1:3], services[3:5]
        fifth = ORDERS // 5

        # An inventory worker dies mid-stream and comes back.
        await _place(env, 0, fifth)
        inventory[0].kill()
        assert inventory[0].wait_exit() != 0
        services.append(await env.service("inventory", **SESSION))

        # An orchestration worker frozen past its session timeout while orders come.
        partitions = sum([(await o.wait_ready())["assigned_partitions"] for o in orchestration])
        stopped, survivor = orchestration
        stopped.kill(signal.SIGSTOP)
        try:
            await _place(env, fifth, 2 * fifth)

            async def moved() -> bool:
                report = await survivor.health()
                return bool(report) and report["assigned_partitions"] == partitions

            await wait_for(moved, timeout=6 * SESSION_TIMEOUT_S, what="the frozen worker's work")
        finally:
            stopped.kill(signal.SIGCONT)

        # Every connection of the order service's database dropped mid-stream.
        await _place(env, 2 * fifth, 3 * fifth)
        dropped = await env.fetch(
            "order",
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        assert dropped[0]["n"] > 0

        # The broker SIGKILLed mid-stream and started again.
        await _place(env, 3 * fifth, 4 * fifth)
        private.kill_broker()
        private.up()

        # PostgreSQL stopped in immediate mode mid-stream and started again.
        await _place(env, 4 * fifth, ORDERS)
        private.crash_database()
        private.up()

        await _checked(env, smtp, services)
    finally:
        stop_all(env.processes)
        private.run("reset", check=False)
