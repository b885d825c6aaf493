"""``python -m oms_inventory catalogue import`` on the real database: items, locations and
policies upserted in one transaction, validation before any write, and safety-stock changes
published as availability."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.inventory import (
    BERLIN,
    CATALOGUE,
    HAMBURG,
    MUG,
    MUNICH,
    TSHIRT,
    events_of,
    feed,
    import_catalogue,
    receipt,
    run_cli,
    stock,
)
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration


def write(tmp: Path, document: Any, name: str = "catalogue.json") -> Path:
    path = tmp / name
    if name.endswith((".yaml", ".yml")):
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    else:
        path.write_text(json.dumps(document), encoding="utf-8")
    return path


async def run_import(env: Env, path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return run_cli(env, await env.database("inventory"), "catalogue", "import", str(path), *flags)


async def table_exists(env: Env, table: str) -> bool:
    rows = await env.fetch("inventory", "SELECT to_regclass($1) IS NOT NULL AS found", table)
    return bool(rows[0]["found"])


async def contents(env: Env) -> dict[str, list[tuple[Any, ...]]]:
    """Everything an import may write, to compare before and after."""
    queries = {
        "items": "SELECT sku, name, safety_stock, low_stock_threshold FROM items ORDER BY sku",
        "locations": "SELECT location_id, name, active FROM locations ORDER BY location_id",
        "stock": "SELECT sku, location_id, safety_stock, low_stock_threshold, version"
        " FROM stock ORDER BY sku, location_id",
        "outbox": "SELECT id, topic FROM oms_outbox ORDER BY id",
    }
    return {
        name: [tuple(r) for r in await env.fetch("inventory", sql)] for name, sql in queries.items()
    }


@pytest.mark.parametrize("name", ["catalogue.json", "catalogue.yaml"])
async def test_import_writes_items_locations_and_policies(
    env: Env, tmp_path: Path, name: str
) -> None:
    done = await run_import(env, write(tmp_path, CATALOGUE, name))
    assert done.returncode == 0, done.stderr
    # The summary is the last line (migration logs currently precede it on stdout).
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "imported": {"items": 2, "locations": 3, "stock_policies": 1}
    }

    items = await env.fetch(
        "inventory",
        "SELECT sku, name, length_mm, width_mm, height_mm, weight_g, returnable,"
        " safety_stock, low_stock_threshold FROM items ORDER BY sku",
    )
    assert [tuple(r) for r in items] == [
        (MUG, "Stoneware mug", None, None, None, 420, False, 0, 0),
        (TSHIRT, "Organic T-shirt M navy", 300, 220, 20, 180, True, 0, 5),
    ]

    locations = await env.fetch(
        "inventory",
        "SELECT location_id, name, location_type, latitude, longitude, capabilities, channels,"
        " active FROM locations ORDER BY location_id",
    )
    assert [tuple(r) for r in locations] == [
        (
            BERLIN,
            "Berlin Mitte store",
            "store",
            52.52,
            13.405,
            ["pickup", "ship_from_store"],
            ["web-de"],
            True,
        ),
        (
            HAMBURG,
            "Hamburg DC",
            "warehouse",
            53.5511,
            9.9937,
            ["ship", "ship_to_store"],
            ["web-de", "app"],
            True,
        ),
        (
            MUNICH,
            "Munich DC",
            "warehouse",
            48.1351,
            11.582,
            ["ship"],
            ["web-de", "marketplace"],
            True,
        ),
    ]

    # The Berlin T-shirt policy makes a stock row: its safety stock, the item's threshold.
    rows = await env.fetch(
        "inventory",
        "SELECT sku, location_id, on_hand, reserved, safety_stock, low_stock_threshold FROM stock",
    )
    assert [tuple(r) for r in rows] == [(TSHIRT, BERLIN, 0, 0, 2, 5)]

    # Its availability is waiting in the outbox for the worker's relay.
    outbox = await env.fetch("inventory", "SELECT topic FROM oms_outbox")
    assert {r["topic"] for r in outbox} == {env.topic("oms.availability")}


async def test_check_validates_without_writing(env: Env, tmp_path: Path) -> None:
    good = await run_import(env, write(tmp_path, CATALOGUE), "--check")
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == f"{tmp_path / 'catalogue.json'}: valid"

    bad_document = copy.deepcopy(CATALOGUE)
    bad_document["items"][1]["safety_stock"] = -3
    bad = await run_import(env, write(tmp_path, bad_document, "bad.json"), "--check")
    assert bad.returncode == 2
    assert "items.1.safety_stock: Input should be greater than or equal to 0" in bad.stderr

    # Not even the schema: --check never touches the database.
    assert not await table_exists(env, "items")
    assert not await table_exists(env, "oms_outbox")


@pytest.mark.parametrize(
    ("name", "spoil", "expected"),
    [
        (
            "catalogue.json",
            lambda d: d["locations"][1].update(latitude=123.4),
            "locations.1.latitude: Input should be less than or equal to 90",
        ),
        (
            "catalogue.yaml",
            lambda d: d["items"][0].update(low_stock_threshold="5"),
            "items.0.low_stock_threshold: Input should be a valid integer",
        ),
        (
            "catalogue.json",
            lambda d: d["locations"][2]["capabilities"].append("drone"),
            "locations.2.capabilities.2: Input should be",
        ),
    ],
)
async def test_a_bad_file_exits_2_naming_the_place_and_writes_nothing(
    env: Env, tmp_path: Path, name: str, spoil: Any, expected: str
) -> None:
    await import_catalogue(env, tmp_path)
    before = await contents(env)

    document = copy.deepcopy(CATALOGUE)
    # Valid changes that must not be written beside the bad one...
    document["items"][0]["name"] = "Renamed T-shirt"
    document["items"][0]["safety_stock"] = 9
    document["locations"].append(
        {
            "location_id": "wh-cologne",
            "name": "Cologne DC",
            "type": "warehouse",
            "latitude": 50.9375,
            "longitude": 6.9603,
        }
    )
    spoil(document)
    done = await run_import(env, write(tmp_path, document, name))

    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith("invalid catalogue:"), done.stderr
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert await contents(env) == before


async def test_a_file_that_cannot_be_parsed_exits_2_naming_the_file(
    env: Env, tmp_path: Path
) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text("items:\n  - sku: [unclosed\n", encoding="utf-8")
    done = await run_import(env, path)
    assert done.returncode == 2
    assert f"{path}: not valid YAML" in done.stderr
    assert "Traceback" not in done.stderr

    missing = await run_import(env, tmp_path / "missing.json")
    assert missing.returncode == 2
    assert f"{tmp_path / 'missing.json'}: cannot be read" in missing.stderr
    assert not await table_exists(env, "items")


async def test_a_policy_for_an_unknown_sku_or_location_rolls_back_the_whole_import(
    env: Env, tmp_path: Path
) -> None:
    await import_catalogue(env, tmp_path)
    before = await contents(env)

    document = copy.deepcopy(CATALOGUE)
    # Items and locations are written before the policies are checked against them, so
    # only one transaction around the lot keeps these out.
    document["items"][0]["name"] = "Renamed T-shirt"
    document["items"][0]["safety_stock"] = 9
    document["items"].append({"sku": "CAP-WOOL-L", "name": "Wool cap"})
    document["stock_policies"] += [
        {"sku": MUG, "location_id": HAMBURG, "safety_stock": 1},  # fine on its own
        {"sku": "SKU-NOBODY-KNOWS", "location_id": HAMBURG, "safety_stock": 1},
        {"sku": MUG, "location_id": "wh-atlantis", "low_stock_threshold": 4},
        {"sku": "CAP-WOOL-L", "location_id": MUNICH, "safety_stock": 1},  # new item: fine
    ]
    done = await run_import(env, write(tmp_path, document, "policies.json"))

    assert done.returncode == 2, done.stdout
    assert "stock_policies.2: unknown sku 'SKU-NOBODY-KNOWS'" in done.stderr
    assert "stock_policies.3: unknown location 'wh-atlantis'" in done.stderr
    assert "stock_policies.1" not in done.stderr
    assert "stock_policies.4" not in done.stderr
    assert "Traceback" not in done.stderr
    assert await contents(env) == before


async def test_reimport_with_new_safety_stock_updates_stock_and_publishes_availability(
    env: Env, tmp_path: Path
) -> None:
    await import_catalogue(env, tmp_path)  # T-shirt: safety stock 0 (2 in Berlin), low at 5
    inventory = await env.service("inventory")
    await inventory.wait_ready()
    await feed(
        env,
        receipt("rcv-1", TSHIRT, HAMBURG, 10),
        receipt("rcv-2", TSHIRT, MUNICH, 20),
        receipt("rcv-3", MUG, HAMBURG, 4),
    )

    async def received() -> bool:
        keys = [(TSHIRT, HAMBURG), (TSHIRT, MUNICH), (MUG, HAMBURG)]
        return all([await stock(env, sku, location) for sku, location in keys])

    await wait_for(received, what="the receipts")

    document = copy.deepcopy(CATALOGUE)
    document["items"][0]["safety_stock"] = 6  # Hamburg: 10 - 6 = 4 available, low
    done = await run_import(env, write(tmp_path, document, "safety.json"))
    assert done.returncode == 0, done.stderr

    assert (await stock(env, TSHIRT, HAMBURG))["safety_stock"] == 6
    assert (await stock(env, TSHIRT, MUNICH))["safety_stock"] == 6
    assert (await stock(env, TSHIRT, BERLIN))["safety_stock"] == 2  # the policy still rules
    assert (await stock(env, MUG, HAMBURG))["safety_stock"] == 0  # another item: untouched

    async def published() -> dict[str, Any]:
        changes = await events_of(env, "oms.availability", 1, "AvailabilityChanged")
        latest = {e.payload.location_id: e.payload for e in changes if e.payload.sku == TSHIRT}
        moved = all(p.safety_stock == 6 for k, p in latest.items() if k in (HAMBURG, MUNICH))
        return latest if moved and {HAMBURG, MUNICH} <= latest.keys() else {}

    latest = await wait_for(published, what="AvailabilityChanged with the new safety stock")
    assert (latest[HAMBURG].on_hand, latest[HAMBURG].available) == (10, 4)
    assert (latest[MUNICH].on_hand, latest[MUNICH].available) == (20, 14)
    assert latest[BERLIN].safety_stock == 2

    # The drop below the threshold is an alert, raised by the import itself.
    async def low() -> list[Any]:
        return await events_of(env, "oms.inventory", 1, "LowStock")

    alerts = await wait_for(low, what="LowStock")
    assert [(a.payload.location_id, a.payload.available, a.payload.threshold) for a in alerts] == [
        (HAMBURG, 4, 5)
    ]


async def test_reimporting_the_same_catalogue_changes_nothing(env: Env, tmp_path: Path) -> None:
    path = write(tmp_path, CATALOGUE)
    first = await run_import(env, path)
    assert first.returncode == 0, first.stderr
    before = await contents(env)

    again = await run_import(env, path)
    assert again.returncode == 0, again.stderr
    # Same rows, same versions, and nothing new to publish.
    assert await contents(env) == before


def test_a_missing_database_url_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, CATALOGUE)
    environment = {k: v for k, v in os.environ.items() if k != "OMS_DATABASE_URL"}

    def run(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "oms_inventory", "catalogue", "import", str(path), *flags],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )

    checked = run("--check")  # validating needs no database
    assert checked.returncode == 0, checked.stderr

    done = run()
    assert done.returncode == 2, done.stderr
    assert "OMS_DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr
