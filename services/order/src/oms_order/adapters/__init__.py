"""The order service's PostgreSQL tables and their migrations, and its payment provider."""

from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
