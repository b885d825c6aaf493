-- A decision made because a location rejected a fulfilment order (or let its deadline pass):
-- the fulfilment orders it creates are announced as reroutes of that one.
ALTER TABLE decisions ADD COLUMN reroutes text;
ALTER TABLE fulfilment_orders ADD COLUMN reason text;
