-- inventory_reserve_run (0003) also decides and records why a line failed, so a run's
-- failures cost no round trip of their own while the run holds its rows' locks (the other
-- instance waits on a hot row for exactly that long). Reasons, as one request at a time
-- gave them: out_of_stock (with what was available); unknown_sku or unknown_location when
-- there is no stock row (available 0); for an all-or-nothing request, a line whose SKU at
-- its location had enough fails with 'all_or_nothing: another line of the set cannot be
-- reserved'.
DROP FUNCTION inventory_reserve_run(int[], int[], boolean[], text[], text[], text[], int[],
    timestamptz[]);

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
DECLARE
    r int;
    n int;
    need record;
    fits boolean;
    seen bigint;
    -- (sku, location) -> [available when locked, units the request needs]
    seen_by_key jsonb;
    key text;
BEGIN
    FOR r IN 1 .. coalesce(array_length(first_line, 1), 0) LOOP
        fits := true;
        seen_by_key := '{}';
        IF all_or_nothing[r] THEN
            FOR need IN
                SELECT skus[i] AS sku, location_ids[i] AS location_id, sum(quantities[i]) AS units
                FROM generate_series(first_line[r], last_line[r]) AS i
                GROUP BY 1, 2 ORDER BY 1, 2
            LOOP
                SELECT s.on_hand::bigint - s.reserved - s.safety_stock INTO seen FROM stock s
                WHERE s.sku = need.sku AND s.location_id = need.location_id FOR UPDATE;
                seen_by_key := seen_by_key || jsonb_build_object(
                    jsonb_build_array(need.sku, need.location_id)::text,
                    jsonb_build_array(seen, need.units));
                fits := fits AND coalesce(seen >= need.units, false);
            END LOOP;
        END IF;
        FOR n IN first_line[r] .. last_line[r] LOOP
            line_reservation_id := reservation_ids[n];
            line_available := NULL;
            line_reason := NULL;
            IF all_or_nothing[r] THEN
                line_held := fits;
                IF fits THEN
                    UPDATE stock SET reserved = reserved + quantities[n], version = version + 1,
                        updated_at = now()
                    WHERE sku = skus[n] AND location_id = location_ids[n];
                ELSE
                    key := jsonb_build_array(skus[n], location_ids[n])::text;
                    line_available := (seen_by_key -> key ->> 0)::bigint;
                    IF line_available >= (seen_by_key -> key ->> 1)::bigint THEN
                        line_reason := 'all_or_nothing: another line of the set cannot be reserved';
                    END IF;
                END IF;
            ELSE
                UPDATE stock SET reserved = reserved + quantities[n], version = version + 1,
                    updated_at = now()
                WHERE sku = skus[n] AND location_id = location_ids[n]
                    AND on_hand::bigint - reserved - safety_stock >= quantities[n];
                line_held := FOUND;
                IF NOT line_held THEN
                    SELECT s.on_hand::bigint - s.reserved - s.safety_stock INTO line_available
                    FROM stock s WHERE s.sku = skus[n] AND s.location_id = location_ids[n];
                END IF;
            END IF;
            IF line_held THEN
                INSERT INTO stock_movements (sku, location_id, kind, reserved_delta, reference)
                VALUES (skus[n], location_ids[n], 'reserved', quantities[n], reservation_ids[n]);
                UPDATE reservations SET status = 'held', reason = NULL, expires_at = expires[n],
                    updated_at = now()
                WHERE reservation_id = reservation_ids[n];
            ELSE
                IF line_reason IS NULL THEN
                    line_reason := CASE
                        WHEN line_available IS NOT NULL THEN 'out_of_stock'
                        WHEN NOT EXISTS (SELECT 1 FROM items WHERE sku = skus[n])
                            THEN 'unknown_sku'
                        WHEN NOT EXISTS (
                            SELECT 1 FROM locations WHERE location_id = location_ids[n])
                            THEN 'unknown_location'
                        ELSE 'out_of_stock'
                    END;
                END IF;
                line_available := coalesce(line_available, 0);
                UPDATE reservations SET status = 'failed', reason = line_reason,
                    updated_at = now()
                WHERE reservation_id = reservation_ids[n];
            END IF;
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$$;
