CREATE TABLE orders (
    order_id          text PRIMARY KEY,
    channel           text        NOT NULL,
    external_order_id text        NOT NULL,
    status            text        NOT NULL,
    delivery_method   text        NOT NULL,
    currency          char(3)     NOT NULL,
    grand_total_minor bigint      NOT NULL,
    sequence          bigint      NOT NULL DEFAULT 0,
    placed_at         timestamptz NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel, external_order_id)
);

-- The order's timeline: every event and command, who, when, why.
CREATE TABLE order_timeline (
    order_id   text        NOT NULL REFERENCES orders (order_id),
    sequence   bigint      NOT NULL,
    event_type text        NOT NULL,
    caused_by  uuid        NOT NULL,
    actor      text        NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    detail     jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (order_id, sequence)
);
