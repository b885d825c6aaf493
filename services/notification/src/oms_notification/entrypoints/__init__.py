"""How the world reaches the notification service: Kafka subscriptions."""
