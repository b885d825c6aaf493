-- Outbox rows the broker refused for good (too large, invalid topic): kept for an operator.
CREATE TABLE oms_outbox_parked (
    id            bigint PRIMARY KEY,
    topic         text        NOT NULL,
    key           bytea,
    event_id      uuid,
    payload       bytea       NOT NULL,
    header_keys   text[]      NOT NULL,
    header_values bytea[]     NOT NULL,
    reason        text        NOT NULL,
    parked_at     timestamptz NOT NULL DEFAULT now()
);
