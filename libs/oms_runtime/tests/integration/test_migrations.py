"""The checked migration runner on PostgreSQL: history kept intact, or the service refuses to
start; and every migration directory in the project numbered without repeats."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from oms_runtime import RUNTIME_MIGRATIONS, MigrationRefused, apply_migrations
from tests.support.world import Env

ROOT = Path(__file__).parents[4]
# Numbered 0003 twice before the runner checked; both are applied everywhere, so they stay.
_HISTORICAL_REPEATS = {"services/order/src/oms_order/adapters/migrations": {"0003"}}


@pytest.fixture
async def pool(env: Env) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(await env.database("migrations"), min_size=1, max_size=1)
    assert pool is not None
    try:
        yield pool
    finally:
        await pool.close()


async def _apply(pool: asyncpg.Pool, tmp_path: Path, files: dict[str, str]) -> list[str]:
    """The service ``svc`` starting with exactly these migration files."""
    directory = tmp_path / "migrations"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return await apply_migrations(pool, {"svc": directory})


async def test_new_migrations_apply_in_order_and_once(pool: asyncpg.Pool, tmp_path: Path) -> None:
    first = {"0001_a.sql": "CREATE TABLE a (x int);"}
    assert await _apply(pool, tmp_path, first) == ["svc/0001_a.sql"]
    both = first | {"0002_b.sql": "INSERT INTO a VALUES (2);"}
    assert await _apply(pool, tmp_path, both) == ["svc/0002_b.sql"]
    assert await _apply(pool, tmp_path, both) == []
    assert await pool.fetchval("SELECT count(*) FROM a") == 1


async def test_an_edited_migration_is_refused(pool: asyncpg.Pool, tmp_path: Path) -> None:
    await _apply(pool, tmp_path, {"0001_a.sql": "CREATE TABLE a ();"})
    edited = {"0001_a.sql": "CREATE TABLE a (x int);", "0002_b.sql": "CREATE TABLE b ();"}
    with pytest.raises(
        MigrationRefused, match=re.escape("svc/0001_a.sql changed after it was applied")
    ):
        await _apply(pool, tmp_path, edited)
    assert await pool.fetchval("SELECT to_regclass('b')") is None, "nothing applied"


async def test_a_migration_slipped_in_behind_applied_ones_is_refused(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    files = {"0001_a.sql": "CREATE TABLE a ();", "0003_c.sql": "CREATE TABLE c ();"}
    await _apply(pool, tmp_path, files)
    behind = files | {"0002_b.sql": "CREATE TABLE b ();"}
    with pytest.raises(MigrationRefused, match=re.escape("svc/0002_b.sql is new but sorts before")):
        await _apply(pool, tmp_path, behind)


async def test_a_removed_migration_is_refused(pool: asyncpg.Pool, tmp_path: Path) -> None:
    files = {"0001_a.sql": "CREATE TABLE a ();", "0002_b.sql": "CREATE TABLE b ();"}
    await _apply(pool, tmp_path, files)
    with pytest.raises(MigrationRefused, match=re.escape("svc/0002_b.sql was applied but is gone")):
        await _apply(pool, tmp_path, {"0001_a.sql": files["0001_a.sql"]})


async def test_history_from_before_digests_is_taken_as_it_is(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await apply_migrations(pool, {"runtime": RUNTIME_MIGRATIONS})
    await pool.execute("UPDATE oms_schema_migrations SET sha256 = NULL")
    assert await apply_migrations(pool, {"runtime": RUNTIME_MIGRATIONS}) == []
    assert (
        await pool.fetchval("SELECT count(*) FROM oms_schema_migrations WHERE sha256 IS NULL") == 0
    )


def test_every_migration_directory_numbers_its_files_once() -> None:
    directories = [
        *ROOT.glob("libs/*/src/*/migrations"),
        *ROOT.glob("services/*/src/*/adapters/migrations"),
    ]
    assert len(directories) >= 5, directories
    for directory in directories:
        numbers = Counter(
            re.match(r"(\d+)_", script.name).group(1)  # type: ignore[union-attr]
            for script in directory.glob("*.sql")
        )
        repeated = {n for n, count in numbers.items() if count > 1}
        allowed = _HISTORICAL_REPEATS.get(str(directory.relative_to(ROOT)), set())
        assert repeated <= allowed, f"{directory}: {sorted(repeated - allowed)} used twice"
