"""The inventory service's PostgreSQL tables, their migrations and its catalogue file."""

from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
