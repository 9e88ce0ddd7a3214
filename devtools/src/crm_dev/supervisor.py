"""``make dev``: start Kafka, Redis, the SMTP sink and every service; Ctrl-C stops all.

Honours every variable of CONTRACT.md: a given ``CRM_KAFKA_BOOTSTRAP``, ``CRM_REDIS_URL``
or ``CRM_SMTP_HOST`` is used instead of starting that server; ``CRM_<SERVICE>_DATABASE_URL``
replaces the service's SQLite file; data lives in ``CRM_DATA_DIR`` (default ``./.crm``).
``CRM_KAFKA_BROKERS=3`` starts a 3-broker KRaft cluster instead of one broker (each its
own process and data dir under ``kafka-cluster/``; topics with replication factor 3 and
``min.insync.replicas=2``), as the chart's tests run. A service that dies is started
again (0.5 s later, doubling to 30 s while it keeps dying), and the gateway answers 503
for it meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from crm_dev.servers import KafkaCluster, KafkaServer, RedisServer, SmtpSink, port_open
from crm_dev.stack import IMPLEMENTED, Stack, StackConfig
from crm_shared.kafka import ensure_topics

log = logging.getLogger("crm.dev")
_print_lock = threading.Lock()
WIDTH = max(len(n) for n in (*IMPLEMENTED, "supervisor"))


def say(name: str, line: str) -> None:
    with _print_lock:
        sys.stdout.write(f"{name:>{WIDTH}} | {line}\n")
        sys.stdout.flush()


def _remembered_ports(data_dir: Path) -> dict[str, int]:
    try:
        loaded: dict[str, int] = json.loads((data_dir / "ports.json").read_text())
        return loaded
    except (FileNotFoundError, ValueError):
        return {}


def _pick(saved: int | None) -> int | None:
    """Reuse last run's port (Kafka keeps its controller address) when it is free."""
    return saved if saved and not port_open(saved) else None


def _brokers() -> int:
    """``CRM_KAFKA_BROKERS``: 1 (default) or 3 (a cluster that survives a broker's loss)."""
    value = os.environ.get("CRM_KAFKA_BROKERS", "1")
    if value not in ("1", "3"):
        raise SystemExit(f"CRM_KAFKA_BROKERS must be 1 or 3, not {value!r}")
    return int(value)


def start_kafka(data_dir: Path, saved: dict[str, Any], servers: list[Any]) -> tuple[str, int]:
    """Start one broker or a 3-broker cluster (``CRM_KAFKA_BROKERS``) on last run's ports
    where free; returns the bootstrap address and the topics' replication factor."""
    brokers = _brokers()
    say("supervisor", f"starting Kafka, {brokers} broker(s) (first start fetches the jars once)")
    if brokers == 1:
        server = KafkaServer(data_dir / "kafka", port=_pick(saved.get("kafka")))
        if saved.get("kafka_controller") and not port_open(saved["kafka_controller"]):
            server.controller_port = saved["kafka_controller"]
        server.start()
        servers.append(server)
        saved.update(kafka=server.port, kafka_controller=server.controller_port)
        return server.bootstrap, 1
    cluster = KafkaCluster(
        data_dir / "kafka-cluster",
        nodes=brokers,
        ports=[_pick(p) for p in saved.get("kafka_cluster", [])],
        controller_ports=[_pick(p) for p in saved.get("kafka_cluster_controllers", [])],
    )
    servers.append(cluster)
    cluster.start()
    saved.update(
        kafka_cluster=[node.port for node in cluster.nodes],
        kafka_cluster_controllers=[node.controller_port for node in cluster.nodes],
    )
    return cluster.bootstrap, brokers


DEMO_CONTACTS: list[dict[str, Any]] = [
    {
        "kind": "company",
        "name": "Müller Maschinenbau GmbH",
        "email": "info@mueller-maschinenbau.example",
        "phone": "+49 89 123456",
        "language": "de",
        "status": "customer",
        "confirm": True,
    },
    {
        "kind": "person",
        "name": "Erika Mustermann",
        "email": "erika.mustermann@example.org",
        "phone": "+49 30 987654",
        "language": "de",
    },
    {"kind": "person", "name": "John Smith", "email": "john.smith@example.com", "language": "en"},
]


