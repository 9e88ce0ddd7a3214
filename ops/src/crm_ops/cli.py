"""``crm``: the operator's commands, for a shell on a machine or ``kubectl exec``.

Every command reads the same environment as the services (``CRM_KAFKA_BOOTSTRAP``,
``CRM_<SERVICE>_DATABASE_URL``, ``CRM_REDIS_URL``, ``CRM_KAFKA_*`` security), so in
Kubernetes it runs in a pod of the chart (the migration Job, a service's pod, or the
optional ops toolbox) with nothing else to set.

    crm migrate [SERVICE ...] [--check]
    crm dlq replay crm.interactions.dlq [--dry-run]
    crm timeline rebuild [--keep]
    crm reminders rebuild
    crm lag [--group G ...] [--fail-above N]
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Annotated

import typer
from redis.asyncio import Redis

from crm_shared import migrations
from crm_shared.db import Database
from crm_shared.dlq import GROUP as DLQ_GROUP
from crm_shared.dlq import replay as replay_dead_letters
from crm_shared.lag import consumer_lag, total_by_group

app = typer.Typer(
    help="The CRM operator commands (same environment as the services).",
    no_args_is_help=True,
    add_completion=False,
)
dlq_app = typer.Typer(help="Dead-letter topics.", no_args_is_help=True)
timeline_app = typer.Typer(help="The CRM timeline (history service).", no_args_is_help=True)
reminders_app = typer.Typer(help="The reminder schedule (reminders service).", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
app.add_typer(timeline_app, name="timeline")
app.add_typer(reminders_app, name="reminders")


def _bootstrap() -> str:
    return os.environ.get("CRM_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


@app.command()
def migrate(
    services: Annotated[
        list[str] | None, typer.Argument(help="services to migrate (default: all)")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="only check that each database is current")
    ] = False,
) -> None:
    """Bring each service's database to the newest revision (the chart's migration Job).

    On PostgreSQL an advisory lock lets only one migrator work at a time, so this is safe
    while old replicas still run. With --check nothing changes; the exit code is 1 when a
    database is behind the code."""
    from crm_ops.catalog import SERVICES  # every service's code: only what needs it

    names = services or list(SERVICES)
    unknown = sorted(set(names) - set(SERVICES))
    if unknown:
        raise typer.BadParameter(f"unknown service(s) {unknown}; known: {list(SERVICES)}")

    async def run() -> bool:
        ok = True
        for name in names:
            entry = SERVICES[name]
            db = Database(entry.settings().effective_database_url)
            started = time.monotonic()
            try:
                if check:
                    state = await migrations.check(db, entry.migrations)
                    typer.echo(f"{name}: {state}")
                else:
                    await migrations.upgrade(db, entry.migrations)
                    revisions = sorted(await migrations.current_revisions(db))
                    took = time.monotonic() - started
                    typer.echo(f"{name}: at {', '.join(revisions)} ({took:.1f}s)")
            except migrations.SchemaBehind as exc:
                typer.echo(f"{name}: {exc}", err=True)
                ok = False
            finally:
                await db.dispose()
        return ok

    if not asyncio.run(run()):
        raise typer.Exit(1)


@dlq_app.command("replay")
def dlq_replay(
    topic: Annotated[str, typer.Argument(help="the dead-letter topic, e.g. crm.interactions.dlq")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list only; send nothing")] = False,
    group: Annotated[str, typer.Option(help="consumer group remembering progress")] = DLQ_GROUP,
) -> None:
    """Republish dead letters to the topic they came from (resumable; see crm_shared.dlq)."""
    if not topic.endswith(".dlq"):
        raise typer.BadParameter("the topic must be a dead-letter topic (<topic>.dlq)")
    asyncio.run(replay_dead_letters(_bootstrap(), topic, dry_run=dry_run, group_id=group))


@timeline_app.command("rebuild")
def timeline_rebuild(
    keep: Annotated[bool, typer.Option("--keep", help="do not clear the timeline first")] = False,
) -> None:
    """Rebuild the CRM timeline from the topics (safe while the service runs)."""
    from crm_history.replay import replay
    from crm_history.settings import Settings

    started = time.monotonic()
    counts = asyncio.run(replay(Settings(), clear=not keep))
    typer.echo(
        f"replayed {counts['read']} events ({counts['skipped']} unreadable skipped) "
        f"in {time.monotonic() - started:.1f}s"
    )


@reminders_app.command("rebuild")
def reminders_rebuild() -> None:
    """Add every reminder stage still to fire to the Redis schedule (after Redis lost
    its data). Entries already there keep their place; nothing fires twice."""
    from crm_reminders.deps import rebuild_schedule
    from crm_reminders.schedule import ReminderSchedule
    from crm_reminders.settings import Settings

    settings = Settings()

    async def run() -> int:
        db = Database(settings.effective_database_url)
        redis = Redis.from_url(settings.redis_url)
        try:
            schedule = ReminderSchedule(
                redis, prefix=settings.redis_prefix, lease_seconds=settings.claim_lease_seconds
            )
            added = await rebuild_schedule(db, schedule)
            typer.echo(f"schedule holds {await schedule.size()} stages")
            return added
        finally:
            await redis.aclose()
            await db.dispose()

    typer.echo(f"{asyncio.run(run())} pending stages re-added")


@app.command()
def lag(
    group: Annotated[
        list[str] | None, typer.Option("--group", "-g", help="only these groups")
    ] = None,
    fail_above: Annotated[
        int | None, typer.Option(help="exit 1 when a group lags by more than this many events")
    ] = None,
    partitions: Annotated[bool, typer.Option(help="one line per partition")] = False,
) -> None:
    """Consumer lag per group: events not yet committed by each group."""
    lags = asyncio.run(consumer_lag(_bootstrap(), group))
    if partitions:
        for item in lags:
            typer.echo(
                f"{item.group:<24} {item.topic:<24} {item.partition:>3} "
                f"{item.committed:>10} {item.end:>10} {item.lag:>8}"
            )
    totals = total_by_group(lags)
    for name, behind in totals.items():
        typer.echo(f"{name:<24} lag {behind}")
    if not totals:
        typer.echo("no consumer group has committed offsets")
    if fail_above is not None and any(behind > fail_above for behind in totals.values()):
        raise typer.Exit(1)


def main() -> None:
    app()
