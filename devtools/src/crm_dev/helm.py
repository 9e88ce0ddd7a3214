"""The Helm chart without a cluster: ``helm`` itself, rendering, and offline validation of
what it renders against the Kubernetes schemas and Strimzi's CRD schemas."""

from __future__ import annotations

import copy
import functools
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from crm_dev.servers import ServerError, cache_dir

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "deploy" / "helm" / "crm"
HELM_VERSION = "v3.21.4"  # keep in step with scripts/setup.sh
STRIMZI_SCHEMAS = ROOT / "deploy" / "schemas" / "strimzi-1.2.0"
KUBE_VERSIONS = ("1.29.0", "1.37.0")
"""The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest
whose schemas kubernetes-validate ships."""

Manifest = dict[str, Any]


def helm_binary() -> str:
    """``helm`` from PATH, or the one ``scripts/setup.sh --test-tools`` built."""
    found = shutil.which("helm")
    if found:
        return found
    built = cache_dir() / f"helm-{HELM_VERSION}" / "helm"
    if built.exists():
        return str(built)
    raise ServerError(
        "helm not found: run `make test` (or `bash scripts/setup.sh --test-tools`), "
        "which builds it once with `go install`"
    )


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run helm; raises with its output when ``check`` and it fails."""
    env = {**os.environ, "HELM_CACHE_HOME": str(cache_dir() / "helm-home")}
    result = subprocess.run(
        [helm_binary(), *args], capture_output=True, text=True, check=False, env=env
    )
    if check and result.returncode != 0:
        raise ServerError(f"helm {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def _value_args(values: Sequence[Path], overrides: Mapping[str, str]) -> list[str]:
    args = [arg for path in values for arg in ("-f", str(path))]
    return args + [arg for key, value in overrides.items() for arg in ("--set", f"{key}={value}")]


def render(
    values: Sequence[Path] = (),
    overrides: Mapping[str, str] | None = None,
    *,
    release: str = "crm",
    namespace: str = "crm",
    kube_version: str = KUBE_VERSIONS[-1],
) -> list[Manifest]:
    """``helm template`` of the chart (hooks included) as a list of objects."""
    result = helm(
        "template",
        release,
        str(CHART),
        "--namespace",
        namespace,
        "--kube-version",
        kube_version,
        *_value_args(values, overrides or {}),
    )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def lint(values: Sequence[Path] = ()) -> subprocess.CompletedProcess[str]:
    """``helm lint --strict`` (not raising: the caller reads the outcome)."""
    return helm(
        "lint",
        "--strict",
        str(CHART),
        "--kube-version",
        KUBE_VERSIONS[-1],
        *_value_args(values, {}),
        check=False,
    )


def _strict(schema: Any) -> Any:
    """A CRD's structural schema as the API server applies it, but refusing unknown
    fields instead of pruning them silently (a typo in a value would otherwise vanish)."""
    if isinstance(schema, dict):
        out = {key: _strict(value) for key, value in schema.items()}
        if (
            out.get("type") == "object"
            and "properties" in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in out
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → the strict openAPIV3Schema of each Strimzi CRD we keep."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(STRIMZI_SCHEMAS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
            # metadata is the API server's ObjectMeta, checked by Kubernetes itself
            schema["properties"]["metadata"] = {"type": "object"}
            schemas[f"{group}/{version['name']}", kind] = schema
    return schemas


class ManifestError(AssertionError):
    """A rendered object breaks its schema."""


def validate(manifests: Iterable[Manifest], *, unchecked_kinds: Iterable[str] = ()) -> list[str]:
    """Check every object against its schema (Kubernetes' for each of KUBE_VERSIONS,
    strict; Strimzi's for its custom resources). Returns what was checked, as
    ``kind/name``; raises :class:`ManifestError` listing every failure. Kinds in
    ``unchecked_kinds`` (custom resources without a kept schema) are skipped."""
    import kubernetes_validate

    skipped = set(unchecked_kinds)
    checked, errors = [], []
    for manifest in manifests:
        what = f"{manifest.get('kind')}/{manifest.get('metadata', {}).get('name')}"
        if manifest.get("kind") in skipped:
            continue
        crd = crd_schemas().get((manifest.get("apiVersion", ""), manifest.get("kind", "")))
        try:
            if crd is not None:
                jsonschema.Draft7Validator(crd).validate(manifest)
            else:
                for version in KUBE_VERSIONS:
                    kubernetes_validate.validate(manifest, version, strict=True)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
            errors.append(f"{what}: {getattr(exc, 'message', exc)}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{what}: no schema ({exc})")
        else:
            checked.append(what)
    if errors:
        raise ManifestError("\n".join(errors))
    return checked


def by_kind(manifests: Iterable[Manifest], kind: str) -> dict[str, Manifest]:
    """The objects of one kind by name."""
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}
