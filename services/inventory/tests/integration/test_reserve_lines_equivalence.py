"""The in-memory ``inventory_reserve_lines`` (migration 0008) against the one it replaced,
which took a run's lines one statement at a time (0004), on the real PostgreSQL: random runs
of requests, all-or-nothing or not, over plenty, scarce, missing and unknown stock, must get
the same answers and leave the same stock rows, movements and reservations."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from oms_inventory.adapters import MIGRATIONS
from oms_runtime import RUNTIME_MIGRATIONS, apply_migrations
from tests.support.stack import REPO
from tests.support.world import Env

pytestmark = pytest.mark.integration

_MIGRATIONS = REPO / "services/inventory/src/oms_inventory/adapters/migrations"
_SKUS = ["SKU-A", "SKU-B", "SKU-C", "SKU-D", "SKU-NONE"]  # SKU-NONE: not in the catalogue
_LOCATIONS = ["wh-1", "st-1", "wh-x"]  # wh-x: not a location
_CALL = (
    "SELECT * FROM {}($1::int[], $2::int[], $3::bool[], $4::text[], $5::text[], $6::text[],"
    " $7::int[], $8::timestamptz[])"
)


async def _reference(conn: asyncpg.Connection) -> None:
    """0004's function, by line, under a name of its own."""
    text = (_MIGRATIONS / "0004_reserve_run_reasons.sql").read_text()
    body = text[text.index("CREATE FUNCTION inventory_reserve_run(") :]
    await conn.execute(body.replace("inventory_reserve_run(", "reference_reserve_lines(", 1))


def _run(rng: random.Random, number: int) -> tuple[list[Any], list[tuple[str, str, int]]]:
    """Arguments of one run of requests, and the reservations to claim for them."""
    first, last, aon, ids, skus, locations, quantities, expires = ([] for _ in range(8))
    at = datetime(2026, 12, 3, 12, tzinfo=UTC)
    for request in range(rng.randint(1, 8)):
        first.append(len(ids) + 1)
        for line in range(rng.randint(1, 4)):
            ids.append(f"res-{number}-{request}-{line}")
            skus.append(rng.choice(_SKUS))
            locations.append(rng.choice(_LOCATIONS))
            quantities.append(rng.randint(1, 6))
            expires.append(at + timedelta(minutes=rng.randint(1, 60)))
        last.append(len(ids))
        aon.append(rng.random() < 0.4)
    claims = list(zip(ids, skus, locations, quantities, strict=True))
    return [first, last, aon, ids, skus, locations, quantities, expires], claims


async def _outcome(
    conn: asyncpg.Connection, function: str, args: list[Any], claims: list[Any]
) -> Any:
    """What ``function`` answers and leaves, rolled back afterwards."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.executemany(
            # An earlier attempt's expiry: a failed line keeps it, a held one replaces it.
            "INSERT INTO reservations (reservation_id, request_id, order_id, line_id, sku,"
            " location_id, quantity, status, expires_at)"
            " VALUES ($1, 'rq', 'ord', $1, $2, $3, $4, 'failed', '2026-01-01T00:00:00Z')",
            claims,
        )
        answers = [tuple(r) for r in await conn.fetch(_CALL.format(function), *args)]
        stock = await conn.fetch(
            "SELECT sku, location_id, reserved, version FROM stock ORDER BY sku, location_id"
        )
        movements = await conn.fetch(
            "SELECT sku, location_id, kind, reserved_delta, reference FROM stock_movements"
            " ORDER BY movement_id"
        )
        reservations = await conn.fetch(
            "SELECT reservation_id, status, reason, expires_at FROM reservations"
            " ORDER BY reservation_id"
        )
        return (
            answers,
            [tuple(r) for r in stock],
            [tuple(r) for r in movements],
            [tuple(r) for r in reservations],
        )
    finally:
        await transaction.rollback()


async def test_random_runs_get_the_answers_and_leave_the_state_of_one_line_at_a_time(
    env: Env,
) -> None:
    pool = await asyncpg.create_pool(await env.database("inventory"), min_size=1, max_size=2)
    assert pool is not None
    try:
        await apply_migrations(pool, {"runtime": RUNTIME_MIGRATIONS, "inventory": MIGRATIONS})
        async with pool.acquire() as conn:
            await _reference(conn)
            await conn.execute(
                "INSERT INTO locations (location_id, name, location_type, latitude, longitude)"
                " VALUES ('wh-1', 'Warehouse', 'warehouse', 53.5, 10.0),"
                " ('st-1', 'Store', 'store', 52.5, 13.4);"
                " INSERT INTO items (sku, name) VALUES ('SKU-A', 'A'), ('SKU-B', 'B'),"
                " ('SKU-C', 'C'), ('SKU-D', 'D');"
                # SKU-D has no stock row anywhere; SKU-C only at the store, with safety stock;
                # SKU-B at the store has less on hand than its safety stock (below zero).
                " INSERT INTO stock (sku, location_id, on_hand, reserved, safety_stock) VALUES"
                " ('SKU-A', 'wh-1', 40, 5, 0), ('SKU-A', 'st-1', 6, 0, 2),"
                " ('SKU-B', 'wh-1', 9, 2, 1), ('SKU-B', 'st-1', 1, 0, 3),"
                " ('SKU-C', 'st-1', 12, 0, 3)"
            )
            # An empty run answers nothing and changes nothing.
            empty = [[], [], [], [], [], [], [], []]
            assert await _outcome(conn, "inventory_reserve_lines", empty, []) == await _outcome(
                conn, "reference_reserve_lines", empty, []
            )
            rng = random.Random(20261203)
            held = failed = aon_refused = 0
            for number in range(150):
                args, claims = _run(rng, number)
                expected = await _outcome(conn, "reference_reserve_lines", args, claims)
                seen = await _outcome(conn, "inventory_reserve_lines", args, claims)
                assert seen == expected, f"run {number}: {args}"
                held += sum(1 for a in expected[0] if a[1])
                failed += sum(1 for a in expected[0] if not a[1])
                aon_refused += sum(1 for a in expected[0] if a[3] and a[3].startswith("all_or"))
            # The runs reached every branch: lines held, refused, refused for their set.
            assert held > 100 and failed > 100 and aon_refused > 5, (held, failed, aon_refused)
    finally:
        await pool.close()
