"""The analytics service's PostgreSQL tables and their migrations."""

from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
