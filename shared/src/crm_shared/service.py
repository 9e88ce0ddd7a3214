"""One service = one FastAPI app plus FastStream subscribers in one process.

:func:`create_service_app` wires what every service has: logging, migrations, the
database, the Kafka producer and outbox relay, the subscribers (started in the FastAPI
lifespan, not through the deprecated ``faststream.kafka.fastapi``), Redis where used,
problem+json errors and ``/healthz``, ``/readyz``, ``/metrics``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar, cast

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared import migrations, tracing
from crm_shared.consistency import ConsistencyMiddleware, WrittenHook
from crm_shared.consumer import (
    DatabaseDeduplicator,
    Deduplicator,
    EventConsumer,
    Handler,
    RedisDeduplicator,
    register_consumers,
)
from crm_shared.db import Database
from crm_shared.errors import install_problem_handlers
from crm_shared.kafka import EventProducer, create_broker, ensure_topics
from crm_shared.lag import CaughtUp
from crm_shared.logs import configure_logging
from crm_shared.outbox import Outbox, OutboxRelay
from crm_shared.settings import ServiceSettings

log = logging.getLogger(__name__)


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


@dataclass
class Runtime(Generic[SettingsT]):
    """What a running service holds: the clients its code uses."""

    settings: SettingsT
    producer: EventProducer
    outbox: Outbox
    db: Database | None = None
    redis: Redis | None = None
    relay: OutboxRelay | None = None
    checks: dict[str, Callable[[], Awaitable[Any]]] = field(default_factory=dict)
    """Extra readiness checks (the gateway adds one per service)."""
    consumed: set[tuple[str, str]] = field(default_factory=set)
    """(consumer group, topic) of every consumer this service runs: the copies
    ``wait_for_copy`` can wait for."""
    caught_up: CaughtUp | None = None
    """Asks Kafka whether one of this service's groups has caught up (``wait_for_copy``,
    before it calls a row missing)."""

    @property
    def database(self) -> Database:
        """The service's database (for services that have one)."""
        if self.db is None:
            raise RuntimeError(f"{self.settings.service_name} has no database")
        return self.db

    @property
    def redis_client(self) -> Redis:
        """The Redis client (for services started with ``uses_redis``)."""
        if self.redis is None:
            raise RuntimeError(f"{self.settings.service_name} does not use Redis")
        return self.redis

    def consumer(
        self,
        topic: str,
        handlers: Mapping[str, Handler],
        *,
        group_id: str | None = None,
        dedupe_in: Literal["database", "redis"] | None = None,
        concurrency: int = 1,
    ) -> EventConsumer:
        """An idempotent consumer of ``topic`` in this service's group (or ``group_id``),
        deduplicated in the service's database (or in Redis: for effects outside any
        database, such as mail, whose guard lives in Redis too); ``concurrency`` as
        :class:`EventConsumer` takes it."""
        where = dedupe_in or ("database" if self.db is not None else "redis")
        dedupe: Deduplicator
        if where == "database":
            dedupe = DatabaseDeduplicator(self.database)
        else:
            dedupe = RedisDeduplicator(self.redis_client)
        return EventConsumer(
            topic=topic,
            group_id=group_id or self.settings.service_name,
            handlers=handlers,
            dedupe=dedupe,
            producer=self.producer,
            max_attempts=self.settings.consumer_max_attempts,
            hold_before_ack_seconds=self.settings.fault_hold_before_ack_seconds,
            batch_size=self.settings.consumer_batch_size,
            concurrency=concurrency,
        )


@dataclass
class ServiceDeps(Generic[SettingsT]):
    """A service's typed dependencies: the runtime, plus what the service itself keeps
    running (a subclass adds those as fields). Routes, handlers and consumers take the
    one object, so nothing is read from an untyped bag, and nothing is read before it
    exists: the object is built first, :meth:`start` runs, then the consumers are built
    from it.

    A subclass builds its fields without I/O in its factory (the operator tools build
    one to list the consumers, without connecting anywhere) and does its I/O in
    :meth:`start`."""

    runtime: Runtime[SettingsT]
    background: BackgroundTasks = field(default_factory=lambda: BackgroundTasks(), kw_only=True)
    """Tasks running beside the requests (loops, jobs), cancelled at :meth:`stop`."""

    @property
    def settings(self) -> SettingsT:
        return self.runtime.settings

    async def start(self) -> None:
        """Start what the service keeps running (after the runtime is up, before the
        consumers)."""

    async def stop(self) -> None:
        """Stop it again (before the runtime goes down); a subclass that overrides this
        calls ``super().stop()`` last."""
        await self.background.stop()


