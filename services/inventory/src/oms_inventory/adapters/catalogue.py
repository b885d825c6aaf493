"""Writing the catalogue: items and locations are upserted, policies set on stock rows."""

from __future__ import annotations

import asyncpg

from oms_inventory.adapters.catalogue_file import WHAT
from oms_inventory.adapters.stock import note_changed
from oms_inventory.domain.catalogue import Catalogue
from oms_runtime import DocumentError, Notes

__all__ = ["import_catalogue"]


async def import_catalogue(
    conn: asyncpg.Connection, catalogue: Catalogue, notes: Notes
) -> dict[str, int]:
    """Upsert everything in one transaction (the caller's); counts of what was written.

    Changed safety stock changes availability, so the stock rows it touches are noted for
    the projection.
    """
    await conn.executemany(
        "INSERT INTO items (sku, name, length_mm, width_mm, height_mm, weight_g, returnable,"
        " safety_stock, low_stock_threshold) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name, length_mm = EXCLUDED.length_mm,"
        " width_mm = EXCLUDED.width_mm, height_mm = EXCLUDED.height_mm,"
        " weight_g = EXCLUDED.weight_g, returnable = EXCLUDED.returnable,"
        " safety_stock = EXCLUDED.safety_stock,"
        " low_stock_threshold = EXCLUDED.low_stock_threshold, updated_at = now()",
        [
            (
                i.sku,
                i.name,
                i.dimensions.length_mm if i.dimensions else None,
                i.dimensions.width_mm if i.dimensions else None,
                i.dimensions.height_mm if i.dimensions else None,
                i.weight_g,
                i.returnable,
                i.safety_stock,
                i.low_stock_threshold,
            )
            for i in catalogue.items
        ],
    )
    await conn.executemany(
        "INSERT INTO locations (location_id, name, location_type, latitude, longitude,"
        " capabilities, channels, active) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (location_id) DO UPDATE SET name = EXCLUDED.name,"
        " location_type = EXCLUDED.location_type, latitude = EXCLUDED.latitude,"
        " longitude = EXCLUDED.longitude, capabilities = EXCLUDED.capabilities,"
        " channels = EXCLUDED.channels, active = EXCLUDED.active, updated_at = now()",
        [
            (
                loc.location_id,
                loc.name,
                loc.type.value,
                loc.latitude,
                loc.longitude,
                [c.value for c in loc.capabilities],
                list(loc.channels),
                loc.active,
            )
            for loc in catalogue.locations
        ],
    )
    # Item defaults apply to existing stock rows unless a policy overrides them below.
    defaults = await conn.fetch(
        "UPDATE stock s SET safety_stock = i.safety_stock,"
        " low_stock_threshold = i.low_stock_threshold, version = s.version + 1"
        " FROM items i WHERE s.sku = i.sku AND i.sku = ANY($1::text[])"
        " AND (s.safety_stock, s.low_stock_threshold)"
        "   IS DISTINCT FROM (i.safety_stock, i.low_stock_threshold)"
        " AND (s.sku, s.location_id) NOT IN (SELECT * FROM unnest($2::text[], $3::text[]))"
        " RETURNING s.sku, s.location_id",
        [i.sku for i in catalogue.items],
        [p.sku for p in catalogue.stock_policies],
        [p.location_id for p in catalogue.stock_policies],
    )
    policies = await _apply_policies(conn, catalogue)
    for row in [*defaults, *policies]:
        note_changed(notes, row["sku"], row["location_id"])
    return {
        "items": len(catalogue.items),
        "locations": len(catalogue.locations),
        "stock_policies": len(catalogue.stock_policies),
    }


async def _apply_policies(conn: asyncpg.Connection, catalogue: Catalogue) -> list[asyncpg.Record]:
    if not catalogue.stock_policies:
        return []
    policies = catalogue.stock_policies
    unknown = await conn.fetch(
        "SELECT t.i, t.sku, t.location_id,"
        " NOT EXISTS (SELECT 1 FROM items WHERE sku = t.sku) AS no_item"
        " FROM unnest($1::int[], $2::text[], $3::text[]) AS t(i, sku, location_id)"
        " WHERE NOT EXISTS (SELECT 1 FROM items WHERE sku = t.sku)"
        " OR NOT EXISTS (SELECT 1 FROM locations WHERE location_id = t.location_id)"
        " ORDER BY t.i",
        list(range(len(policies))),
        [p.sku for p in policies],
        [p.location_id for p in policies],
    )
    if unknown:
        raise DocumentError(
            WHAT,
            [
                f"stock_policies.{r['i']}: "
                + (
                    f"unknown sku {r['sku']!r}"
                    if r["no_item"]
                    else f"unknown location {r['location_id']!r}"
                )
                for r in unknown
            ],
        )
    rows: list[asyncpg.Record] = await conn.fetch(
        "INSERT INTO stock AS s (sku, location_id, safety_stock, low_stock_threshold)"
        " SELECT t.sku, t.location_id, coalesce(t.safety, i.safety_stock),"
        "   coalesce(t.threshold, i.low_stock_threshold)"
        " FROM unnest($1::text[], $2::text[], $3::int[], $4::int[])"
        "   AS t(sku, location_id, safety, threshold) JOIN items i USING (sku)"
        " ON CONFLICT (sku, location_id) DO UPDATE SET safety_stock = EXCLUDED.safety_stock,"
        " low_stock_threshold = EXCLUDED.low_stock_threshold, version = s.version + 1"
        " WHERE (s.safety_stock, s.low_stock_threshold)"
        "   IS DISTINCT FROM (EXCLUDED.safety_stock, EXCLUDED.low_stock_threshold)"
        " RETURNING s.sku, s.location_id",
        [p.sku for p in policies],
        [p.location_id for p in policies],
        [p.safety_stock for p in policies],
        [p.low_stock_threshold for p in policies],
    )
    return rows
