"""deploy/k8s: both overlays render with kustomize and pass kubernetes-validate --strict;
every workload is hardened, probed, resourced and reads secrets only by reference."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.settings import GatewaySettings
from ingest.settings import IngestSettings
from playbook.settings import PlaybookSettings
from scoring.settings import ScoringSettings

OVERLAYS = ("dev", "prod")
SETTINGS = {
    "INGEST_": IngestSettings,
    "SCORING_": ScoringSettings,
    "PLAYBOOK_": PlaybookSettings,
    "GATEWAY_": GatewaySettings,
}
SECRET_NAME = re.compile(r"PASSWORD|PEPPER|SECRET|TOKEN|DATABASE_URL|REDIS_URL")
Render = Callable[[str], list[dict[str, Any]]]


@pytest.fixture(scope="module")
def render(root: Path, tool: Callable[[str], str]) -> Render:
    rendered: dict[str, list[dict[str, Any]]] = {}

    def run(overlay: str) -> list[dict[str, Any]]:
        if overlay not in rendered:
            result = subprocess.run(
                [tool("kubectl"), "kustomize", f"deploy/k8s/overlays/{overlay}"],
                cwd=root,
                capture_output=True,
                text=True,
                check=False,
            )
            assert result.returncode == 0, result.stderr
            rendered[overlay] = [d for d in yaml.safe_load_all(result.stdout) if d]
        return rendered[overlay]

    return run


def _of_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == kind]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_overlay_passes_kubernetes_validate_strict(
    overlay: str, render: Render, tool: Callable[[str], str], tmp_path: Path
) -> None:
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(yaml.safe_dump_all(render(overlay)))
    result = subprocess.run(
        [tool("kubernetes-validate"), "--strict", str(manifest)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_its_deployment_service_account_config_and_service(
    overlay: str, render: Render
) -> None:
    documents = render(overlay)
    names = {
        kind: {d["metadata"]["name"] for d in _of_kind(documents, kind)}
        for kind in ("Deployment", "Service", "ServiceAccount", "ConfigMap", "PodDisruptionBudget")
    }
    services = {"ingest", "scoring", "playbook", "gateway"}
    assert names["Deployment"] == services
    assert names["Service"] == services
    assert names["ServiceAccount"] == services
    assert names["PodDisruptionBudget"] == services
    assert {n.rsplit("-", 1)[0] for n in names["ConfigMap"]} == {f"{s}-config" for s in services}
    assert _of_kind(documents, "Secret") == [], "secrets are referenced, never rendered"


def _containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workloads_are_hardened_probed_and_resourced(overlay: str, render: Render) -> None:
    for deployment in _of_kind(render(overlay), "Deployment"):
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == name
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in _containers(deployment):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), name
            assert {"cpu", "memory"} <= set(resources["limits"]), name
        main = pod["containers"][0]
        assert "grpc" in main["livenessProbe"], f"{name}: liveness asks gRPC health"
        assert main["readinessProbe"]["httpGet"]["path"] == "/readyz", name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_only_referenced(overlay: str, render: Render) -> None:
    for deployment in _of_kind(render(overlay), "Deployment"):
        for container in _containers(deployment):
            for variable in container.get("env", []):
                if SECRET_NAME.search(variable["name"]):
                    assert "value" not in variable, variable["name"]
                    assert variable["valueFrom"]["secretKeyRef"]["name"] == "relint-secrets"
    for config in _of_kind(render(overlay), "ConfigMap"):
        for key in config["data"]:
            assert not SECRET_NAME.search(key), f"{key} belongs in relint-secrets"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_passed_exists(overlay: str, render: Render) -> None:
    documents = render(overlay)
    keys = [k for c in _of_kind(documents, "ConfigMap") for k in c["data"]]
    keys += [
        v["name"]
        for d in _of_kind(documents, "Deployment")
        for c in _containers(d)
        for v in c.get("env", [])
    ]
    for key in keys:
        prefix = next((p for p in SETTINGS if key.startswith(p)), None)
        if prefix is not None:
            assert key.removeprefix(prefix).lower() in SETTINGS[prefix].model_fields, key


def test_prod_runs_replicas_spread_and_autoscaled(render: Render) -> None:
    documents = render("prod")
    for deployment in _of_kind(documents, "Deployment"):
        assert deployment["spec"]["replicas"] >= 2
        assert deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    scaled = {
        h["spec"]["scaleTargetRef"]["name"] for h in _of_kind(documents, "HorizontalPodAutoscaler")
    }
    assert scaled == {"ingest", "scoring", "playbook", "gateway"}
    assert {d["metadata"].get("namespace") for d in documents if d["kind"] != "Namespace"} == {
        "relint"
    }


def test_dev_runs_one_replica_with_the_playground(render: Render) -> None:
    documents = render("dev")
    assert {d["spec"]["replicas"] for d in _of_kind(documents, "Deployment")} == {1}
    gateway = next(
        c for c in _of_kind(documents, "ConfigMap") if c["metadata"]["name"].startswith("gateway")
    )
    assert gateway["data"]["GATEWAY_PLAYGROUND"] == "true"
