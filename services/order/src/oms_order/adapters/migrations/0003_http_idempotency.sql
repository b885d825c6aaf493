-- What the HTTP API answered to each (channel, Idempotency-Key): a retry with the same body
-- gets the same answer; the same key with another body is refused. Written in the same
-- transaction as the order it created or found.
CREATE TABLE http_idempotency (
    channel         text        NOT NULL,
    idempotency_key text        NOT NULL,
    request_hash    text        NOT NULL,
    status_code     integer     NOT NULL,
    response        jsonb       NOT NULL,
    order_id        text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, idempotency_key)
);

-- Customer service looks orders up by e-mail, a page at a time in order id order.
CREATE INDEX orders_customer_email_page ON orders (lower(customer_email), order_id);
