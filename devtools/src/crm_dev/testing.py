"""Pytest plugin: real servers for the tests, and helpers to drive the stack.

Where each server comes from, in order (ARCHITECTURE.md): an address in the environment
(``CRM_KAFKA_BOOTSTRAP``, ``CRM_REDIS_URL``, ``CRM_TEST_POSTGRES_URL``), testcontainers
when a Docker engine answers, otherwise the local launchers ``make dev`` uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import mailbox
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy.engine import make_url

from crm_dev.rules import RulesDatabases
from crm_dev.servers import KafkaCluster, KafkaServer, PostgresServer, RedisServer, SmtpSink
from crm_dev.stack import IMPLEMENTED, Stack, StackConfig
from crm_dev.testkit import Kit
from crm_shared.db import Database
from crm_shared.dlq import topic_partitions
from crm_shared.kafka import ensure_topics

# The stacks import CSV in small batches: a test crosses batch boundaries with a few
# hundred rows instead of flooding crm.contacts with thousands of events that every
# consuming service must work through before the next test module's contacts arrive.
IMPORT_BATCH_SIZE = 100

RulesDb = Callable[[Path], Awaitable[Database]]

LAUNCHED: dict[str, KafkaServer | RedisServer | PostgresServer] = {}
"""The servers this session started itself (not those the environment named or Docker
runs), by name: the fault tests stop and restart them."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run each selected test N times in a row (to check for flakes)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``--repeat N``: each test N times, one after the other."""
    times: int = metafunc.config.getoption("repeat")
    if times > 1:
        metafunc.fixturenames.append("repeat_round")
        metafunc.parametrize("repeat_round", range(1, times + 1), ids=lambda n: f"run{n}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "after_everything(order): run after every other test of the session, in this order "
        "(for tests that load the shared stack heavily, or read what the others left)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``after_everything`` go last, by their order."""

    def order(item: pytest.Item) -> int:
        marker = item.get_closest_marker("after_everything")
        return int(marker.args[0]) if marker and marker.args else 0

    last = [item for item in items if item.get_closest_marker("after_everything")]
    if last:
        rest = [item for item in items if not item.get_closest_marker("after_everything")]
        items[:] = rest + sorted(last, key=order)


@contextlib.contextmanager
def _docker_container(factory: Callable[[], Any]) -> Iterator[Any | None]:
    """A started testcontainers container, or None when no Docker engine answers."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        yield None
        return
    container = factory()
    container.start()
    try:
        yield container
    finally:
        container.stop()


@pytest.fixture(scope="session")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def kafka_bootstrap(server_dir: Path) -> Iterator[str]:
    if os.environ.get("CRM_KAFKA_BOOTSTRAP"):
        bootstrap = os.environ["CRM_KAFKA_BOOTSTRAP"]
        asyncio.run(ensure_topics(bootstrap))
        yield bootstrap
        return

    def kafka_container() -> Any:
        from testcontainers.community.kafka import KafkaContainer

        return KafkaContainer().with_kraft()

    with _docker_container(kafka_container) as container:
        if container is not None:
            bootstrap = container.get_bootstrap_server()
            asyncio.run(ensure_topics(bootstrap))
            yield bootstrap
            return
    server = KafkaServer(server_dir / "kafka")
    server.start()
    LAUNCHED["kafka"] = server
    try:
        asyncio.run(ensure_topics(server.bootstrap))
        yield server.bootstrap
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kafka_cluster(server_dir: Path) -> Iterator[KafkaCluster]:
    """Three KRaft brokers (each its own process and data dir), for the tests that run
    the chart's replicas and kill a broker; topics get replication factor 3."""
    cluster = KafkaCluster(server_dir / "kafka-cluster")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_url(server_dir: Path) -> Iterator[str]:
    if os.environ.get("CRM_REDIS_URL"):
        yield os.environ["CRM_REDIS_URL"]
        return

    def redis_container() -> Any:
        from testcontainers.community.redis import RedisContainer

        return RedisContainer()

    with _docker_container(redis_container) as container:
        if container is not None:
            host = container.get_container_host_ip()
            yield f"redis://{host}:{container.get_exposed_port(6379)}/0"
            return
    server = RedisServer(server_dir / "redis")
    server.start()
    LAUNCHED["redis"] = server
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(server_dir: Path) -> Iterator[str]:
    """SQLAlchemy URL (asyncpg) of a PostgreSQL server's maintenance database."""
    if os.environ.get("CRM_TEST_POSTGRES_URL"):
        yield os.environ["CRM_TEST_POSTGRES_URL"]
        return

    def postgres_container() -> Any:
        from testcontainers.community.postgres import PostgresContainer

        return PostgresContainer("postgres:16-alpine", driver="asyncpg")

    with _docker_container(postgres_container) as container:
        if container is not None:
            yield container.get_connection_url()
            return
    server = PostgresServer(server_dir / "postgres")
    server.start()
    LAUNCHED["postgres"] = server
    try:
        yield server.url
    finally:
        server.stop()


async def create_database(server_url: str, prefix: str = "t") -> str:
    """A new empty database on the server; returns its SQLAlchemy URL."""
    url = make_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database or "postgres",
    )
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
async def pg_database(postgres_url: str) -> str:
    """A fresh PostgreSQL database for one test."""
    return await create_database(postgres_url)


