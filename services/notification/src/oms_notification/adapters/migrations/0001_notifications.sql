-- One row per (triggering event, channel): a replayed or redelivered event finds it.
CREATE TABLE notifications (
    notification_id  text PRIMARY KEY,
    order_id         text        NOT NULL,
    trigger_event_id uuid        NOT NULL,
    trigger_type     text        NOT NULL,
    channel          text        NOT NULL,
    template         text        NOT NULL,
    locale           text        NOT NULL,
    status           text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (trigger_event_id, channel)
);
CREATE INDEX notifications_order ON notifications (order_id);
