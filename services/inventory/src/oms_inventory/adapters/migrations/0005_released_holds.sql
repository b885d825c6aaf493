-- A hold released to a location waits for its work (picking, a trip to the pickup store, the
-- customer at the counter): it names that work and no longer expires.
ALTER TABLE reservations ADD COLUMN fulfilment_order_id text;
DROP INDEX reservations_expiring;
CREATE INDEX reservations_expiring ON reservations (expires_at)
    WHERE status = 'held' AND fulfilment_order_id IS NULL;
