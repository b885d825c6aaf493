-- Returns of delivered units: one row per return, its lines and their buckets as JSON (a
-- return is read and written whole, under its order's lock).
CREATE TABLE order_returns (
    return_id            text PRIMARY KEY,
    order_id             text        NOT NULL REFERENCES orders (order_id),
    rma_number           text        NOT NULL UNIQUE,
    channel              text        NOT NULL,
    status               text        NOT NULL,
    drop_off_location_id text,
    locations            text[]      NOT NULL DEFAULT '{}',
    lines                jsonb       NOT NULL,
    refunded_minor       bigint      NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0),
    requested_at         timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_returns_order ON order_returns (order_id);

-- What was refunded from each shipment's capture: a refund never draws more than it took.
ALTER TABLE order_shipments
    ADD COLUMN refunded_minor bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT shipment_refunds_within_capture CHECK (refunded_minor BETWEEN 0 AND captured_minor);
