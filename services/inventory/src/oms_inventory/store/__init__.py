"""The inventory service's PostgreSQL access."""
