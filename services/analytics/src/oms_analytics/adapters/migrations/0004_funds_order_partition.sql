-- Each order's source partition (docs/analytics.md, Expiry): the live reconciliation takes the
-- days of money of a source partition the faust tables no longer hold from the history, and
-- with them the orders of that partition whose money did not add up. Rows written before
-- this column existed have none (NULL): the report counts such an order for its day and
-- channel whenever it reads that day from the history (an order is counted once by its id).
ALTER TABLE analytics_funds_orders ADD COLUMN source_partition integer;
