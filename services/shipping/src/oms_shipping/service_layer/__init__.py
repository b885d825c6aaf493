"""Use cases: fulfilment orders and staff actions, carrier tracking."""
