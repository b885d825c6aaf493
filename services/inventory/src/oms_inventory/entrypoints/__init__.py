"""How the world reaches the inventory service: Kafka subscriptions, HTTP and the CLI."""
