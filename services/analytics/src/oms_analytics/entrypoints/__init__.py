"""How the world reaches the analytics service: Kafka subscriptions, HTTP and the CLI."""
