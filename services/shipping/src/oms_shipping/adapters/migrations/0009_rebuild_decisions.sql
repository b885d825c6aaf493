-- A rebuild's scratch (`oms rebuild shipping`): the labels' tracking numbers and the pickup
-- codes the live service drew, read back from oms.shipments before the inputs apply, by the
-- staff action that drew them. Empty outside a rebuild, emptied at its end.
CREATE TABLE recalled_decisions (
    cause    uuid  NOT NULL,
    kind     text  NOT NULL CHECK (kind IN ('labels', 'pickup_code')),
    decision jsonb NOT NULL,
    PRIMARY KEY (cause, kind)
);
