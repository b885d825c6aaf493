-- Write a unit of work's outbox rows in one round trip: lock their keys, ask whether an
-- earlier writer left rows for those keys, insert the rows in order, and wake the relay when
-- it is the one to send them.
--
-- Publish on commit (w_session_locks): the keys stay locked for the whole session, until the
-- committer has sent its rows. The question is asked by a statement of its own, with a
-- snapshot taken after the locks, so a row committed by a writer that crashed while we
-- waited for its lock is seen. Rows are stranded (left for the relay) when one is found.
-- Otherwise the locks end with the transaction and the relay sends every row.
CREATE FUNCTION oms_outbox_write(
    w_session_locks boolean,
    w_locks bigint[],
    w_keys bytea[],
    w_topics text[],
    w_record_keys bytea[],
    w_event_ids uuid[],
    w_payloads bytea[],
    w_firsts int[],
    w_lasts int[],
    w_header_keys text[],
    w_header_values bytea[],
    w_notify text,
    OUT stranded boolean,
    OUT ids bigint[]
) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF w_session_locks THEN
        PERFORM pg_advisory_lock(k) FROM unnest(w_locks) AS k ORDER BY k;
        stranded := EXISTS (SELECT 1 FROM oms_outbox WHERE key = ANY(w_keys));
    ELSE
        PERFORM pg_advisory_xact_lock(k) FROM unnest(w_locks) AS k ORDER BY k;
        stranded := true;
    END IF;
    -- Ids follow the ORDER BY: nextval runs row by row in that order.
    WITH written AS (
        INSERT INTO oms_outbox (topic, key, event_id, payload, header_keys, header_values)
        SELECT r.topic, r.key, r.event_id, r.payload, w_header_keys[r.first:r.last],
            w_header_values[r.first:r.last]
        FROM unnest(w_topics, w_record_keys, w_event_ids, w_payloads, w_firsts, w_lasts)
            WITH ORDINALITY AS r(topic, key, event_id, payload, first, last, n)
        ORDER BY r.n RETURNING id
    )
    SELECT array_agg(id ORDER BY id) INTO ids FROM written;
    IF stranded THEN
        PERFORM pg_notify(w_notify, '');
    END IF;
END;
$$;

DROP FUNCTION oms_outbox_lock_keys(bigint[], bytea[]);
