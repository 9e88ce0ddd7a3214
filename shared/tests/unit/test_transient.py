"""Which handler failures wait for the store to return, and which dead-letter."""

import pytest
from redis import exceptions as redis_exc
from sqlalchemy import exc as sa_exc

from crm_shared.transient import DeadLetter, is_transient


class _ServerError(Exception):
    """What the asyncpg adapter raises: an error carrying PostgreSQL's SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(),
        TimeoutError(),
        sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection")),
        sa_exc.InterfaceError("SELECT 1", {}, Exception("connection is closed")),
        redis_exc.ConnectionError("Connection refused"),
        # PostgreSQL restarting: "the database system is shutting down" / "is starting up"
        sa_exc.DBAPIError("SELECT 1", {}, _ServerError("57P03")),
        sa_exc.DBAPIError("SELECT 1", {}, _ServerError("57P01")),
        sa_exc.DBAPIError("SELECT 1", {}, _ServerError("08006")),
    ],
)
def test_unreachable_stores_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad data"),
        KeyError("x"),
        sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key")),
        sa_exc.DBAPIError("INSERT", {}, _ServerError("23505")),  # a unique violation
        DeadLetter("give up"),
    ],
)
def test_message_faults_are_not(exc: BaseException) -> None:
    assert not is_transient(exc)
