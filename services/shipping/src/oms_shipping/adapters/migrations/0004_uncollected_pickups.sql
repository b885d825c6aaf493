-- Work waiting at a pickup counter, by the end of its hold: the uncollected-pickup sweep.
CREATE INDEX fulfilment_orders_pickup_due ON fulfilment_orders (hold_until)
    WHERE status = 'READY_FOR_PICKUP';
