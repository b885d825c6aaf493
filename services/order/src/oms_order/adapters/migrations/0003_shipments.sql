-- Shipments the shipping service reported, and their captures: completion needs all delivered.
CREATE TABLE order_shipments (
    shipment_id  text PRIMARY KEY,
    order_id     text        NOT NULL REFERENCES orders (order_id),
    capture_id   text,
    captured_minor bigint    NOT NULL CHECK (captured_minor >= 0),
    shipped_at   timestamptz NOT NULL,
    delivered_at timestamptz
);
CREATE INDEX order_shipments_order ON order_shipments (order_id);