class BackgroundTasks:
    """Tasks a service runs beside its requests (a loop, a job), kept until they end and
    cancelled, then awaited, when the service stops."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


DepsT = TypeVar("DepsT", bound=ServiceDeps[Any])
DepsFactory = Callable[[Runtime[SettingsT]], DepsT]
ConsumersFactory = Callable[[DepsT], Sequence[EventConsumer]]


async def _retry(what: str, action: Callable[[], Awaitable[Any]], *, seconds: float = 60) -> None:
    """Retry ``action`` until it succeeds or ``seconds`` pass (servers may start later)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    delay = 0.2
    while True:
        try:
            await action()
            return
        except Exception as exc:
            if loop.time() > deadline:
                raise
            log.warning("%s not reachable yet (%r); retrying", what, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)


def create_service_app(
    settings: SettingsT,
    *,
    title: str,
    routers: Sequence[APIRouter] = (),
    migrations_dir: Path | None = None,
    uses_redis: bool = False,
    deps: DepsFactory[SettingsT, DepsT] | None = None,
    consumers: ConsumersFactory[DepsT] | None = None,
    on_written: WrittenHook | None = None,
) -> FastAPI:
    """The FastAPI app of a service, with its whole runtime started in the lifespan.

    In order: the runtime (database and migrations, Redis, the producer and outbox
    relay), the service's own dependencies (``deps(runtime)``, then their ``start``),
    the consumers built from those (``consumers(deps)``), the Kafka subscribers; the
    reverse at the end. ``app.state.deps`` holds the dependencies for the routes
    (:func:`deps_dependency`).

    Every response to a request whose commits wrote events carries their positions
    (``CRM-Consistency-Token``); ``on_written`` also hears them (the gateway keeps them
    for the caller)."""
    configure_logging(settings.service_name, level=settings.log_level, fmt=settings.log_format)
    tracing.configure(settings.service_name)  # off unless OTEL_EXPORTER_OTLP_ENDPOINT is set

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await _start_runtime(settings, migrations_dir=migrations_dir, redis=uses_redis)
        app.state.runtime = runtime
        service_deps: ServiceDeps[SettingsT] = (
            deps(runtime) if deps is not None else ServiceDeps(runtime)
        )
        broker = create_broker(settings.kafka_bootstrap, client_id=settings.service_name)
        try:
            await service_deps.start()
            app.state.deps = service_deps
            started = list(consumers(cast(DepsT, service_deps))) if consumers else []
            runtime.consumed = {(c.group_id, c.topic) for c in started}
            register_consumers(broker, started)
            await _retry("kafka consumers", broker.start)
            tune_gc(settings.gc_threshold)
            log.info("%s ready on %s:%s", settings.service_name, settings.host, settings.port)
            yield
        finally:
            await broker.stop()
            await service_deps.stop()
            await _stop_runtime(runtime)

    app = FastAPI(title=title, lifespan=lifespan)
    tracing.instrument_app(app)
    app.state.settings = settings
    app.add_middleware(ConsistencyMiddleware, on_written=on_written)
    install_problem_handlers(app)
    app.include_router(health_router())
    for router in routers:
        app.include_router(router)
    return app


async def _start_runtime(
    settings: SettingsT, *, migrations_dir: Path | None, redis: bool
) -> Runtime[SettingsT]:
    """The clients every service has, connected (servers that start later are waited for)."""
    producer = EventProducer(settings.kafka_bootstrap, client_id=settings.service_name)
    runtime = Runtime(settings=settings, producer=producer, outbox=Outbox(settings.source))
    if migrations_dir is not None:
        db = runtime.db = Database(settings.effective_database_url)
        if settings.migrate_at_start:
            await _retry("database", lambda: migrations.upgrade(db, migrations_dir))
        else:
            await _retry("database", lambda: migrations.check(db, migrations_dir))
    if redis:
        client = runtime.redis = redis_client(settings.redis_url)
        await _retry("redis", client.ping)
    await _retry("kafka", producer.start)
    runtime.caught_up = CaughtUp(settings.kafka_bootstrap)
    if settings.env != "prod":  # in Kubernetes, Strimzi KafkaTopic resources do this
        await ensure_topics(settings.kafka_bootstrap)
    if runtime.db is not None:
        runtime.relay = OutboxRelay(
            runtime.db,
            producer,
            owner=settings.service_name,
            sweep_seconds=settings.outbox_sweep_seconds,
            hold_seconds=settings.fault_hold_after_commit_seconds,
        )
        runtime.relay.start()
    return runtime


