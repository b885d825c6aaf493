-- Partial shipments: a fulfilment order's packed parcels may leave in several hand-overs,
-- each its own shipment. The work keeps its shipments (the domain's record of which parcels
-- left); each parcel row knows its shipment, its packed parcel and when it left.
ALTER TABLE fulfilment_orders ADD COLUMN shipments jsonb NOT NULL DEFAULT '[]';
ALTER TABLE parcels
    ADD COLUMN shipment_id    text,
    ADD COLUMN parcel_id      text,
    ADD COLUMN handed_over_at timestamptz;

-- Until now every parcel of a fulfilment order left in one hand-over, its one shipment.
UPDATE parcels p SET shipment_id = 'shp-' || p.fulfilment_order_id,
    handed_over_at = coalesce(f.shipped_at, p.latest_at)
FROM fulfilment_orders f WHERE f.fulfilment_order_id = p.fulfilment_order_id;
UPDATE parcels p SET parcel_id = l.parcel_id FROM labels l
WHERE l.carrier = p.carrier AND l.tracking_number = p.tracking_number AND l.kind = 'outbound';
UPDATE fulfilment_orders f SET shipments = jsonb_build_array(jsonb_build_object(
    'shipment_id', 'shp-' || f.fulfilment_order_id,
    'parcel_ids', (SELECT coalesce(jsonb_agg(x -> 'parcel_id'), '[]')
                   FROM jsonb_array_elements(f.parcels) AS x),
    'parcels', (SELECT jsonb_agg(jsonb_build_object('parcel_id', p.parcel_id, 'carrier',
                p.carrier, 'tracking_number', p.tracking_number) ORDER BY p.tracking_number)
                FROM parcels p WHERE p.fulfilment_order_id = f.fulfilment_order_id),
    'lines', f.lines,
    'shipped_at', coalesce(f.shipped_at, f.updated_at)))
WHERE EXISTS (SELECT 1 FROM parcels p WHERE p.fulfilment_order_id = f.fulfilment_order_id);

ALTER TABLE parcels
    ALTER COLUMN shipment_id SET NOT NULL,
    ALTER COLUMN handed_over_at SET NOT NULL;
CREATE INDEX parcels_shipment ON parcels (shipment_id);
