"""Run what the rendered chart would run, as local processes: each Deployment's replicas
with the container's command and the environment Kubernetes would give it (env,
ConfigMaps, Secrets), the migration Job first, a load balancer for each Service, and the
chart's KafkaTopics created as Strimzi's topic operator would.

Cluster DNS names (``crm-contacts:8000``, ``crm-kafka-kafka-bootstrap.crm.svc:9092``)
become local addresses; each replica is a "pod" on loopback with its own port and its own
``/tmp``. What this cannot show: the image itself, the kubelet's probes' timing, network
policies, read-only root filesystems (tests/deploy/test_chart.py checks those settings).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from crm_dev.balancer import TcpBalancer
from crm_dev.helm import Manifest, by_kind
from crm_dev.servers import KafkaCluster, free_port
from crm_dev.stack import LogSink, ProcessExited, ServiceProcess

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def image_env() -> dict[str, str]:
    """The final stage's ENV of deploy/Dockerfile (what every container starts with),
    its PATH pointed at this machine's virtualenv instead of the image's."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    final = re.split(r"^FROM .*$", text, flags=re.M)[-1]
    env: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            for part in line[4:].split():
                name, _, value = part.partition("=")
                env[name] = value
    env["PATH"] = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    return env


class MissingSecret(KeyError):
    """A pod refers to a Secret key that does not exist (the kubelet would not start it)."""


