"""How the world reaches the order service: Kafka subscriptions and HTTP."""
