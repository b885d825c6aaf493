"""The shipping service's PostgreSQL tables, their migrations and its carrier file."""

from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
