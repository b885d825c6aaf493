"""The orchestration service's PostgreSQL access."""
