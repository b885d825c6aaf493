"""Pure sourcing rules: no database, no Kafka."""
