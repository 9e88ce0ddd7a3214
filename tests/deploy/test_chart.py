"""The Helm chart without a cluster: lint, render, validate offline, and the rendered
objects checked for what an operator relies on."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from crm_dev import helm
from crm_ops.catalog import SERVICES as CATALOG
from crm_ops.kafka_access import render as render_access
from crm_ops.kafka_access import service_access
from crm_shared.events import all_topics

PRODUCTION = helm.CHART / "ci" / "production-values.yaml"
INVALID = Path(__file__).parent / "values"
SERVICES = ("contacts", "history", "interactions", "campaigns", "reminders", "notifier", "gateway")
NO_SCHEMA_HERE = {"ServiceMonitor"}  # Prometheus Operator's CRD: no schema kept (README)
USES_REDIS = {"gateway", "reminders", "notifier"}  # README: what each service uses


def http_calls() -> dict[str, dict[str, str]]:
    """caller → {callee: the caller's variable of the callee's URL}, from the code: every
    ``<service>_url`` setting of a service is an HTTP call to that service."""
    calls: dict[str, dict[str, str]] = {}
    for name, entry in CATALOG.items():
        prefix = str(entry.settings.model_config.get("env_prefix", ""))
        for field in entry.settings.model_fields:
            callee = field.removesuffix("_url")
            if field.endswith("_url") and callee in CATALOG:
                calls.setdefault(name, {})[callee] = f"{prefix}{field}".upper()
    return calls


def _pod_labels(objects: list[helm.Manifest], name: str) -> dict[str, str]:
    labels: dict[str, str] = helm.by_kind(objects, "Deployment")[f"crm-{name}"]["spec"]["template"][
        "metadata"
    ]["labels"]
    return labels


def _lets_through(
    rules: list[dict[str, Any]], side: str, labels: dict[str, str], port: int
) -> bool:
    """A rule of ``rules`` has a peer on ``side`` (from/to) selecting pods with ``labels``
    in the policy's namespace, on ``port`` (by number or as the container's port name)."""
    return any(
        any(
            "namespaceSelector" not in peer
            and "ipBlock" not in peer
            and peer.get("podSelector", {}).get("matchLabels", {}).items() <= labels.items()
            for peer in rule.get(side, [])
        )
        and any(p["port"] in (port, "http") for p in rule.get("ports", []))
        for rule in rules
    )


@pytest.fixture(scope="module")
def default_objects() -> list[helm.Manifest]:
    return helm.render()


@pytest.fixture(scope="module")
def production_objects() -> list[helm.Manifest]:
    return helm.render([PRODUCTION])


def test_helm_lint_strict_passes_with_default_and_production_values() -> None:
    for values in ([], [PRODUCTION]):
        result = helm.lint(values)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("values", ["default", "production"])
def test_every_rendered_object_passes_its_schema(
    values: str, default_objects: list[helm.Manifest], production_objects: list[helm.Manifest]
) -> None:
    objects = default_objects if values == "default" else production_objects
    checked = helm.validate(objects, unchecked_kinds=NO_SCHEMA_HERE)
    unchecked = [o for o in objects if o["kind"] in NO_SCHEMA_HERE]
    assert len(checked) + len(unchecked) == len(objects)
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "KafkaTopic", "KafkaUser", "Job", "NetworkPolicy"} <= kinds
    if values == "production":
        assert {"Ingress", "HorizontalPodAutoscaler", "ServiceMonitor"} <= kinds


def test_the_validation_refuses_what_a_cluster_would(default_objects: list[helm.Manifest]) -> None:
    """The checks above can fail: a typo in a Strimzi spec, a wrong type in a Deployment."""
    topic = copy.deepcopy(helm.by_kind(default_objects, "KafkaTopic")["crm-contacts"])
    topic["spec"]["replicationFactor"] = 3  # Strimzi calls it replicas
    with pytest.raises(helm.ManifestError, match="replicationFactor"):
        helm.validate([topic])
    user = copy.deepcopy(next(iter(helm.by_kind(default_objects, "KafkaUser").values())))
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Reed"]
    with pytest.raises(helm.ManifestError, match="Reed"):
        helm.validate([user])
    deployment = copy.deepcopy(helm.by_kind(default_objects, "Deployment")["crm-contacts"])
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(helm.ManifestError, match="two"):
        helm.validate([deployment])


@pytest.mark.parametrize("bad", sorted(p.name for p in INVALID.glob("*.yaml")))
def test_a_values_file_that_breaks_the_schema_is_refused(bad: str) -> None:
    wanted = (INVALID / bad).read_text().splitlines()[0].removeprefix("# refused: ").strip()
    result = helm.helm(
        "template", "crm", str(helm.CHART), "--kube-version", helm.KUBE_VERSIONS[-1],
        "-f", str(INVALID / bad), check=False,
    )  # fmt: skip
    assert result.returncode != 0, f"{bad} was accepted"
    assert "values don't meet the specifications of the schema" in result.stderr
    assert wanted in result.stderr, result.stderr


def _containers(deployment: helm.Manifest) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return containers


@pytest.mark.parametrize("values", ["default", "production"])
def test_each_service_is_probed_and_runs_unprivileged_and_read_only(
    values: str, default_objects: list[helm.Manifest], production_objects: list[helm.Manifest]
) -> None:
    objects = default_objects if values == "default" else production_objects
    deployments = helm.by_kind(objects, "Deployment")
    for name in SERVICES:
        deployment = deployments[f"crm-{name}"]
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        (container,) = _containers(deployment)
        assert container["command"] == [f"crm-{name}"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["requests"] and container["resources"]["limits"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]]  # noqa: S108 - the one writable place
        env = {e["name"]: e for e in container["env"]}
        # nothing secret as a plain value: every credential comes from a Secret
        for secret in ("CRM_JWT_SECRET", f"CRM_{name.upper()}_DATABASE_URL"):
            assert "secretKeyRef" in env[secret]["valueFrom"]
        assert env["CRM_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == (
            f"crm-{name}"
        )
    job = helm.by_kind(objects, "Job")["crm-migrations"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (migrate,) = _containers(job)
    assert migrate["command"] == ["crm", "migrate", *sorted(SERVICES)]
    config = helm.by_kind(objects, "ConfigMap")["crm-config"]["data"]
    assert config["CRM_ENV"] == "prod" and config["CRM_MIGRATE_AT_START"] == "false"


def test_each_service_has_a_pdb_a_network_policy_and_an_hpa(
    production_objects: list[helm.Manifest],
) -> None:
    pdbs = helm.by_kind(production_objects, "PodDisruptionBudget")
    policies = helm.by_kind(production_objects, "NetworkPolicy")
    hpas = helm.by_kind(production_objects, "HorizontalPodAutoscaler")
    access = service_access()
    for name in SERVICES:
        selector = {"app.kubernetes.io/component": name}
        assert selector.items() <= pdbs[f"crm-{name}"]["spec"]["selector"]["matchLabels"].items()
        policy = policies[f"crm-{name}"]["spec"]
        assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
        sources = [peer for rule in policy["ingress"] for peer in rule["from"]]
        if name == "gateway":  # from the ingress controller (and Prometheus)
            controller = {"kubernetes.io/metadata.name": "ingress-nginx"}
            assert {"namespaceSelector": {"matchLabels": controller}} in sources
        else:  # from the gateway and its callers only (and Prometheus for /metrics)
            callers = sorted(c for c, callees in http_calls().items() if name in callees)
            pods = [p["podSelector"]["matchLabels"] for p in sources if "podSelector" in p]
            assert [p["app.kubernetes.io/component"] for p in pods] == callers, name
            assert all("podSelector" in p or "namespaceSelector" in p for p in sources)
        egress_ports = {p["port"] for rule in policy["egress"] for p in rule.get("ports", [])}
        assert {53, 5432, 9093} <= egress_ports
        assert (587 in egress_ports) == (name == "notifier")
        external = [
            m["external"] for m in hpas[f"crm-{name}"]["spec"]["metrics"] if "external" in m
        ]
        metrics = [m["metric"]["selector"]["matchLabels"]["consumergroup"] for m in external]
        assert metrics == list(access[name].groups)  # lag of each of its groups


def test_every_http_call_between_services_is_configured_and_let_through(
    production_objects: list[helm.Manifest],
) -> None:
    """Each service's URL of another service (a ``<service>_url`` setting in the code) is
    set in the ConfigMap to that service's Service, and both NetworkPolicies let the call
    through: the callee's ingress from the caller's pods, the caller's egress to the
    callee's pods, on the service port."""
    calls = http_calls()
    assert set(calls["gateway"]) == set(SERVICES) - {"gateway"}  # the detection works
    assert calls["history"] == {"contacts": "CRM_HISTORY_CONTACTS_URL"}
    config = helm.by_kind(production_objects, "ConfigMap")["crm-config"]["data"]
    policies = helm.by_kind(production_objects, "NetworkPolicy")
    services = helm.by_kind(production_objects, "Service")
    for caller, callees in calls.items():
        for callee, variable in callees.items():
            (port,) = (p["port"] for p in services[f"crm-{callee}"]["spec"]["ports"])
            assert config[variable] == f"http://crm-{callee}:{port}", variable
            ingress = policies[f"crm-{callee}"]["spec"]["ingress"]
            egress = policies[f"crm-{caller}"]["spec"]["egress"]
            pods_of = functools.partial(_pod_labels, production_objects)
            assert _lets_through(ingress, "from", pods_of(caller), port), (caller, callee)
            assert _lets_through(egress, "to", pods_of(callee), port), (caller, callee)
    # and a service does not reach one that it does not call
    campaigns = policies["crm-campaigns"]["spec"]["ingress"]
    assert not _lets_through(campaigns, "from", _pod_labels(production_objects, "history"), 8000)


