"""The sourcing configuration of the test network (tests/support/inventory.py's locations)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oms_events.inventory import StockReceived
from tests.support.inventory import BERLIN, HAMBURG, MUNICH, TSHIRT, feed, import_catalogue, receipt
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for
from tests.support.world import Env

SOURCING: dict[str, Any] = {
    "version": 7,
    "locations": [
        {
            "location_id": HAMBURG,
            "type": "warehouse",
            "latitude": 53.5511,
            "longitude": 9.9937,
            "channels": ["web-de"],
            "capabilities": ["ship", "ship_to_store"],
            "priority": 1,
        },
        {
            "location_id": MUNICH,
            "type": "warehouse",
            "latitude": 48.1351,
            "longitude": 11.5820,
            "channels": ["web-de"],
            "capabilities": ["ship"],
        },
        {
            "location_id": BERLIN,
            "type": "store",
            "latitude": 52.52,
            "longitude": 13.405,
            "channels": ["web-de"],
            "capabilities": ["pickup", "ship_from_store"],
        },
    ],
    "postal_zones": {"DE": {"1": [52.52, 13.40], "5": [50.94, 6.96], "8": [48.14, 11.58]}},
    "profiles": [
        {
            "profile_id": "home",
            "filters": {"location_types": ["warehouse"]},
            "scores": {"distance": 1.0},
            "split": {"policy": "max_splits", "max_splits": 2},
            "hold_for_s": 3600,
        },
        {
            "profile_id": "pickup",
            "channels": ["web-de"],
            "delivery_methods": ["click_and_collect", "ship_to_store"],
            "filters": {"location_types": ["warehouse", "store"]},
            "split": {"policy": "ship_together"},
            "accept_within_s": 600,
        },
    ],
    "delivery": {
        "timezone": "Europe/Berlin",
        "services": [
            {
                "service_id": "standard",
                "carrier": "dhl",
                "cutoff": "23:59",
                "price_minor": 495,
                "transit": [{"up_to_km": 300, "days": 1}, {"days": 2}],
            }
        ],
    },
}


def write_sourcing(tmp: Path, document: dict[str, Any] = SOURCING) -> str:
    path = tmp / "sourcing.json"
    path.write_text(json.dumps(document))
    return str(path)


async def stock_received_and_seen(env: Env, sku: str, location: str, quantity: int) -> None:
    """A receipt of ``quantity`` units fed to the inventory service, then waited for until the
    orchestration service's availability shows it."""
    receipt = StockReceived(
        sku=sku, location_id=location, receipt_id=f"rcv-{sku}", quantity=quantity,
        received_at=datetime.now(UTC),
    )  # fmt: skip
    await feed(env, receipt)

    async def seen() -> bool:
        rows = await env.fetch(
            "orchestration",
            "SELECT available FROM availability WHERE sku = $1 AND location_id = $2",
            sku,
            location,
        )
        return bool(rows) and rows[0]["available"] == quantity

    await wait_for(seen, what=f"orchestration to see {quantity} of {sku} at {location}")


async def three_locations_with_deadlines(
    env: Env, tmp: Path, accept_within_s: int = 10
) -> tuple[list[ServiceProcess], str]:
    """The order, inventory and orchestration services (ready) and the path of the sourcing
    file: home deliveries sourced from stores too, each location given ``accept_within_s`` to
    accept its work, swept every 0.5 s; T-shirts at Hamburg (5), Munich (5) and the Berlin
    store (4, 2 of them safety stock), seen by orchestration."""
    config = copy.deepcopy(SOURCING)
    config["profiles"][0]["accept_within_s"] = accept_within_s
    config["profiles"][0]["filters"]["location_types"] = ["warehouse", "store"]
    sourcing = write_sourcing(tmp, config)
    await import_catalogue(env, tmp)
    services = [
        await env.service("order"),
        await env.service("inventory"),
        await env.service(
            "orchestration", OMS_SOURCING_CONFIG=sourcing, OMS_DEADLINE_SWEEP_S="0.5"
        ),
    ]
    for service in services:
        await service.wait_ready()
    await feed(
        env,
        receipt("rcv-1", TSHIRT, HAMBURG, 5),
        receipt("rcv-2", TSHIRT, MUNICH, 5),
        receipt("rcv-3", TSHIRT, BERLIN, 4),
    )
    wanted = {(HAMBURG, 5), (MUNICH, 5), (BERLIN, 2)}

    async def seen() -> bool:
        rows = await env.fetch(
            "orchestration",
            "SELECT location_id, available FROM availability WHERE sku = $1",
            TSHIRT,
        )
        return {(r["location_id"], r["available"]) for r in rows} == wanted

    await wait_for(seen, what="orchestration to see the T-shirts")
    return services, sourcing
