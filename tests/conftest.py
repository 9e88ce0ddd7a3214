"""Fixtures shared by the cross-service tests: the chart's workloads running as local
processes on the 3-broker Kafka cluster (tests/deploy/test_chart_runs.py and
tests/e2e/test_kafka_cluster.py use the same one, started once per session)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_dev import helm
from crm_dev.chart_run import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    ChartDeployment,
    ChartRun,
    apply_kafka_topics,
)
from crm_dev.otlp_sink import OtlpSink
from crm_dev.servers import KafkaCluster, RedisServer, SmtpSink
from crm_dev.stack import IMPLEMENTED
from crm_dev.testing import Mailbox, create_database

CHART_RUN_VALUES = Path(__file__).parent / "deploy" / "chart-run-values.yaml"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests on the chart's deployment last: its 14 processes and 3 brokers then load
    the 2 cores only at the end of the session (the fixture ends with it), not during the
    timing-sensitive tests after them."""
    items.sort(key=lambda item: "chart_deployment" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def chart_deployment(
    kafka_cluster: KafkaCluster,
    postgres_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ChartDeployment]:
    root = tmp_path_factory.mktemp("chart-run")
    objects = helm.render([CHART_RUN_VALUES])
    # servers of its own: its consumers must not meet the other stacks' events (Kafka),
    # reminder schedule (Redis) or mails (SMTP)
    redis = RedisServer(root / "redis")
    sink = SmtpSink(root / "smtp" / "mail")
    traces = OtlpSink()  # the OpenTelemetry collector the values point at
    redis.start()
    sink.start()
    traces.start()
    logs = root / "logs"
    logs.mkdir()

    def to_file(name: str, line: str) -> None:
        with open(logs / f"{name}.log", "a") as handle:
            handle.write(line + "\n")

    run = None
    try:
        databases = {
            name: asyncio.run(create_database(postgres_url, f"chart_{name}"))
            for name in IMPLEMENTED
        }
        secrets = {
            "crm-databases": databases,
            "crm-redis": {"url": redis.url},
            "crm-jwt": {"secret": "chart-run-jwt-secret-0123456789abcdef0123"},
            "crm-admin": {"username": "admin", "password": ADMIN_PASSWORD, "email": ADMIN_EMAIL},
            "crm-smtp": {
                "host": "127.0.0.1",
                "port": str(sink.port),
                "from": "CRM <crm@crm.local.test>",
            },
        }
        asyncio.run(apply_kafka_topics(objects, kafka_cluster.bootstrap))
        run = ChartRun(
            objects,
            secrets=secrets,
            addresses={
                "crm-kafka-kafka-bootstrap.crm.svc:9092": kafka_cluster.bootstrap,
                "otel-collector.crm.svc:4318": f"127.0.0.1:{traces.port}",
            },
            work_dir=root / "pods",
            sink=to_file,
        )
        migrated = run.run_job("crm-migrations")  # the pre-install hook, before any pod
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        run.start()
        yield ChartDeployment(
            run, objects, kafka_cluster, Mailbox(sink.maildir), migrated.stdout, traces
        )
    finally:
        if run is not None:
            run.stop()
        traces.stop()
        sink.stop()
        redis.stop()
        shutil.rmtree(root / "pods", ignore_errors=True)
