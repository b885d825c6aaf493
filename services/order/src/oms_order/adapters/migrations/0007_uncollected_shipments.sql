-- Pickups their customer never collected: the shipment is closed without delivery, so the
-- rest of the order can complete without it.
ALTER TABLE order_shipments ADD COLUMN uncollected_at timestamptz;
