"""The orchestration service's PostgreSQL tables, their migrations and its sourcing file."""

from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
