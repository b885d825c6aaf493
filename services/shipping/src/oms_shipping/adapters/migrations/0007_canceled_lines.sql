-- Units of a fulfilment order's lines canceled after release ([{line_id, sku, quantity}]):
-- no longer in `lines`, kept so packing them is refused for what it is.
ALTER TABLE fulfilment_orders ADD COLUMN canceled_lines jsonb NOT NULL DEFAULT '[]';
