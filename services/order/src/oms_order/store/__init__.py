"""The order service's PostgreSQL store."""