@pytest.fixture(scope="session")
def smtp_sink(server_dir: Path) -> Iterator[SmtpSink]:
    sink = SmtpSink(server_dir / "smtp" / "mail")
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


class Mailbox:
    """Reads what the SMTP sink received."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir

    def messages(self, to: str | None = None) -> list[Message]:
        box = mailbox.Maildir(self.maildir, create=False)
        found = [msg for _, msg in box.items()]
        return [m for m in found if to is None or m.get("To") == to]

    def wait_for(self, to: str, count: int = 1, timeout: float = 10.0) -> list[Message]:
        """Wait until ``to`` has at least ``count`` mails; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages(to)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


@pytest.fixture(scope="session")
def mail(smtp_sink: SmtpSink) -> Mailbox:
    return Mailbox(smtp_sink.maildir)


@pytest.fixture(scope="session")
def stack(
    kafka_bootstrap: str,
    redis_url: str,
    postgres_url: str,
    smtp_sink: SmtpSink,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """Every implemented service on PostgreSQL, real Kafka, Redis and SMTP."""
    databases = {
        name: asyncio.run(create_database(postgres_url, name))
        for name in IMPLEMENTED
        if name != "notifier"
    }
    log_dir = tmp_path_factory.mktemp("service-logs")

    def to_file(name: str, line: str) -> None:
        with open(log_dir / f"{name}.log", "a") as handle:
            handle.write(line + "\n")

    stack = Stack(
        StackConfig(
            kafka_bootstrap=kafka_bootstrap,
            redis_url=redis_url,
            smtp_host="127.0.0.1",
            smtp_port=smtp_sink.port,
            data_dir=tmp_path_factory.mktemp("crm-data"),
            database_urls=databases,
            maildir=smtp_sink.maildir,
            env={
                "CRM_ENV": "test",
                "CRM_ADMIN_PASSWORD": "admin-test-pw",
                "CRM_OUTBOX_SWEEP_SECONDS": "1",
                "CRM_CONTACTS_IMPORT_BATCH_SIZE": str(IMPORT_BATCH_SIZE),
                # the whole suite signs in from 127.0.0.1: the failed logins of the
                # security and fuzz tests must not lock every other test out
                "CRM_GATEWAY_LOGIN_FAILURES_PER_ADDRESS": "1000",
            },
        ),
        sink=to_file,
    )
    try:
        stack.start_all(IMPLEMENTED)
        stack.watch()  # a service that dies is restarted, as make dev and Kubernetes do
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture(scope="session")
def sqlite_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Every service on SQLite (the embedded default), with servers of its own.

    Its own Kafka, Redis and SMTP sink, so its consumers never see the PostgreSQL
    stack's events (two notifiers on one topic would mail twice).
    """
    root = tmp_path_factory.mktemp("sqlite-stack")
    servers: list[Any] = [
        KafkaServer(root / "kafka"),
        RedisServer(root / "redis"),
        SmtpSink(root / "smtp" / "mail"),
    ]
    kafka, redis, sink = servers
    started: list[Any] = []
    try:
        for server in servers:
            server.start()
            started.append(server)
        asyncio.run(ensure_topics(kafka.bootstrap))
        data = root / "data"
        stack = Stack(
            StackConfig(
                kafka_bootstrap=kafka.bootstrap,
                redis_url=redis.url,
                smtp_host="127.0.0.1",
                smtp_port=sink.port,
                data_dir=data,
                maildir=sink.maildir,
                database_urls={n: f"sqlite+aiosqlite:///{data / n}.db" for n in IMPLEMENTED},
                env={
                    "CRM_ENV": "test",
                    "CRM_ADMIN_PASSWORD": "admin-test-pw",
                    "CRM_OUTBOX_SWEEP_SECONDS": "1",
                    "CRM_CONTACTS_IMPORT_BATCH_SIZE": str(IMPORT_BATCH_SIZE),
                    # the whole suite signs in from 127.0.0.1: the failed logins of the
                    # security and fuzz tests must not lock every other test out
                    "CRM_GATEWAY_LOGIN_FAILURES_PER_ADDRESS": "1000",
                },
            ),
        )
        try:
            stack.start_all(IMPLEMENTED)
            yield stack
        finally:
            stack.stop_all()
    finally:
        for server in reversed(started):
            server.stop()


def _token(stack: Stack) -> str:
    response = httpx.post(
        f"{stack.gateway_url}/api/auth/token",
        json={"username": "admin", "password": "admin-test-pw"},
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


@pytest.fixture(scope="session")
def admin_token(stack: Stack) -> str:
    return _token(stack)


@pytest.fixture
async def api(stack: Stack, admin_token: str) -> Any:
    """An HTTP client at the gateway (PostgreSQL stack), signed in as the admin."""
    async with httpx.AsyncClient(
        base_url=stack.gateway_url,
        timeout=30,
        headers={"Authorization": f"Bearer {admin_token}"},
    ) as client:
        yield client


@pytest.fixture(scope="session")
def sqlite_admin_token(sqlite_stack: Stack) -> str:
    return _token(sqlite_stack)


@pytest.fixture
async def sqlite_api(sqlite_stack: Stack, sqlite_admin_token: str) -> Any:
    """An HTTP client at the gateway of the SQLite stack, signed in as the admin."""
    async with httpx.AsyncClient(
        base_url=sqlite_stack.gateway_url,
        timeout=30,
        headers={"Authorization": f"Bearer {sqlite_admin_token}"},
    ) as client:
        yield client


@pytest.fixture(params=["postgresql", "sqlite"])
def any_api(request: pytest.FixtureRequest) -> Any:
    """The gateway client of the PostgreSQL stack, then of the SQLite stack: a test using
    it runs once on each database."""
    return request.getfixturevalue("api" if request.param == "postgresql" else "sqlite_api")


async def read_topic(
    bootstrap: str,
    topic: str,
    until: Callable[[Any], bool],
    timeout: float = 10.0,  # noqa: ASYNC109 - a read deadline, not a cancel scope
) -> Any | None:
    """Read ``topic`` from the start until a record matches ``until``; None on timeout."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    if until(record):
                        return record
        return None
    finally:
        await consumer.stop()


async def read_all(bootstrap: str, topics: list[str]) -> list[Any]:
    """Every record of ``topics``, from the start up to their ends as they are now."""
    parts = [TopicPartition(t, p) for t in topics for p in await topic_partitions(bootstrap, t)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        records: list[Any] = []
        while [p for p in parts if await consumer.position(p) < ends[p]]:
            for batch in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


@pytest.fixture(scope="session")
def rules_databases(tmp_path_factory: pytest.TempPathFactory) -> RulesDatabases:
    return RulesDatabases(tmp_path_factory.mktemp("rules"))


@pytest.fixture
async def rules_db(rules_databases: RulesDatabases) -> AsyncIterator[RulesDb]:
    """``db = await rules_db(MIGRATIONS)``: a fresh SQLite database with a service's
    migrations, for a test of its rules without servers (the fast lane)."""
    opened: list[Database] = []

    async def fresh(migrations_dir: Path) -> Database:
        db = await rules_databases.fresh(migrations_dir)
        opened.append(db)
        return db

    yield fresh
    for db in opened:
        await db.dispose()


@pytest.fixture
def kit() -> type[Kit]:
    """Helpers for service tests (see :mod:`crm_dev.testkit`)."""
    return Kit
