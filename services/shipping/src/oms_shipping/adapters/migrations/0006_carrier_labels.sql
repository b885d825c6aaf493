-- Rate shopping and labels. Each carrier's counter of tracking number serials only goes up,
-- so a number is never issued twice; each label is unique per carrier and tracking number.
CREATE TABLE tracking_number_counters (
    carrier     text   PRIMARY KEY,
    last_serial bigint NOT NULL CHECK (last_serial > 0)
);

-- A parcel's label to the customer (with the carrier choice that made it: the service, its
-- cost and date, and every alternative with why it lost) or its return label.
CREATE TABLE labels (
    carrier             text        NOT NULL,
    tracking_number     text        NOT NULL,
    fulfilment_order_id text        NOT NULL REFERENCES fulfilment_orders,
    parcel_id           text        NOT NULL,
    kind                text        NOT NULL CHECK (kind IN ('outbound', 'return')),
    service             text        NOT NULL,
    weight_grams        integer     NOT NULL,
    billable_grams      integer     NOT NULL,
    cost_minor          bigint,
    currency            text        NOT NULL,
    estimated_delivery  date,
    meets_promise       boolean,
    alternatives        jsonb       NOT NULL DEFAULT '[]',
    pdf                 bytea       NOT NULL,
    zpl                 text        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (carrier, tracking_number),
    UNIQUE (fulfilment_order_id, parcel_id, kind)
);

ALTER TABLE fulfilment_orders
    ADD COLUMN policy          text,
    ADD COLUMN promise_at_risk boolean NOT NULL DEFAULT false;
