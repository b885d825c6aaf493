-- Orders as sourcing needs them, live availability, each order's saga, and every decision.

CREATE TABLE orders (
    order_id        text PRIMARY KEY,
    channel         text NOT NULL,
    delivery_method text NOT NULL,
    pickup_store_id text,
    destination_lat double precision,   -- the customer's postal zone, or the pickup store
    destination_lon double precision,
    shipping_address jsonb,
    lines           jsonb NOT NULL,     -- [{"line_id", "sku", "quantity"}]
    accepted_at     timestamptz NOT NULL DEFAULT now()
);

-- Last known AvailabilityChanged per SKU and location (by its sequence).
CREATE TABLE availability (
    sku         text NOT NULL,
    location_id text NOT NULL,
    available   integer NOT NULL,
    sequence    bigint NOT NULL,
    PRIMARY KEY (sku, location_id)
);

CREATE TABLE sagas (
    order_id    text PRIMARY KEY REFERENCES orders,
    state       text NOT NULL CHECK (state IN
                ('sourcing', 'allocated', 'backordered', 'canceled')),
    profile_id  text NOT NULL,
    attempt     integer NOT NULL DEFAULT 0,
    excluded    text[] NOT NULL DEFAULT '{}',  -- locations that failed or rejected this order
    backordered jsonb NOT NULL DEFAULT '[]',   -- lines waiting for stock
    backordered_at timestamptz,
    allocated_announced boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sagas_waiting ON sagas (backordered_at) WHERE state = 'backordered';

CREATE TABLE decisions (
    decision_id text PRIMARY KEY,
    order_id    text NOT NULL REFERENCES orders,
    attempt     integer NOT NULL,
    profile_id  text NOT NULL,
    config_version integer NOT NULL,
    explanation jsonb NOT NULL,
    decided_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX decisions_by_order ON decisions (order_id, attempt);

-- One row per reservation asked of inventory.
CREATE TABLE allocations (
    reservation_id text PRIMARY KEY,
    decision_id text NOT NULL REFERENCES decisions,
    order_id    text NOT NULL,
    location_id text NOT NULL,
    line_id     text NOT NULL,
    sku         text NOT NULL,
    quantity    integer NOT NULL CHECK (quantity > 0),
    status      text NOT NULL CHECK (status IN ('requested', 'held', 'failed', 'released')),
    fulfilment_order_id text
);
CREATE INDEX allocations_by_order ON allocations (order_id, decision_id);

CREATE TABLE fulfilment_orders (
    fulfilment_order_id text PRIMARY KEY,
    order_id    text NOT NULL,
    location_id text NOT NULL,
    status      text NOT NULL CHECK (status IN ('created', 'accepted', 'rejected', 'canceled')),
    accept_by   timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fulfilment_orders_due ON fulfilment_orders (accept_by) WHERE status = 'created';

-- Fulfilment orders released to each location per day, for the daily-capacity filter.
CREATE TABLE capacity_used (
    location_id text NOT NULL,
    day         date NOT NULL,
    used        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (location_id, day)
);
