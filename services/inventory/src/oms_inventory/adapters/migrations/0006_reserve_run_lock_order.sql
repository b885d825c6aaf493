-- A run holds the stock rows it reserves from until its batch commits. Taken line by line in
-- the requests' order, two instances' runs meeting the same rows in opposite orders
-- deadlocked: PostgreSQL waits deadlock_timeout (1 s) before aborting one of them, and that
-- batch is tried again (at 1,000 requests/s, dozens a minute: the latency's tail). The run
-- now locks all its rows first, in (sku, location_id) order, so two runs wait for each other
-- but never in a circle; the lines are then taken as before (0004).
ALTER FUNCTION inventory_reserve_run(int[], int[], boolean[], text[], text[], text[], int[],
    timestamptz[]) RENAME TO inventory_reserve_lines;

CREATE FUNCTION inventory_reserve_run(
    first_line int[],
    last_line int[],
    all_or_nothing boolean[],
    reservation_ids text[],
    skus text[],
    location_ids text[],
    quantities int[],
    expires timestamptz[]
) RETURNS TABLE (
    line_reservation_id text, line_held boolean, line_available bigint, line_reason text
)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM stock s
    WHERE (s.sku, s.location_id) IN (SELECT * FROM unnest(skus, location_ids))
    ORDER BY s.sku, s.location_id
    FOR UPDATE;
    RETURN QUERY SELECT * FROM inventory_reserve_lines(
        first_line, last_line, all_or_nothing, reservation_ids, skus, location_ids,
        quantities, expires);
END
$$;
