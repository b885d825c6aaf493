"""The order service's adapters to the world outside it."""
