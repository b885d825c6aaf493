"""``python -m oms_inventory catalogue import FILE``: load items, locations and stock
policies from a JSON or YAML file, validated as a whole before anything is written."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from oms_inventory.app import MIGRATIONS
from oms_inventory.config import InventorySettings
from oms_inventory.domain.catalogue import Catalogue, CatalogueError, parse_catalogue
from oms_inventory.store.catalogue import import_catalogue
from oms_inventory.store.projection import publish_changes
from oms_runtime.cli import invalid_configuration
from oms_runtime.db import RUNTIME_MIGRATIONS, apply_migrations, create_pool
from oms_runtime.logging import configure_logging
from oms_runtime.outbox import Outbox, write_outbox

__all__ = ["main", "read_catalogue"]

_MAX_FILE_BYTES = 64 * 1024 * 1024


def read_catalogue(path: Path) -> Catalogue:
    """Parse and validate a catalogue file; CatalogueError says what is wrong and where."""
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise CatalogueError([f"{path}: larger than {_MAX_FILE_BYTES} bytes"])
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError([f"{path}: cannot be read: {exc}"]) from None
    document: Any
    is_yaml = path.suffix.lower() in (".yaml", ".yml")
    try:
        document = yaml.safe_load(text) if is_yaml else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError, RecursionError) as exc:
        kind = "YAML" if is_yaml else "JSON"
        raise CatalogueError([f"{path}: not valid {kind}: {exc}"]) from None
    return parse_catalogue(document)


async def _import(settings: InventorySettings, catalogue: Catalogue) -> dict[str, int]:
    pool = await create_pool(settings.database_url.get_secret_value(), 2)
    try:
        await apply_migrations(pool, {"runtime": RUNTIME_MIGRATIONS, "inventory": MIGRATIONS})
        outbox = Outbox(source="oms/inventory", topic_prefix=settings.topic_prefix)
        notes: dict[str, Any] = {}
        async with pool.acquire() as conn, conn.transaction():
            counts = await import_catalogue(conn, catalogue, notes)
            await publish_changes(conn, notes, outbox)
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
    except CatalogueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(json.dumps({"imported": counts}))
    return 0