def test_history_without_contacts_is_refused() -> None:
    result = helm.helm(
        "template", "crm", str(helm.CHART), "--kube-version", helm.KUBE_VERSIONS[-1],
        "--set", "services.contacts.enabled=false", check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "services.history needs services.contacts" in result.stderr


@pytest.mark.parametrize(("values", "port"), [("default", 6379), ("production", 6380)])
def test_redis_is_reached_on_the_configured_port_by_those_that_use_it(
    values: str,
    port: int,
    default_objects: list[helm.Manifest],
    production_objects: list[helm.Manifest],
) -> None:
    objects = default_objects if values == "default" else production_objects
    policies = helm.by_kind(objects, "NetworkPolicy")
    for name in SERVICES:
        rules = policies[f"crm-{name}"]["spec"]["egress"]
        redis = [r for r in rules if {p["port"] for p in r["ports"]} & {6379, 6380}]
        if name not in USES_REDIS:
            assert not redis, name
            continue
        [rule] = redis
        assert rule["ports"] == [{"port": port, "protocol": "TCP"}], name
        if values == "production":  # and only to the peers the values give
            assert rule["to"] == [{"ipBlock": {"cidr": "10.20.1.0/24"}}]


@pytest.mark.parametrize("values", ["default", "production"])
def test_dns_egress_goes_where_the_values_say(
    values: str, default_objects: list[helm.Manifest], production_objects: list[helm.Manifest]
) -> None:
    objects = default_objects if values == "default" else production_objects
    settings = yaml.safe_load((helm.CHART / "values.yaml").read_text())["networkPolicy"]
    if values == "production":
        settings = yaml.safe_load(PRODUCTION.read_text())["networkPolicy"]
        assert {"ipBlock": {"cidr": "169.254.20.10/32"}} in settings["egress"]["dns"]["to"]
    dns = settings["egress"]["dns"]
    for policy in helm.by_kind(objects, "NetworkPolicy").values():
        [rule] = [r for r in policy["spec"]["egress"] if any(p["port"] == 53 for p in r["ports"])]
        assert rule["to"] == dns["to"]
        assert rule["ports"] == [{"port": 53, "protocol": protocol} for protocol in ("UDP", "TCP")]


def test_replicas_spread_across_nodes_and_zones() -> None:
    objects = helm.render(
        overrides={
            "services.gateway.topologySpread.whenUnsatisfiable": "DoNotSchedule",
            "services.notifier.topologySpread.enabled": "false",
        }
    )
    for name, deployment in helm.by_kind(objects, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        if name == "crm-notifier":
            assert "topologySpreadConstraints" not in pod
            continue
        selector = deployment["spec"]["selector"]["matchLabels"]
        spread = {c["topologyKey"]: c for c in pod["topologySpreadConstraints"]}
        assert set(spread) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        for constraint in spread.values():
            assert constraint["maxSkew"] == 1
            assert constraint["labelSelector"] == {"matchLabels": selector}  # its own pods
        node = "DoNotSchedule" if name == "crm-gateway" else "ScheduleAnyway"  # the default
        assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == node
        # a zone may be missing or full: never blocks scheduling
        assert spread["topology.kubernetes.io/zone"]["whenUnsatisfiable"] == "ScheduleAnyway"


def test_the_ingress_serves_the_gateway_with_tls(production_objects: list[helm.Manifest]) -> None:
    (ingress,) = helm.by_kind(production_objects, "Ingress").values()
    assert ingress["spec"]["tls"] == [
        {"hosts": ["crm.example.com"], "secretName": "crm-example-com-tls"}
    ]
    (rule,) = ingress["spec"]["rules"]
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == "crm-gateway"


def test_every_topic_and_dead_letter_topic_has_a_kafka_topic(
    production_objects: list[helm.Manifest],
) -> None:
    topics = helm.by_kind(production_objects, "KafkaTopic").values()
    assert sorted(t["spec"]["topicName"] for t in topics) == sorted(all_topics())
    for topic in topics:
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "crm-kafka"
        assert topic["spec"]["partitions"] == 12 and topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == "2"


def test_each_kafka_user_may_do_exactly_what_its_service_does(
    production_objects: list[helm.Manifest],
) -> None:
    """The ACLs against each service's consumers and publications as the code has them
    now (crm_ops.kafka_access), and the chart's copy of them is up to date."""
    committed = (helm.CHART / "files" / "kafka-access.json").read_text()
    regenerate = "uv run python -m crm_ops.kafka_access > deploy/helm/crm/files/kafka-access.json"
    assert committed == render_access(), f"regenerate: {regenerate}"
    users = helm.by_kind(production_objects, "KafkaUser")
    for name, access in service_access().items():
        acls = users[f"crm-{name}"]["spec"]["authorization"]["acls"]
        granted: set[tuple[str, str, str]] = {
            (acl["resource"]["type"], acl["resource"]["name"], op)
            for acl in acls
            for op in acl["operations"]
        }
        wanted = (
            {("topic", t, op) for t in access.reads for op in ("Read", "Describe")}
            | {("topic", t, op) for t in access.writes for op in ("Write", "Describe")}
            | {("group", g, "Read") for g in access.groups}
            | ({("group", "*", "Describe")} if access.describes_groups else set())
        )
        assert granted == wanted, name
        assert all(acl["resource"]["patternType"] == "literal" for acl in acls)


def test_turning_a_service_off_removes_it_everywhere() -> None:
    objects = helm.render(overrides={"services.campaigns.enabled": "false"})
    names = {o["metadata"]["name"] for o in objects if o["kind"] != "KafkaTopic"}
    assert not {n for n in names if "campaigns" in n}
    config = helm.by_kind(objects, "ConfigMap")["crm-config"]["data"]
    assert config["CRM_GATEWAY_CAMPAIGNS_URL"] == ""
    (job,) = helm.by_kind(objects, "Job").values()
    assert "campaigns" not in _containers(job)[0]["command"]


def test_every_key_of_values_yaml_has_a_comment_and_a_schema() -> None:
    lines = (helm.CHART / "values.yaml").read_text().splitlines()
    uncommented = []
    item_indent: int | None = None  # inside a list item: its lines are the item's value
    for number, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if item_indent is not None and stripped and indent <= item_indent:
            item_indent = None
        if stripped.startswith("- "):
            item_indent = indent
        if item_indent is not None or not stripped or stripped.startswith("#"):
            continue
        if ":" not in stripped:
            continue
        previous = lines[number - 1].strip() if number else ""
        if not previous.startswith("#"):
            uncommented.append(f"{number + 1}: {stripped}")
    assert not uncommented, uncommented
    schema = json.loads((helm.CHART / "values.schema.json").read_text())
    values = yaml.safe_load((helm.CHART / "values.yaml").read_text())

    def walk(value: Any, node: dict[str, Any], path: str) -> None:
        if isinstance(value, dict) and "properties" in node:
            for key, item in value.items():
                assert key in node["properties"], f"{path}.{key} has no schema"
                walk(item, node["properties"][key], f"{path}.{key}")

    walk(values, schema, "values")
