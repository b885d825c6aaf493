-- Items, locations, stock per SKU per location, reservations, and the ledger of movements.

CREATE TABLE locations (
    location_id  text PRIMARY KEY,
    name         text NOT NULL,
    location_type text NOT NULL CHECK (location_type IN ('warehouse', 'store', 'drop_shipper')),
    latitude     double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude    double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    capabilities text[] NOT NULL DEFAULT '{}',
    channels     text[] NOT NULL DEFAULT '{}',  -- the sales channels this location serves
    active       boolean NOT NULL DEFAULT true,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE items (
    sku          text PRIMARY KEY,
    name         text NOT NULL,
    length_mm    integer CHECK (length_mm > 0),
    width_mm     integer CHECK (width_mm > 0),
    height_mm    integer CHECK (height_mm > 0),
    weight_g     integer CHECK (weight_g > 0),
    returnable   boolean NOT NULL DEFAULT true,
    safety_stock integer NOT NULL DEFAULT 0 CHECK (safety_stock >= 0),
    low_stock_threshold integer NOT NULL DEFAULT 0 CHECK (low_stock_threshold >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- available = on_hand - reserved - safety_stock; it may go negative after a downward count,
-- every bucket may not.
CREATE TABLE stock (
    sku          text NOT NULL REFERENCES items,
    location_id  text NOT NULL REFERENCES locations,
    on_hand      integer NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved     integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    safety_stock integer NOT NULL DEFAULT 0 CHECK (safety_stock >= 0),
    in_transit   integer NOT NULL DEFAULT 0 CHECK (in_transit >= 0),
    quarantined  integer NOT NULL DEFAULT 0 CHECK (quarantined >= 0),
    low_stock_threshold integer NOT NULL DEFAULT 0 CHECK (low_stock_threshold >= 0),
    alert_state  text NOT NULL DEFAULT 'out' CHECK (alert_state IN ('ok', 'low', 'out')),
    snapshot_as_of timestamptz,      -- the newest count applied from a feed
    snapshot_sequence bigint,
    version      bigint NOT NULL DEFAULT 0,  -- the AvailabilityChanged sequence
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sku, location_id)
);

CREATE TABLE reservations (
    reservation_id text PRIMARY KEY,
    request_id   text NOT NULL,
    order_id     text NOT NULL,
    line_id      text NOT NULL,
    sku          text NOT NULL,
    location_id  text NOT NULL,
    quantity     integer NOT NULL CHECK (quantity > 0),
    committed    integer NOT NULL DEFAULT 0 CHECK (committed >= 0 AND committed <= quantity),
    status       text NOT NULL CHECK (status IN ('held', 'committed', 'released', 'expired', 'failed')),
    reason       text,
    expires_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reservations_expiring ON reservations (expires_at) WHERE status = 'held';
CREATE INDEX reservations_by_order ON reservations (order_id, line_id, location_id);

-- Feed records and returns applied once, whatever their event ids.
CREATE TABLE applied_references (
    kind         text NOT NULL,
    reference    text NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, reference)
);

CREATE TABLE transfers (
    transfer_id  text PRIMARY KEY,
    sku          text NOT NULL,
    from_location_id text NOT NULL,
    to_location_id text NOT NULL,
    shipped_quantity integer CHECK (shipped_quantity > 0),
    received_quantity integer CHECK (received_quantity > 0),
    shipped_at   timestamptz,
    received_at  timestamptz
);

-- Every change of a bucket, for audit and for reconciling balances:
-- on hand + in transit = receipts + counts + returns - shipped, per SKU.
CREATE TABLE stock_movements (
    movement_id  bigserial PRIMARY KEY,
    sku          text NOT NULL,
    location_id  text NOT NULL,
    kind         text NOT NULL,
    on_hand_delta integer NOT NULL DEFAULT 0,
    reserved_delta integer NOT NULL DEFAULT 0,
    in_transit_delta integer NOT NULL DEFAULT 0,
    quarantined_delta integer NOT NULL DEFAULT 0,
    reference    text,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_movements_by_stock ON stock_movements (sku, location_id);
