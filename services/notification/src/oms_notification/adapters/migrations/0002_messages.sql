-- What customers are told, and what the messages show (docs/notification-service.md).

-- The order as its messages show it, from the order events. Personal data (e-mail, phone,
-- names, addresses) lives only here and is purged once the order has been quiet for
-- OMS_RECIPIENT_RETENTION_DAYS.
CREATE TABLE customer_orders (
    order_id        text PRIMARY KEY,
    customer_id     text,
    email           text        NOT NULL,
    phone           text,
    country         text,
    reference       text        NOT NULL,
    placed_at       timestamptz NOT NULL,
    details         jsonb       NOT NULL,
    captured_minor  bigint      NOT NULL DEFAULT 0,
    refunded_minor  bigint      NOT NULL DEFAULT 0,
    last_event_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_orders_quiet ON customer_orders (last_event_at);

-- What each customer asked for over HTTP.
CREATE TABLE customer_preferences (
    customer_id        text PRIMARY KEY,
    locale             text,
    opted_out_channels text[]      NOT NULL DEFAULT '{}',
    marketing_opt_out  boolean     NOT NULL DEFAULT false,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- A message is unique per (change, channel): the causing event, or the order for kinds told
-- once per order. The dispatcher claims queued rows, commits 'sending' before it talks to the
-- provider, then records the outcome.
ALTER TABLE notifications
    ADD COLUMN change_key          text,
    ADD COLUMN facts               jsonb       NOT NULL DEFAULT '{}',
    ADD COLUMN correlation_id      text,
    ADD COLUMN attempts            integer     NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN claimed_at          timestamptz,
    ADD COLUMN sent_at             timestamptz,
    ADD COLUMN provider_message_id text,
    ADD COLUMN last_error          text;
UPDATE notifications SET change_key = trigger_event_id::text;
-- Rows queued before messages were sent named templates that no longer exist: never send them.
UPDATE notifications SET status = 'superseded' WHERE status = 'queued';
ALTER TABLE notifications ALTER COLUMN change_key SET NOT NULL;
ALTER TABLE notifications ADD CONSTRAINT notifications_change_channel UNIQUE (change_key, channel);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'queued';
CREATE INDEX notifications_sending ON notifications (claimed_at) WHERE status = 'sending';
