-- Orders stuck in a status: when the order entered its status, and which stays were reported.
ALTER TABLE orders ADD COLUMN status_since timestamptz;
UPDATE orders SET status_since = updated_at;
ALTER TABLE orders
    ALTER COLUMN status_since SET DEFAULT now(),
    ALTER COLUMN status_since SET NOT NULL;

-- Every path that changes a status (one order, a batch) keeps status_since without knowing it.
CREATE FUNCTION order_status_since() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        NEW.status_since := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER orders_status_since BEFORE UPDATE OF status ON orders
    FOR EACH ROW EXECUTE FUNCTION order_status_since();

-- The sweep reads, per watched status, the orders that entered it before a cutoff.
CREATE INDEX orders_status_since ON orders (status, status_since);

-- One row per stay reported: a second sweep, or another instance, reports it no more.
CREATE TABLE order_stuck_reports (
    order_id    text        NOT NULL REFERENCES orders (order_id),
    status      text        NOT NULL,
    since       timestamptz NOT NULL,
    threshold_s integer     NOT NULL,
    reported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, status, since)
);
