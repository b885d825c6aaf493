"""What the analytics service does: use cases over the runtime's unit of work."""