def seed_demo_data(gateway: str, data_dir: Path, username: str, password: str) -> None:
    """Demo contacts and one interaction, once per data dir."""
    marker = data_dir / "demo-data.done"
    if marker.exists():
        return
    with httpx.Client(base_url=gateway, timeout=30) as client:
        token = client.post("/api/auth/token", json={"username": username, "password": password})
        token.raise_for_status()
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        ids = []
        for contact in DEMO_CONTACTS:
            response = client.post("/api/contacts", json=contact)
            response.raise_for_status()
            ids.append(response.json()["id"])
        client.post(
            "/api/interactions",
            json={
                "contact_id": ids[1],
                "topic": "Rückruf gewünscht",
                "kind": "incoming",
                "text": "Frau Mustermann bittet um Rückruf wegen des Angebots.",
            },
        ).raise_for_status()
    marker.write_text("ok\n")
    say("supervisor", f"demo data created ({len(DEMO_CONTACTS)} contacts, 1 interaction)")


def main() -> None:
    started = time.monotonic()
    data_dir = Path(os.environ.get("CRM_DATA_DIR", ".crm")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    saved = _remembered_ports(data_dir)
    servers: list[Any] = []
    stack: Stack | None = None
    signals: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        # only a list append: a signal handler that takes a lock (Event.set) can
        # deadlock with the main thread inside the same lock (Event.wait)
        signals.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        kafka = os.environ.get("CRM_KAFKA_BOOTSTRAP")
        replication = 1
        if not kafka:
            kafka, replication = start_kafka(data_dir, saved, servers)
        redis = os.environ.get("CRM_REDIS_URL")
        if not redis:
            redis_server = RedisServer(
                data_dir / "redis", port=_pick(saved.get("redis")), persist=True
            )
            redis_server.start()
            servers.append(redis_server)
            redis = redis_server.url
            saved["redis"] = redis_server.port
        smtp_host = os.environ.get("CRM_SMTP_HOST")
        smtp_port = int(os.environ.get("CRM_SMTP_PORT", "25"))
        maildir = None
        if not smtp_host:
            sink = SmtpSink(data_dir / "mail", port=_pick(saved.get("smtp")))
            sink.start()
            servers.append(sink)
            smtp_host, smtp_port, maildir = "127.0.0.1", sink.port, sink.maildir
            saved["smtp"] = sink.port
        (data_dir / "ports.json").write_text(json.dumps(saved))
        durable = {"min.insync.replicas": "2"} if replication >= 3 else None
        asyncio.run(ensure_topics(kafka, replication_factor=replication, topic_configs=durable))
        say(
            "supervisor",
            f"servers ready: kafka {kafka}, redis {redis}, smtp {smtp_host}:{smtp_port}",
        )

        stack = Stack(
            StackConfig(
                kafka_bootstrap=kafka,
                redis_url=redis,
                smtp_host=smtp_host,
                smtp_port=smtp_port,
                data_dir=data_dir,
                maildir=maildir,
                fixed_ports=True,
                gateway_port=int(os.environ.get("CRM_GATEWAY_PORT", "8000")),
            ),
            sink=say,
        )
        stack.start_all(IMPLEMENTED)
        seed_demo_data(
            stack.gateway_url,
            data_dir,
            os.environ.get("CRM_ADMIN_USERNAME", "admin"),
            os.environ.get("CRM_ADMIN_PASSWORD", "admin"),
        )
        say("supervisor", f"ready in {time.monotonic() - started:.1f}s")
        say(
            "supervisor",
            f"CRM is running: {stack.gateway_url}  (mail: {stack.gateway_url}/dev/mail)"
            "  — Ctrl-C stops everything",
        )
        stack.watch()  # a service that dies is started again, with backoff, as in Kubernetes
        while not signals:
            time.sleep(0.2)
    except Exception as exc:
        say("supervisor", f"failed: {exc}")
        raise SystemExit(1) from exc
    finally:
        say("supervisor", "stopping")
        if stack is not None:
            stack.stop_all()
        for server in reversed(servers):
            with contextlib.suppress(Exception):
                server.stop()
        say("supervisor", "stopped")


if __name__ == "__main__":
    main()
