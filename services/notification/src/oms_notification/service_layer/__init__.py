"""What the notification service does: use cases over its unit of work."""
