-- Prepaid methods are captured when the order is accepted; cancellations refund that capture.
ALTER TABLE orders
    ADD COLUMN capture_id     text,
    ADD COLUMN refunded_minor bigint NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0),
    ADD CONSTRAINT refunds_within_captures CHECK (refunded_minor <= captured_minor);
