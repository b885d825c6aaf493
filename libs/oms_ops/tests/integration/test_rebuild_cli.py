"""``oms rebuild`` on the real broker and database, the inventory service as a process."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from tests.support.inventory import (
    BERLIN,
    HAMBURG,
    MUG,
    MUNICH,
    TSHIRT,
    feed,
    import_catalogue,
    receipt,
    request,
    reserve,
    stale,
)
from tests.support.operator import audit_events, oms
from tests.support.rebuild import admin, end_offsets, exists, fetch, group_idle, url
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration


async def _all_applied(env: Env, events: int) -> bool:
    rows = await env.fetch("inventory", "SELECT count(*) AS n FROM oms_inbox")
    return int(rows[0]["n"]) >= events


_COMMENT = "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1"


async def test_inventory_rebuild_reproduces_the_state_and_swaps_only_when_asked(
    env: Env, tmp_path: Path
) -> None:
    await import_catalogue(env, tmp_path)
    # The catalogue's stock row (TSHIRT at Berlin) existed before today's midnight: the day
    # close publishes yesterday's StockDayClosed for it; the rows the receipts create are new.
    await env.fetch("inventory", "UPDATE stock SET created_at = now() - interval '1 day'")
    inventory = await env.service(
        "inventory", OMS_RESERVATION_SWEEP_S="0.5", OMS_STOCK_DAY_CLOSE_SWEEP_S="0.5"
    )
    await inventory.wait_ready()
    services: dict[str, str | None] = {"inventory": inventory.url}
    live_db = f"t{env.run}_inventory"
    # Cleaned up with the test's databases, whatever the outcome.
    env.databases.append(f"{live_db}_rebuild")

    await feed(
        env,
        receipt("rcv-1", TSHIRT, HAMBURG, 10),
        receipt("rcv-2", MUG, MUNICH, 5),
        receipt("rcv-3", TSHIRT, BERLIN, 4),
    )
    await wait_for(lambda: _all_applied(env, 3), what="the receipts applied")
    await request(
        env,
        reserve("ORD-1", (TSHIRT, HAMBURG, 2), (MUG, MUNICH, 1)),
        reserve("ORD-2", (MUG, MUNICH, 9)),  # more than there is: fails
        reserve("ORD-3", (TSHIRT, BERLIN, 3), all_or_nothing=True),  # 2 are safety stock
        reserve("ORD-4", (TSHIRT, HAMBURG, 8)),
        # Held for a second from a minute ago: the sweep expires it by the clock.
        reserve("ORD-5", (MUG, MUNICH, 2), hold_for_s=1, requested_at=stale(60)),
    )
    await wait_for(lambda: _all_applied(env, 8), what="the reservation requests applied")

    async def settled() -> dict[str, int] | None:
        rows = await env.fetch(
            "inventory", "SELECT status, count(*) AS n FROM reservations GROUP BY 1"
        )
        counted = {r["status"]: r["n"] for r in rows}
        return counted if counted.get("expired") else None

    held = await wait_for(settled, what="the sweep to expire ORD-5's hold")
    assert held == {"held": 3, "failed": 2, "expired": 1}

    async def day_closed() -> list[tuple[str, str]]:
        rows = await env.fetch("inventory", "SELECT sku, location_id FROM stock_days_closed")
        return [(r["sku"], r["location_id"]) for r in rows]

    assert await wait_for(day_closed, what="yesterday closed") == [(TSHIRT, BERLIN)]

    # While the worker runs, the live state moves: refused.
    running = await oms(env, "rebuild", "inventory", services=services)
    assert running.code == 3, running.stderr
    assert "active member" in running.stderr

    inventory.stop()
    await wait_for(
        lambda: group_idle(env, "inventory"), what="the inventory group empty, offsets committed"
    )
    before = await end_offsets(env)
    live_stock = await env.fetch("inventory", "SELECT * FROM stock ORDER BY sku, location_id")
    # Alert states moved (out of stock, low): a rebuild builds no availability event, but
    # must still move them.
    assert {r["alert_state"] for r in live_stock} - {"ok"}

    # A database of the rebuild's name that no rebuild made is neither dropped nor used.
    await admin(env, f'CREATE DATABASE "{live_db}_rebuild"')
    foreign = await oms(env, "rebuild", "inventory", services=services)
    assert foreign.code == 1, foreign.stderr
    assert "not marked as a rebuild" in foreign.stderr
    assert await exists(env, f"{live_db}_rebuild")
    await admin(env, f'DROP DATABASE "{live_db}_rebuild"')

    done = await oms(env, "rebuild", "inventory", "--json", services=services)
    assert done.code == 0, done.stderr
    report = done.json()
    assert report["match"] is True
    assert report["input_events"] == 8
    # The sweep's decision was read back from oms.inventory with the rest of its output.
    assert report["events"] > 8
    assert report["seeded"] == {"items": 2, "locations": 3, "stock": 3}
    tables = {t["table"]: t for t in report["tables"]}
    assert set(tables) == {
        "stock",
        "reservations",
        "applied_references",
        "transfers",
        "stock_days_closed",
        "stock_movements",
        "oms_inbox",
    }
    assert all(t["match"] for t in tables.values())
    assert tables["reservations"]["rows_rebuilt"] == 6
    # The day close's decision was read back from oms.inventory too.
    assert tables["stock_days_closed"]["rows_rebuilt"] == 1
    assert tables["oms_inbox"]["rows_rebuilt"] == 8
    expired = await fetch(
        env,
        f"{live_db}_rebuild",
        "SELECT status FROM reservations WHERE order_id = 'ORD-5'",
    )
    assert [r["status"] for r in expired] == ["expired"]
    assert tables["stock"]["checksum_live"] == tables["stock"]["checksum_rebuilt"] != "-"
    assert report["swapped"] is False
    # No side effect repeated: nothing published (every topic's end unchanged), the rebuilt
    # outbox emptied, the live database untouched.
    assert await end_offsets(env) == before
    rebuilt_outbox = await fetch(env, f"{live_db}_rebuild", "SELECT count(*) AS n FROM oms_outbox")
    assert rebuilt_outbox[0]["n"] == 0
    assert await env.fetch("inventory", "SELECT * FROM stock ORDER BY sku, location_id") == (
        live_stock
    )

    # A row changed in the live database: reported, and the swap refused.
    await _shift_on_hand(env, 1)
    differs = await oms(env, "rebuild", "inventory", "--swap", "--json", services=services)
    assert differs.code == 8, differs.stderr
    mismatch = differs.json()
    assert mismatch["match"] is False
    assert [t["table"] for t in mismatch["tables"] if not t["match"]] == ["stock"]
    assert mismatch["swapped"] is False
    assert "swap refused" in differs.stderr
    await _shift_on_hand(env, -1)

    # Events the relay has not sent yet would be lost with the live database: refused.
    await env.fetch(
        "inventory", "INSERT INTO oms_outbox (topic, payload) VALUES ('t.unsent', '\\x00')"
    )
    unsent = await oms(env, "rebuild", "inventory", "--swap", services=services)
    assert unsent.code == 3, unsent.stderr
    assert "1 in oms_outbox" in unsent.stderr
    await env.fetch("inventory", "DELETE FROM oms_outbox WHERE topic = 't.unsent'")

    swapped = await oms(env, "rebuild", "inventory", "--swap", "--json", services=services)
    assert swapped.code == 0, swapped.stderr
    outcome = swapped.json()
    assert outcome["match"] is True
    assert outcome["swapped"] is True
    kept = outcome["kept_as"]
    env.databases.append(kept)
    assert kept.startswith(f"{live_db}_before_rebuild_")
    assert await exists(env, kept)
    assert not await exists(env, f"{live_db}_rebuild")
    # The live name carries no rebuild mark: the service's rebuild mode refuses it.
    assert await admin(env, _COMMENT, live_db) is None
    code, stderr = await _rebuild_mode(
        env, into=await env.database("inventory"), seed=url(env, kept)
    )
    assert code == 1, stderr
    assert f"database {live_db} is not marked as a rebuild database" in stderr
    # The live name now holds the rebuilt state: the same stock, its own inbox.
    assert await env.fetch("inventory", "SELECT * FROM stock ORDER BY sku, location_id") != []
    swapped_stock = await env.fetch(
        "inventory", "SELECT sku, location_id, on_hand, reserved FROM stock ORDER BY 1, 2"
    )
    assert [tuple(r) for r in swapped_stock] == [
        (r["sku"], r["location_id"], r["on_hand"], r["reserved"]) for r in live_stock
    ]
    assert await end_offsets(env) == before

    # A topic whose first records retention deleted cannot be rebuilt from: refused, saying
    # where the records now begin.
    fed = env.topic("oms.inventory-feed")
    partition = min(p for (topic, p), end in before.items() if topic == fed and end > 0)
    await _delete_first_record(env, fed, partition)
    gone = await oms(env, "rebuild", "inventory", services=services)
    assert gone.code == 9, gone.stderr
    assert f"retention deleted them): {fed}[{partition}] from 1" in gone.stderr

    audits = await audit_events(env, at_least=7)
    # Keyed by subject: one service's actions are in order, two services' need not be.
    ours = [a for a in audits if a["subject"] == f"inventory:{live_db}"]
    assert [(a["action"], a["parameters"]["outcome"]) for a in ours] == [
        ("rebuild_state", "refused"),
        ("rebuild_state", "failed"),
        ("rebuild_state", "ok"),
        ("rebuild_state", "refused"),
        ("rebuild_state", "refused"),
        ("rebuild_state", "ok"),
        ("rebuild_state", "refused"),
    ]
    assert ours[2]["parameters"]["events"] == "8"
    assert ours[3]["parameters"]["mismatched"] == "stock"
    assert ours[5]["parameters"]["kept_as"] == kept


async def _delete_first_record(env: Env, topic: str, partition: int) -> None:
    """What retention does: the partition's log now begins at offset 1."""
    admin_client = AIOKafkaAdminClient(bootstrap_servers=env.bootstrap)
    await admin_client.start()
    try:
        await admin_client.delete_records({TopicPartition(topic, partition): RecordsToDelete(1)})
    finally:
        await admin_client.close()


async def _shift_on_hand(env: Env, units: int) -> None:
    """Change one live stock row behind the service's back."""
    await env.fetch(
        "inventory",
        "UPDATE stock SET on_hand = on_hand + $3 WHERE sku = $1 AND location_id = $2",
        MUG,
        MUNICH,
        units,
    )


async def _rebuild_mode(env: Env, *, into: str, seed: str) -> tuple[int, str]:
    """``python -m oms_inventory rebuild`` started by hand: its exit status and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "oms_inventory",
        "rebuild",
        "--stop-at",
        "[]",
        env={
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": env.bootstrap,
            "OMS_TOPIC_PREFIX": env.prefix,
            "OMS_DATABASE_URL": into,
            "OMS_REBUILD_SEED_DATABASE_URL": seed,
        },
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    return await process.wait(), stderr.decode(errors="replace")
