-- What look-ups show of the delivery promise: the channel's, or the latest of the promises
-- orchestration made for the order's fulfilment orders (by then the customer has it all).
ALTER TABLE orders ADD COLUMN promised_by timestamptz;
