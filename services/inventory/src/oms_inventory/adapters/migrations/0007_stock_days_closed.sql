-- The day close: once a UTC day has ended, one StockDayClosed per stock row that existed as it
-- ended. A row knows when it was created; rows older than this migration count as existing
-- since ever ('-infinity'), so the first day closed after it covers them.
ALTER TABLE stock ADD COLUMN created_at timestamptz NOT NULL DEFAULT '-infinity';
ALTER TABLE stock ALTER COLUMN created_at SET DEFAULT now();

-- One row per stock row and day closed, inserted with the event in one transaction
-- (ON CONFLICT DO NOTHING): two workers, a restart or a retried batch never publish a day of
-- a row twice. It keeps what the event said; a rebuild reads the events back into it.
CREATE TABLE stock_days_closed (
    day          date NOT NULL,
    sku          text NOT NULL,
    location_id  text NOT NULL,
    on_hand      integer NOT NULL CHECK (on_hand >= 0),
    reserved     integer NOT NULL CHECK (reserved >= 0),
    in_transit   integer NOT NULL CHECK (in_transit >= 0),
    quarantined  integer NOT NULL CHECK (quarantined >= 0),
    taken_at     timestamptz NOT NULL,
    PRIMARY KEY (day, sku, location_id)
);