@dataclass
class Pod:
    """One replica: a process on its own loopback port."""

    deployment: str
    component: str
    port: int
    container: dict[str, Any]
    process: ServiceProcess

    def probe_path(self, probe: str) -> str:
        path: str = self.container[probe]["httpGet"]["path"]
        return path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class ChartRun:
    """The rendered chart's workloads on this machine."""

    objects: list[Manifest]
    secrets: Mapping[str, Mapping[str, str]]
    """Secret name → data, as the operator created them (the chart references them)."""
    addresses: Mapping[str, str]
    """Cluster address → local address, for what is outside the chart (Kafka)."""
    work_dir: Path
    sink: LogSink = field(default=lambda name, line: None)
    pods: list[Pod] = field(default_factory=list)
    balancers: dict[str, TcpBalancer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        config_maps = by_kind(self.objects, "ConfigMap")
        self.config_maps = {name: m.get("data", {}) for name, m in config_maps.items()}
        self._ports: dict[str, list[int]] = {}
        self._port_vars: dict[str, list[str]] = {}
        for name, deployment in by_kind(self.objects, "Deployment").items():
            self._ports[name] = [free_port() for _ in range(self.replicas_of(name, deployment))]
        self._mapped = dict(self.addresses)
        self._service_of: dict[str, str] = {}
        for name, service in by_kind(self.objects, "Service").items():
            target = self._deployment_selected(service["spec"]["selector"])
            balancer = TcpBalancer(self._ports[target], name=f"svc-{name}")
            self.balancers[name] = balancer
            self._service_of[target] = name
            namespace = service["metadata"].get("namespace", "crm")
            for port in service["spec"]["ports"]:
                local = f"127.0.0.1:{balancer.port}"
                for host in (name, f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"):  # fmt: skip  # noqa: E501
                    self._mapped[f"{host}:{port['port']}"] = local

    def replicas_of(self, name: str, deployment: Manifest) -> int:
        """spec.replicas, or the HPA's minReplicas when an HPA owns the count."""
        hpa = by_kind(self.objects, "HorizontalPodAutoscaler").get(name)
        if hpa is not None:
            return int(hpa["spec"]["minReplicas"])
        return int(deployment["spec"].get("replicas", 1))

    def _deployment_selected(self, selector: Mapping[str, str]) -> str:
        for name, deployment in by_kind(self.objects, "Deployment").items():
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            if selector.items() <= labels.items():
                return name
        raise LookupError(f"no Deployment matches {selector}")

    # --- environment --------------------------------------------------------------

    def _secret(self, ref: Mapping[str, Any]) -> str | None:
        data = self.secrets.get(ref["name"], {})
        if ref["key"] in data:
            return data[ref["key"]]
        if ref.get("optional"):
            return None
        raise MissingSecret(f"secret {ref['name']} has no key {ref['key']}")

    def _map(self, value: str) -> str:
        for cluster, local in sorted(self._mapped.items(), key=lambda kv: -len(kv[0])):
            value = value.replace(cluster, local)
        return value

    def container_env(self, container: Mapping[str, Any], tmp: Path) -> dict[str, str]:
        """What the kubelet would set: the image's ENV, envFrom ConfigMaps, then env."""
        env = image_env()
        # this machine's own values, kept as they are (a checkout under /tmp stays found)
        machine = {"PATH": env.pop("PATH"), "HOME": str(tmp), "TMPDIR": str(tmp)}
        for source in container.get("envFrom", []):
            env.update(self.config_maps[source["configMapRef"]["name"]])
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = str(item["value"])
                continue
            ref = item["valueFrom"]
            if "secretKeyRef" in ref:
                secret = self._secret(ref["secretKeyRef"])
                if secret is not None:
                    env[item["name"]] = secret
            else:
                config = ref["configMapKeyRef"]
                env[item["name"]] = self.config_maps[config["name"]][config["key"]]
        # the pod's own /tmp (an emptyDir), and its address: loopback
        pod = {
            k: self._map(v).replace("/tmp", str(tmp)).replace("0.0.0.0", "127.0.0.1")  # noqa: S104
            for k, v in env.items()
        }
        return {**pod, **machine}

    # --- running ------------------------------------------------------------------

    def run_job(self, name: str) -> subprocess.CompletedProcess[str]:
        """Run a Job's container to completion (its activeDeadlineSeconds at most)."""
        job = by_kind(self.objects, "Job")[name]
        (container,) = job["spec"]["template"]["spec"]["containers"]
        tmp = self.work_dir / name / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return subprocess.run(
            container["command"],
            env=self.container_env(container, tmp),
            capture_output=True,
            text=True,
            timeout=job["spec"].get("activeDeadlineSeconds", 600),
            check=False,
        )

    def start(self, *, last: tuple[str, ...] = ("gateway",), timeout: float = 120.0) -> None:
        """Start every replica of every Deployment (components in ``last`` after the
        rest are ready) and wait until each answers its startup and readiness probes."""
        for balancer in self.balancers.values():
            balancer.start()
        deployments = by_kind(self.objects, "Deployment")
        order = sorted(deployments, key=lambda n: self._component(deployments[n]) in last)
        first = [n for n in order if self._component(deployments[n]) not in last]
        for group in (first, [n for n in order if n not in first]):
            started = [pod for name in group for pod in self._start_deployment(name)]
            for pod in started:
                self.wait_ready(pod, timeout)

    @staticmethod
    def _component(deployment: Manifest) -> str:
        component: str = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        return component

    def _start_deployment(self, name: str) -> list[Pod]:
        deployment = by_kind(self.objects, "Deployment")[name]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        container_port = str(container["ports"][0]["containerPort"])
        component = self._component(deployment)
        pods = []
        for index, port in enumerate(self._ports[name]):
            tmp = self.work_dir / f"{name}-{index}" / "tmp"
            tmp.mkdir(parents=True, exist_ok=True)
            env = self.container_env(container, tmp)
            self._port_vars[name] = [
                k for k, v in env.items() if k.endswith("_PORT") and v == container_port
            ]
            # the pod's port: each replica listens on its own one here
            env.update(dict.fromkeys(self._port_vars[name], str(port)))
            label = f"{component}-{index}"
            process = ServiceProcess(label, port, env, self.sink, argv=list(container["command"]))
            process.start()
            pod = Pod(name, component, port, container, process)
            self.pods.append(pod)
            pods.append(pod)
        return pods

    def _move(self, pod: Pod) -> None:
        """Start a pod again on another port: a free port found earlier was taken in the
        meantime (an outgoing connection's ephemeral port), which Kubernetes never has."""
        old, pod.port = pod.port, free_port()
        env = {**pod.process.env, **dict.fromkeys(self._port_vars[pod.deployment], str(pod.port))}
        pod.process = ServiceProcess(
            pod.process.name, pod.port, env, self.sink, argv=pod.process.argv
        )
        pod.process.start()
        ports = self._ports[pod.deployment]
        ports[ports.index(old)] = pod.port
        service = self._service_of.get(pod.deployment)
        if service is not None:
            self.balancers[service].replace(old, pod.port)

    def wait_ready(self, pod: Pod, timeout: float) -> None:
        """The startup probe's path, then the readiness probe's, answer 200."""
        deadline = time.monotonic() + timeout
        moves = 0
        for probe in ("startupProbe", "readinessProbe"):
            while True:
                left = max(1.0, deadline - time.monotonic())
                try:
                    pod.process.wait_ready(left, path=pod.probe_path(probe))
                    break
                except ProcessExited as exc:
                    if "address already in use" not in str(exc) or moves >= 3:
                        raise
                    moves += 1
                    self._move(pod)

    def pods_of(self, component: str) -> list[Pod]:
        return [pod for pod in self.pods if pod.component == component]

    def url(self, service: str) -> str:
        """The load balancer in front of a Service's replicas."""
        return f"http://127.0.0.1:{self.balancers[service].port}"

    def stop(self) -> None:
        for pod in reversed(self.pods):
            pod.process.stop()
        for balancer in self.balancers.values():
            balancer.stop()


async def apply_kafka_topics(objects: list[Manifest], bootstrap: str) -> list[str]:
    """Create each KafkaTopic's topic as Strimzi's topic operator would (partitions,
    replicas, config); returns the topic names."""
    topics = [
        NewTopic(
            spec["topicName"],
            num_partitions=spec["partitions"],
            replication_factor=spec["replicas"],
            topic_configs={k: str(v) for k, v in spec.get("config", {}).items()},
        )
        for spec in (t["spec"] for t in by_kind(objects, "KafkaTopic").values())
    ]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="topic-operator")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [t for t in topics if t.name not in existing]
        if new:
            await admin.create_topics(new)
    finally:
        await admin.close()
    return [t.name for t in topics]


ADMIN_PASSWORD = "chart-admin-pw-1"  # noqa: S105 - a throwaway test deployment
ADMIN_EMAIL = "admin@crm.local.test"


@dataclass
class ChartDeployment:
    """The running chart: its workloads, their servers, and the rendered objects."""

    run: ChartRun
    objects: list[Manifest]
    kafka: KafkaCluster
    mail: Any
    """The SMTP sink's mailbox (crm_dev.testing.Mailbox)."""
    migration_output: str
    traces: Any
    """The OTLP receiver every pod exports its spans to (crm_dev.otlp_sink.OtlpSink)."""

    @property
    def gateway_url(self) -> str:
        """The load balancer in front of every gateway replica (what the Ingress does)."""
        return self.run.url("crm-gateway")
