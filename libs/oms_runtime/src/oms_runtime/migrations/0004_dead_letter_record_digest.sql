-- The digest covers the record's key too: the same value under another key (another order)
-- at a reused offset is another record.
ALTER TABLE oms_dead_letters ADD COLUMN record_sha256 bytea;
UPDATE oms_dead_letters
    SET record_sha256 = sha256(coalesce(key, ''::bytea) || '\x00'::bytea || payload);
ALTER TABLE oms_dead_letters
    ALTER COLUMN record_sha256 SET NOT NULL,
    DROP CONSTRAINT oms_dead_letters_pkey,
    DROP COLUMN payload_sha256,
    ADD PRIMARY KEY (topic, partition, "offset", record_sha256);
