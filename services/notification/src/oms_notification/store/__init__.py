"""The notification service's PostgreSQL store."""
