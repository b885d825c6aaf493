-- Written by `oms rebuild` only, and emptied at its end: what the live service decided by the
-- clock or by what it saw at that moment, read back from oms.sourcing before the inputs apply
-- (service_layer/recalled.py). Empty in a live database.
CREATE TABLE recalled_decisions (
    kind     text  NOT NULL,
    key      text  NOT NULL,
    decision jsonb NOT NULL,
    PRIMARY KEY (kind, key)
);
