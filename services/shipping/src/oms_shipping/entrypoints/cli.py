"""``python -m oms_shipping catalogue import FILE``: load the items' sizes and weights from
the catalogue file inventory imports too (JSON or YAML), validated as a whole before anything
is written; importing it again refreshes them."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from pydantic import ValidationError

from oms_runtime import (
    RUNTIME_MIGRATIONS,
    DocumentError,
    apply_migrations,
    create_pool,
    invalid_configuration,
)
from oms_shipping.adapters import MIGRATIONS
from oms_shipping.adapters.config_files import read_item_catalogue
from oms_shipping.adapters.items import import_items
from oms_shipping.config import ShippingSettings
from oms_shipping.domain.catalogue import ItemCatalogue

__all__ = ["main"]


async def _import(settings: ShippingSettings, catalogue: ItemCatalogue) -> int:
    pool = await create_pool(settings.database_url.get_secret_value(), 2)
    try:
        await apply_migrations(pool, {"runtime": RUNTIME_MIGRATIONS, "shipping": MIGRATIONS})
        async with pool.acquire() as conn, conn.transaction():
            return await import_items(conn, catalogue)
    finally:
        await pool.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m oms_shipping")
    commands = parser.add_subparsers(dest="area", required=True)
    catalogue = commands.add_parser("catalogue", help="items' sizes and weights")
    actions = catalogue.add_subparsers(dest="action", required=True)
    load = actions.add_parser("import", help="validate a JSON or YAML file and upsert its items")
    load.add_argument("file", type=Path)
    load.add_argument("--check", action="store_true", help="validate only; write nothing")
    args = parser.parse_args(argv)
    try:
        document = read_item_catalogue(args.file)
        if args.check:
            print(f"{args.file}: valid")
            return 0
        try:
            settings = ShippingSettings()
        except ValidationError as exc:
            print(invalid_configuration(exc), file=sys.stderr)
            return 2
        imported = asyncio.run(_import(settings, document))
    except DocumentError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(json.dumps({"imported": {"items": imported}}))
    return 0
