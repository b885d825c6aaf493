-- The work each location does: one row per fulfilment order, as orchestration released it.
CREATE TABLE fulfilment_orders (
    fulfilment_order_id text PRIMARY KEY,
    order_id            text        NOT NULL,
    location_id         text        NOT NULL,
    location_type       text        NOT NULL,
    delivery_method     text        NOT NULL,
    lines               jsonb       NOT NULL,  -- [{line_id, sku, quantity}] still to ship
    shipping_address    jsonb,
    pickup_store_id     text,
    promised_by         timestamptz,
    accept_by           timestamptz NOT NULL,
    status              text        NOT NULL,
    parcels             jsonb       NOT NULL DEFAULT '[]',
    carrier             text,
    shipped_at          timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fulfilment_orders_order ON fulfilment_orders (order_id);
CREATE INDEX fulfilment_orders_location_status ON fulfilment_orders (location_id, status);

-- Each handed-over parcel, found by its carrier's tracking number.
CREATE TABLE parcels (
    carrier             text        NOT NULL,
    tracking_number     text        NOT NULL,
    fulfilment_order_id text        NOT NULL REFERENCES fulfilment_orders,
    order_id            text        NOT NULL,
    status              text        NOT NULL,
    latest_at           timestamptz NOT NULL,
    PRIMARY KEY (carrier, tracking_number)
);
CREATE INDEX parcels_fulfilment_order ON parcels (fulfilment_order_id);

-- Every carrier scan taken, applied or not (an older scan is kept, never applied).
CREATE TABLE tracking_updates (
    event_id            uuid PRIMARY KEY,
    taken               bigint GENERATED ALWAYS AS IDENTITY,  -- the order scans were taken in
    carrier             text        NOT NULL,
    tracking_number     text        NOT NULL,
    carrier_status_code text        NOT NULL,
    status              text        NOT NULL,
    occurred_at         timestamptz NOT NULL,
    applied             boolean     NOT NULL,
    note                text,
    received_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tracking_updates_parcel ON tracking_updates (carrier, tracking_number, occurred_at);

-- Staff actions and call-offs that did not fit the fulfilment order, with why.
CREATE TABLE refused_actions (
    event_id            uuid PRIMARY KEY,
    taken               bigint GENERATED ALWAYS AS IDENTITY,
    fulfilment_order_id text        NOT NULL,
    order_id            text        NOT NULL,
    location_id         text        NOT NULL,
    action              text        NOT NULL,
    reason              text        NOT NULL,
    detail              text        NOT NULL,
    refused_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refused_actions_fulfilment_order ON refused_actions (fulfilment_order_id);
