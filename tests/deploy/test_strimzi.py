"""deploy/strimzi/kafka.yaml, the Kafka cluster the README installs: valid for Strimzi
(its CRD schemas, offline) and what the chart's default values expect of it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from crm_dev import helm

KAFKA = helm.ROOT / "deploy" / "strimzi" / "kafka.yaml"


@pytest.fixture(scope="module")
def resources() -> list[helm.Manifest]:
    return [doc for doc in yaml.safe_load_all(KAFKA.read_text()) if doc]


def test_the_example_cluster_passes_strimzis_schemas(resources: list[helm.Manifest]) -> None:
    for resource in resources:  # checked by a kept CRD schema, not skipped or guessed
        assert (resource["apiVersion"], resource["kind"]) in helm.crd_schemas()
    assert sorted(helm.validate(resources)) == ["Kafka/crm-kafka", "KafkaNodePool/dual-role"]
    wrong = copy.deepcopy(next(r for r in resources if r["kind"] == "Kafka"))
    wrong["spec"]["kafka"]["authorization"] = {"type": "simpel"}
    with pytest.raises(helm.ManifestError, match="simpel"):
        helm.validate([wrong])
    wrong["spec"]["kafka"]["authorization"] = {"type": "simple", "superUser": ["x"]}
    with pytest.raises(helm.ManifestError, match="superUser"):
        helm.validate([wrong])


def test_the_example_cluster_is_what_the_chart_defaults_expect(
    resources: list[helm.Manifest],
) -> None:
    values: dict[str, Any] = yaml.safe_load((helm.CHART / "values.yaml").read_text())
    strimzi = values["kafka"]["strimzi"]
    kafka = next(r for r in resources if r["kind"] == "Kafka")
    pools = [r for r in resources if r["kind"] == "KafkaNodePool"]
    assert kafka["metadata"]["name"] == strimzi["clusterName"]
    assert all(
        p["metadata"]["labels"]["strimzi.io/cluster"] == strimzi["clusterName"] for p in pools
    )
    [listener] = [x for x in kafka["spec"]["kafka"]["listeners"] if x["port"] == strimzi["port"]]
    assert listener["tls"] is strimzi["tls"]
    assert listener["authentication"]["type"] == strimzi["authentication"]
    assert (kafka["spec"]["kafka"].get("authorization", {}).get("type") == "simple") is (
        strimzi["authorization"]
    )
    # the listener lets the chart's pods in (their app.kubernetes.io/name label)
    peers = [p["podSelector"]["matchLabels"] for p in listener["networkPolicyPeers"]]
    assert {"app.kubernetes.io/name": "crm"} in peers
    # KafkaTopics and KafkaUsers need the topic and user operators
    assert {"topicOperator", "userOperator"} <= kafka["spec"]["entityOperator"].keys()
    # enough brokers for the topics' replicas, and the same durability setting
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    assert brokers >= strimzi["topics"]["replicas"] == 3
    config = kafka["spec"]["kafka"]["config"]
    assert config["min.insync.replicas"] == strimzi["topics"]["minInsyncReplicas"]
    assert config["auto.create.topics.enable"] is False
