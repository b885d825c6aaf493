-- Webhook subscriptions of downstream systems and operations, and their deliveries.
CREATE TABLE webhook_subscriptions (
    subscription_id text PRIMARY KEY,
    url             text        NOT NULL,
    event_types     text[]      NOT NULL,
    -- Kept to sign every delivery (HMAC needs the secret itself); shown once, at creation.
    secret          text        NOT NULL,
    operations      boolean     NOT NULL DEFAULT false,
    active          boolean     NOT NULL DEFAULT true,
    description     text,
    created_by      text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- The event as it was read from its topic (CloudEvents structured JSON), once for all the
-- subscriptions it goes to.
CREATE TABLE webhook_events (
    event_id    uuid PRIMARY KEY,
    event_type  text        NOT NULL,
    subject     text        NOT NULL,
    body        bytea       NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- One row per (subscription, event): a redelivered or replayed event finds it.
CREATE TABLE webhook_deliveries (
    delivery_id      text PRIMARY KEY,
    subscription_id  text        NOT NULL REFERENCES webhook_subscriptions ON DELETE CASCADE,
    event_id         uuid        NOT NULL REFERENCES webhook_events,
    status           text        NOT NULL DEFAULT 'pending',
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- Set while one worker sends it: the claim's token and how long it holds.
    lease_id         uuid,
    leased_until     timestamptz,
    last_status_code integer,
    last_error       text,
    delivered_at     timestamptz,
    dead_lettered_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (subscription_id, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (subscription_id, created_at DESC);

-- Who asked for which delivery to be sent again.
CREATE TABLE webhook_resends (
    resend_id       bigserial PRIMARY KEY,
    delivery_id     text        NOT NULL,
    subscription_id text        NOT NULL,
    previous_status text        NOT NULL,
    requested_by    text        NOT NULL,
    request_id      uuid,
    requested_at    timestamptz NOT NULL DEFAULT now()
);

-- Operations alerts let through and held back per kind per fixed window.
CREATE TABLE alert_windows (
    kind         text        NOT NULL,
    window_start timestamptz NOT NULL,
    sent         integer     NOT NULL DEFAULT 0,
    suppressed   integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, window_start)
);
