-- What look-ups show of each shipment: its carrier and tracking number, whether it waits at a
-- store for collection, and its units (line, quantity). Shipments kept before this migration
-- show none of these.
ALTER TABLE order_shipments
    ADD COLUMN carrier         text,
    ADD COLUMN tracking_number text,
    ADD COLUMN for_pickup      boolean NOT NULL DEFAULT false,
    ADD COLUMN lines           jsonb   NOT NULL DEFAULT '[]';
