"""The analytics service's rules: pure, no database, broker or runtime."""
