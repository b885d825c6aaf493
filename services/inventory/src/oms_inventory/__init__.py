"""The OMS inventory service: stock per SKU per location, reservations, feeds, availability."""
