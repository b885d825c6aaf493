-- Partial shipments: a shipment is one hand-over of some of a fulfilment order's parcels;
-- look-ups show every parcel's tracking number (tracking_number stays the first one's).
ALTER TABLE order_shipments ADD COLUMN tracking_numbers text[] NOT NULL DEFAULT '{}';
UPDATE order_shipments SET tracking_numbers = ARRAY[tracking_number]
WHERE tracking_number IS NOT NULL;
