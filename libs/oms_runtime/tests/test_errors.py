import asyncpg
import pytest

from oms_runtime._outbox import safe_text
from oms_runtime._retry import is_infrastructure_error


def _pg(cls: type[asyncpg.PostgresError]) -> asyncpg.PostgresError:
    return cls.new({"C": cls.sqlstate, "M": "boom"})  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(),
        TimeoutError(),
        asyncpg.InterfaceError("pool is closing"),
        _pg(asyncpg.exceptions.SerializationError),
        _pg(asyncpg.exceptions.DeadlockDetectedError),
        _pg(asyncpg.exceptions.AdminShutdownError),
        _pg(asyncpg.exceptions.CannotConnectNowError),
        _pg(asyncpg.exceptions.TooManyConnectionsError),
    ],
)
def test_database_and_network_failures_are_retried(error: BaseException) -> None:
    assert is_infrastructure_error(error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.DataError("invalid input for query argument $1"),
        _pg(asyncpg.exceptions.QueryCanceledError),
        _pg(asyncpg.exceptions.UniqueViolationError),
        _pg(asyncpg.exceptions.NumericValueOutOfRangeError),
        _pg(asyncpg.exceptions.CharacterNotInRepertoireError),
        ValueError("bad data"),
        KeyError("missing"),
    ],
)
def test_failures_caused_by_the_data_are_not(error: BaseException) -> None:
    assert not is_infrastructure_error(error)


def test_safe_text_removes_what_postgres_refuses() -> None:
    assert safe_text("a\x00b") == "a\\x00b"
    assert safe_text("lone \udc80 surrogate") == "lone \\udc80 surrogate"
    assert safe_text("x" * 50, 10) == "x" * 10
