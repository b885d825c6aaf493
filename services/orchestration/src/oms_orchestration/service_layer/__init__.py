"""What the orchestration service does: source orders and run their sagas."""
