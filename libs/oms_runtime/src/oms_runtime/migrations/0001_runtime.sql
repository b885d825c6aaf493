-- Tables every service keeps beside its own: inbox, outbox and dead letters.

-- Inbox: one row per event id whose effects are committed; a redelivered event finds its row.
CREATE TABLE oms_inbox (
    event_id     uuid PRIMARY KEY,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- Outbox: events written in the same transaction as the state change, published by the relay.
CREATE TABLE oms_outbox (
    id            bigserial PRIMARY KEY,
    topic         text        NOT NULL,
    key           bytea,
    event_id      uuid,
    payload       bytea       NOT NULL,
    header_keys   text[]      NOT NULL DEFAULT '{}',
    header_values bytea[]     NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Dead letters: records this service could not process, kept with the reason for re-driving.
CREATE TABLE oms_dead_letters (
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    "offset"      bigint      NOT NULL,
    event_id      uuid,
    event_type    text,
    reason        text        NOT NULL,
    detail        text        NOT NULL,
    attempts      integer     NOT NULL,
    key           bytea,
    payload       bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    redriven_at   timestamptz,
    PRIMARY KEY (topic, partition, "offset")
);
