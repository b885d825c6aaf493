-- Publish on commit: the committing transaction locks its keys for the whole session (held
-- until its rows are sent), then asks whether an earlier writer left rows for those keys.
-- A plpgsql function, so the question is asked with a snapshot taken after the locks: a row
-- committed by a writer that crashed while we waited for its lock is seen.
CREATE FUNCTION oms_outbox_lock_keys(locks bigint[], keys bytea[]) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_lock(k) FROM unnest(locks) AS k ORDER BY k;
    RETURN EXISTS (SELECT 1 FROM oms_outbox WHERE key = ANY(keys));
END;
$$;

-- The relay's recovery pass reads rows by age.
CREATE INDEX oms_outbox_created_at ON oms_outbox (created_at);
CREATE INDEX oms_outbox_key ON oms_outbox (key);
