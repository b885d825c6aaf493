"""``python -m oms_shipping catalogue import FILE``: load the items' sizes and weights from
the catalogue file inventory imports too (JSON or YAML), validated as a whole before anything
is written; importing it again refreshes them."""

from __future__ import annotations

import asyncpg

from oms_runtime import DocumentImport
from oms_shipping.adapters import MIGRATIONS
from oms_shipping.adapters.config_files import read_item_catalogue
from oms_shipping.adapters.items import import_items
from oms_shipping.config import ShippingSettings
from oms_shipping.domain.catalogue import ItemCatalogue

__all__ = ["main"]


async def _import(
    conn: asyncpg.Connection, settings: ShippingSettings, catalogue: ItemCatalogue
) -> dict[str, int]:
    return {"items": await import_items(conn, catalogue)}


main = DocumentImport(
    service="shipping",
    area="catalogue",
    summary="items' sizes and weights",
    read=read_item_catalogue,
    settings=ShippingSettings,
    migrations=MIGRATIONS,
    write=_import,
).main
