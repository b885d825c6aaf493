-- The sandbox payment provider's own books (adapters/payment_sandbox.py). A real provider
-- keeps its state on its side and remembers it across our restarts; the sandbox keeps it in
-- these tables, which nothing else reads, and commits every call on its own.

-- Every call by idempotency key: the first call's request, and its result (NULL while a
-- simulated timeout waits for its retry).
CREATE TABLE sandbox_payment_calls (
    idempotency_key text PRIMARY KEY,
    request    jsonb NOT NULL,
    result     jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sandbox_authorizations (
    authorization_id text PRIMARY KEY,
    reference        text NOT NULL,   -- the order it was taken for
    currency         text NOT NULL,
    amount_minor     bigint NOT NULL CHECK (amount_minor >= 0),
    captured_minor   bigint NOT NULL DEFAULT 0 CHECK (captured_minor BETWEEN 0 AND amount_minor),
    voided           boolean NOT NULL DEFAULT false
);

CREATE TABLE sandbox_captures (
    capture_id       text PRIMARY KEY,
    authorization_id text NOT NULL REFERENCES sandbox_authorizations,
    currency         text NOT NULL,
    amount_minor     bigint NOT NULL CHECK (amount_minor > 0),
    refunded_minor   bigint NOT NULL DEFAULT 0 CHECK (refunded_minor BETWEEN 0 AND amount_minor)
);

CREATE TABLE sandbox_refunds (
    refund_id    text PRIMARY KEY,
    capture_id   text NOT NULL REFERENCES sandbox_captures,
    currency     text NOT NULL,
    amount_minor bigint NOT NULL CHECK (amount_minor > 0)
);
