-- Funds reconciliation history (docs/analytics.md): the worker upserts each order's ledger and
-- each channel's day from its faust tables; a row is only replaced by a copy as new or newer
-- (version), so a replay writes the same rows.
CREATE TABLE analytics_funds_orders (
    order_id text PRIMARY KEY,
    channel text,
    placed_on date,
    closure text,
    total_currency text,
    total_minor bigint,
    totals jsonb NOT NULL,
    exceptions jsonb NOT NULL,
    version integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX analytics_funds_orders_exceptional
    ON analytics_funds_orders (placed_on, channel) WHERE exceptions <> '[]'::jsonb;

-- Kept per source partition as the faust table is (each partition's sub-total has its own
-- writer); analytics_funds_daily adds them up.
CREATE TABLE analytics_funds_days (
    day date NOT NULL,
    channel text NOT NULL,
    source_partition integer NOT NULL,
    currency text NOT NULL,
    authorised_minor bigint NOT NULL,
    captured_minor bigint NOT NULL,
    voided_minor bigint NOT NULL,
    refunded_minor bigint NOT NULL,
    version integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, channel, source_partition, currency)
);

CREATE VIEW analytics_funds_daily AS
SELECT day, channel, currency,
       sum(authorised_minor)::bigint AS authorised_minor,
       sum(captured_minor)::bigint AS captured_minor,
       sum(voided_minor)::bigint AS voided_minor,
       sum(refunded_minor)::bigint AS refunded_minor
FROM analytics_funds_days
GROUP BY day, channel, currency;
