-- Locations whose holds failed for an order since its lines were last sourced afresh: avoided
-- until stock returns (a stale projection cannot send the order back and forth), unlike
-- locations that rejected the order's work, which it never goes back to.
ALTER TABLE sagas ADD COLUMN failed_at text[] NOT NULL DEFAULT '{}';
