"""Items' sizes and weights from the catalogue, for box choice."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from oms_shipping.domain.boxes import Size
from oms_shipping.domain.catalogue import ItemCatalogue, ItemSpec

__all__ = ["import_items", "specs"]


async def import_items(conn: asyncpg.Connection, catalogue: ItemCatalogue) -> int:
    """Every item of the catalogue in one statement, overwriting what an earlier import kept;
    how many items."""
    items = catalogue.items
    await conn.execute(
        "INSERT INTO items (sku, length_mm, width_mm, height_mm, weight_g)"
        " SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::int[], $5::int[])"
        " ON CONFLICT (sku) DO UPDATE SET length_mm = excluded.length_mm,"
        " width_mm = excluded.width_mm, height_mm = excluded.height_mm,"
        " weight_g = excluded.weight_g, imported_at = now()",
        [i.sku for i in items],
        [i.dimensions.length_mm if i.dimensions else None for i in items],
        [i.dimensions.width_mm if i.dimensions else None for i in items],
        [i.dimensions.height_mm if i.dimensions else None for i in items],
        [i.weight_g for i in items],
    )
    return len(items)


async def specs(conn: asyncpg.Connection, skus: Sequence[str]) -> dict[str, ItemSpec]:
    """The known ones of ``skus``."""
    rows = await conn.fetch(
        "SELECT sku, length_mm, width_mm, height_mm, weight_g FROM items WHERE sku = ANY($1)",
        list(skus),
    )
    return {
        r["sku"]: ItemSpec(
            r["sku"],
            Size(length_mm=r["length_mm"], width_mm=r["width_mm"], height_mm=r["height_mm"])
            if r["length_mm"] is not None
            else None,
            r["weight_g"],
        )
        for r in rows
    }