def redis_client(url: str) -> Redis:
    """A Redis client that survives a restart of Redis: a pooled connection the restart
    broke is found out before use when idle for a while (``health_check_interval``) and
    otherwise replaced and the command sent again (3 times, 10 ms doubling to 0.5 s);
    ``from_url`` alone gives its connections no retry (a request after a Redis restart
    failed on a dead pooled connection minutes later)."""
    return Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.01), 3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=15,
    )


async def _stop_runtime(runtime: Runtime[Any]) -> None:
    if runtime.relay is not None:
        await runtime.relay.stop()
    if runtime.caught_up is not None:
        await runtime.caught_up.close()
    await runtime.producer.stop()
    if runtime.redis is not None:
        await runtime.redis.aclose()
    if runtime.db is not None:
        await runtime.db.dispose()
    tracing.shutdown()


def tune_gc(threshold: tuple[int, int, int]) -> None:
    """Set the cyclic garbage collector up for a long-running service, once it is started.

    Everything built so far lives as long as the process: ``gc.freeze`` keeps it out of
    the collector's full passes, which otherwise walk it all and stalled a dashboard
    request now and then by ~150 ms (bench/dashboard.py). The thresholds then make the
    passes rarer. Python's 700 allocations for a young pass, and a full pass after every
    hundred young ones, suit short scripts: a bulk job allocates a few containers per row,
    nearly all freed by reference counting, yet with 700,10,10 the collector took 14 % of
    the contacts service's CPU during an import of 100,000 rows (gc.callbacks: 1,831
    young, 166 middle and 15 full passes, 1.3 s). With 50000,20,100 the service used 7.0
    instead of 8.5-9.2 CPU s (bench/contacts_import.py --only-import); the consumers of
    crm.contacts use 0-11 % less (bench/consumer_throughput.py). Young garbage cycles are
    still freed every 50,000 allocations; the memory they can hold until then is a few MB.
    """
    gc.freeze()
    gc.set_threshold(*threshold)


async def readiness(runtime: Runtime[Any]) -> dict[str, str]:
    """Check each backing server; returns ``{name: "ok" | error}``."""
    checks: dict[str, Callable[[], Awaitable[Any]]] = {"kafka": runtime.producer.ping}
    if runtime.db is not None:
        checks["database"] = runtime.db.ping
    if runtime.redis is not None:
        checks["redis"] = runtime.redis.ping
    checks.update(runtime.checks)
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(), 5)
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"error: {exc!r}"
    return results


def health_router() -> APIRouter:
    """``/healthz`` (alive), ``/readyz`` (servers reachable), ``/metrics`` (Prometheus)."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        runtime: Runtime[Any] | None = getattr(request.app.state, "runtime", None)
        if runtime is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        checks = await readiness(runtime)
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks},
            status_code=200 if ok else 503,
        )

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def runtime_of(request: Request) -> Runtime[Any]:
    """The runtime of the service answering ``request``."""
    runtime: Runtime[Any] = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime[Any]:
    """FastAPI dependency: the service runtime (``async``, as every dependency: a plain
    ``def`` one runs in a worker thread)."""
    return runtime_of(request)


def deps_dependency(cls: type[DepsT]) -> Callable[[Request], Awaitable[DepsT]]:
    """A FastAPI dependency giving the service's typed dependencies (a ``cls``):
    ``DepsDep = Annotated[HistoryDeps, Depends(deps_dependency(HistoryDeps))]``."""

    async def get_deps(request: Request) -> DepsT:
        deps = request.app.state.deps
        if not isinstance(deps, cls):
            raise TypeError(f"expected {cls.__name__}, the service holds {type(deps).__name__}")
        return deps

    return get_deps


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """FastAPI dependency: a unit of work committed before the response is sent."""
    async with runtime_of(request).database.unit_of_work() as session:
        yield session


RuntimeDep = Annotated[Runtime[Any], Depends(get_runtime)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run a service app with uvicorn (the process entry point), without the ``server``
    header (it names the server software and its version to anyone who asks)."""
    import uvicorn

    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        server_header=False,
    )
