"""``python -m oms_inventory catalogue import FILE``: load items, locations and stock
policies from a JSON or YAML file, validated as a whole before anything is written."""

from __future__ import annotations

import asyncpg

from oms_inventory.adapters import MIGRATIONS
from oms_inventory.adapters.catalogue import import_catalogue
from oms_inventory.adapters.catalogue_file import read_catalogue
from oms_inventory.adapters.projection import publish_changes
from oms_inventory.config import InventorySettings
from oms_inventory.domain.catalogue import Catalogue
from oms_runtime import DocumentImport, Outbox, UnitOfWork, write_outbox

__all__ = ["main"]


async def _import(
    conn: asyncpg.Connection, settings: InventorySettings, catalogue: Catalogue
) -> dict[str, int]:
    """The catalogue and the availability it changes, published through the outbox."""
    outbox = Outbox(source="oms/inventory", topic_prefix=settings.topic_prefix)
    work = UnitOfWork(conn=conn, outbox=outbox)
    counts = await import_catalogue(conn, catalogue, work.notes)
    await publish_changes(work)
    await write_outbox(conn, outbox.records)
    return counts


main = DocumentImport(
    service="inventory",
    area="catalogue",
    summary="items, locations and stock policies",
    read=read_catalogue,
    settings=InventorySettings,
    migrations=MIGRATIONS,
    write=_import,
).main
