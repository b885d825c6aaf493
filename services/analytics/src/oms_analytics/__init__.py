"""The OMS analytics service."""
