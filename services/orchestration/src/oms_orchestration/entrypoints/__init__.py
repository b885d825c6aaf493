"""How the world reaches the orchestration service: Kafka subscriptions and HTTP."""
