-- The delivery promise: the order's date (the promise counts from it, so a replay promises
-- the same), the channel's own promise when it sent one, and each fulfilment order's
-- promise (kept by the fulfilment orders that replace it).
ALTER TABLE orders ADD COLUMN placed_at timestamptz, ADD COLUMN promised_by timestamptz;
ALTER TABLE fulfilment_orders ADD COLUMN promised_by timestamptz;
