-- Reserve a run of requests in one round trip, each request exactly as one at a time: an
-- all-or-nothing request holds every line or none, any other request each line that fits.
-- Requests are taken in their order; the caller sends each request's lines together, in
-- (sku, location) order, from first_line[r] to last_line[r], so every request locks rows in
-- one order. No oversell rests on the row lock: an all-or-nothing request locks its rows
-- before it compares, any other line is held by a conditional update.
-- Per line: whether it is held, and otherwise the units available when it was tried (NULL
-- when the SKU has no stock row at that location).
CREATE FUNCTION inventory_reserve_run(
    first_line int[],
    last_line int[],
    all_or_nothing boolean[],
    reservation_ids text[],
    skus text[],
    location_ids text[],
    quantities int[],
    expires timestamptz[]
) RETURNS TABLE (line_reservation_id text, line_held boolean, line_available bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r int;
    n int;
    need record;
    fits boolean;
    seen bigint;
    seen_by_key jsonb;
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
                seen_by_key := seen_by_key
                    || jsonb_build_object(jsonb_build_array(need.sku, need.location_id)::text, seen);
                fits := fits AND coalesce(seen >= need.units, false);
            END LOOP;
        END IF;
        FOR n IN first_line[r] .. last_line[r] LOOP
            line_reservation_id := reservation_ids[n];
            line_available := NULL;
            IF all_or_nothing[r] THEN
                line_held := fits;
                IF fits THEN
                    UPDATE stock SET reserved = reserved + quantities[n], version = version + 1,
                        updated_at = now()
                    WHERE sku = skus[n] AND location_id = location_ids[n];
                ELSE
                    line_available := (seen_by_key
                        ->> jsonb_build_array(skus[n], location_ids[n])::text)::bigint;
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
            END IF;
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$$;
