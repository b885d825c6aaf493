-- Written by `oms rebuild` only, and emptied at its end: the payment provider's answers the
-- live service had, read back from oms.payments before the inputs apply
-- (service_layer/recalled_payments.py). Empty in a live database.
CREATE TABLE recalled_decisions (
    kind     text  NOT NULL,
    key      text  NOT NULL,
    decision jsonb NOT NULL,
    PRIMARY KEY (kind, key)
);
