-- When the newest movement reported by a source (receipt, adjustment, transfer, return,
-- shipment) happened: a count older than that is stale and is not applied.
ALTER TABLE stock ADD COLUMN last_movement_at timestamptz;
