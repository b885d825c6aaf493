"""``python -m oms_inventory catalogue import FILE``: load items, locations and stock
policies from a JSON or YAML file, validated as a whole before anything is written."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from pydantic import ValidationError

from oms_inventory.adapters import MIGRATIONS
from oms_inventory.adapters.catalogue import import_catalogue
from oms_inventory.adapters.catalogue_file import read_catalogue
from oms_inventory.adapters.projection import publish_changes
from oms_inventory.config import InventorySettings
from oms_inventory.domain.catalogue import Catalogue
from oms_runtime import (
    RUNTIME_MIGRATIONS,
    DocumentError,
    Outbox,
    UnitOfWork,
    apply_migrations,
    configure_logging,
    create_pool,
    invalid_configuration,
    write_outbox,
)

__all__ = ["main"]


async def _import(settings: InventorySettings, catalogue: Catalogue) -> dict[str, int]:
    pool = await create_pool(settings.database_url.get_secret_value(), 2)
    try:
        await apply_migrations(pool, {"runtime": RUNTIME_MIGRATIONS, "inventory": MIGRATIONS})
        outbox = Outbox(source="oms/inventory", topic_prefix=settings.topic_prefix)
        async with pool.acquire() as conn, conn.transaction():
            work = UnitOfWork(conn=conn, outbox=outbox)
            counts = await import_catalogue(conn, catalogue, work.notes)
            await publish_changes(work)
            await write_outbox(conn, outbox.records)
        return counts
    finally:
        await pool.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m oms_inventory")
    commands = parser.add_subparsers(dest="area", required=True)
    catalogue = commands.add_parser("catalogue", help="items, locations and stock policies")
    actions = catalogue.add_subparsers(dest="action", required=True)
    load = actions.add_parser("import", help="validate a JSON or YAML file and upsert it")
    load.add_argument("file", type=Path)
    load.add_argument("--check", action="store_true", help="validate only; write nothing")
    args = parser.parse_args(argv)
    try:
        document = read_catalogue(args.file)
        if args.check:
            print(f"{args.file}: valid")
            return 0
        try:
            settings = InventorySettings()
        except ValidationError as exc:
            print(invalid_configuration(exc), file=sys.stderr)
            return 2
        configure_logging("inventory", "WARNING")  # JSON lines on stderr; stdout is the summary
        counts = asyncio.run(_import(settings, document))
    except DocumentError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(json.dumps({"imported": counts}))
    return 0
