-- Click & collect: the code the customer shows at the counter, and how long the work waits.
ALTER TABLE fulfilment_orders
    ADD COLUMN pickup_code text,
    ADD COLUMN hold_until  timestamptz;
