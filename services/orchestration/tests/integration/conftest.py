"""The orchestration service's database, migrated, for tests of its statements without Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from oms_orchestration.adapters import MIGRATIONS
from tests.support.world import Env


@pytest.fixture
async def dsn(env: Env) -> str:
    return await env.migrated_database("orchestration", MIGRATIONS)


@pytest.fixture
async def conn(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(dsn)
    try:
        yield connection
    finally:
        await connection.close()
