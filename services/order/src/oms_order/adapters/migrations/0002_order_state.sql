-- The whole order state: payment, hold, the accepted document, lines and early cancellations.
ALTER TABLE orders
    ADD COLUMN payment_status    text    NOT NULL DEFAULT 'NOT_PAID',
    ADD COLUMN on_hold           boolean NOT NULL DEFAULT false,
    ADD COLUMN hold_reason       text,
    ADD COLUMN authorization_id  text,
    ADD COLUMN captured_minor    bigint  NOT NULL DEFAULT 0 CHECK (captured_minor >= 0),
    ADD COLUMN customer_email    text,
    ADD COLUMN shipping_address  jsonb,
    ADD COLUMN document          jsonb,
    ADD COLUMN rejection_reasons jsonb;

CREATE INDEX orders_customer_email ON orders (lower(customer_email));

CREATE TABLE order_lines (
    order_id         text    NOT NULL REFERENCES orders (order_id),
    line_id          text    NOT NULL,
    sku              text    NOT NULL,
    ordered          integer NOT NULL CHECK (ordered > 0),
    canceled         integer NOT NULL DEFAULT 0 CHECK (canceled >= 0),
    shipped          integer NOT NULL DEFAULT 0 CHECK (shipped >= 0),
    line_total_minor bigint  NOT NULL,
    PRIMARY KEY (order_id, line_id),
    CHECK (canceled + shipped <= ordered)
);

-- A channel's cancellation that arrived before its order; applied when the order arrives.
CREATE TABLE pending_cancellations (
    channel           text        NOT NULL,
    external_order_id text        NOT NULL,
    event_id          uuid        NOT NULL,
    reason            text,
    requested_at      timestamptz NOT NULL,
    PRIMARY KEY (channel, external_order_id)
);

-- An order rejected because it could not be read may lack these.
ALTER TABLE orders
    ALTER COLUMN delivery_method DROP NOT NULL,
    ALTER COLUMN currency DROP NOT NULL,
    ALTER COLUMN grand_total_minor DROP NOT NULL,
    ALTER COLUMN placed_at DROP NOT NULL;
