-- A dead letter is identified by where it was read AND what it held: offsets restart when a
-- topic or cluster is recreated while this database lives on, and a new record at an old
-- offset must not be taken for the old one.
ALTER TABLE oms_dead_letters ADD COLUMN payload_sha256 bytea;
UPDATE oms_dead_letters SET payload_sha256 = sha256(payload);
ALTER TABLE oms_dead_letters
    ALTER COLUMN payload_sha256 SET NOT NULL,
    DROP CONSTRAINT oms_dead_letters_pkey,
    ADD PRIMARY KEY (topic, partition, "offset", payload_sha256);
