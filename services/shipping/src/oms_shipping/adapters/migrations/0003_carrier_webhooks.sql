-- Carrier webhook requests refused (unsigned, badly signed, stale, unreadable), kept for the
-- carrier's integration to be fixed: never the body itself, only its digest.
CREATE TABLE refused_carrier_requests (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    carrier      text        NOT NULL,
    reason       text        NOT NULL,
    detail       text        NOT NULL,
    body_sha256  text        NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refused_carrier_requests_carrier ON refused_carrier_requests (carrier, received_at);
