"""Which handler failures wait for the store to return, and which dead-letter."""

import pytest
from redis import exceptions as redis_exc
from sqlalchemy import exc as sa_exc

from crm_shared.consumer import DeadLetter, is_transient


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(),
        TimeoutError(),
        sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection")),
        sa_exc.InterfaceError("SELECT 1", {}, Exception("connection is closed")),
        redis_exc.ConnectionError("Connection refused"),
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
        DeadLetter("give up"),
    ],
)
def test_message_faults_are_not(exc: BaseException) -> None:
    assert not is_transient(exc)
