"""deploy/k8s: both overlays render with kustomize and pass kubernetes-validate --strict;
every workload is hardened, probed, resourced, wired to its Service, and reads secrets only by
reference; every variable it passes is a real setting that loads."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingest.delivery import parse_subscribers

OVERLAYS = {"dev": "relint-dev", "prod": "relint"}
SECRET = "relint-secrets"
# The oldest Kubernetes the manifests are checked against, besides the validator's newest.
OLDEST_KUBERNETES = "1.30.0"
ENVIRONMENTS = {
    "dev": {
        "gateway": "development",
        "ingest": "test",
        "scoring": "test",
        "playbook": "test",
    },
    "prod": dict.fromkeys(("gateway", "ingest", "scoring", "playbook"), "production"),
}
Document = dict[str, Any]
Render = Callable[[str], list[Document]]
LoadSettings = Callable[[str, Mapping[str, str]], Any]


@pytest.fixture(scope="module")
def render(root: Path, tool: Callable[[str], str]) -> Render:
    rendered: dict[str, list[Document]] = {}

    def run(overlay: str) -> list[Document]:
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


def _of_kind(documents: list[Document], kind: str) -> list[Document]:
    return [d for d in documents if d["kind"] == kind]


def _named(documents: list[Document], kind: str) -> dict[str, Document]:
    return {d["metadata"]["name"]: d for d in _of_kind(documents, kind)}


def _pod(deployment: Document) -> Document:
    pod: Document = deployment["spec"]["template"]["spec"]
    return pod


def _containers(deployment: Document) -> list[Document]:
    pod = _pod(deployment)
    return [*pod.get("initContainers", []), *pod["containers"]]


def _selects(selector: Document, labels: Mapping[str, str]) -> bool:
    wanted = selector.get("matchLabels", selector)
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def _environment(documents: list[Document], container: Document) -> dict[str, str]:
    """What the container's process sees: its ConfigMaps, then env (secrets as stand-ins)."""
    configs = _named(documents, "ConfigMap")
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        assert name in configs, f"{container['name']}: no ConfigMap {name}"
        environment.update(configs[name]["data"])
    for variable in container.get("env", []):
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
        else:
            key = variable["valueFrom"]["secretKeyRef"]["key"]
            environment[variable["name"]] = f"stand-in-{key}"
    return environment


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", [None, OLDEST_KUBERNETES])
def test_every_document_passes_kubernetes_validate_strict(
    overlay: str, version: str | None, render: Render, tool: Callable[[str], str], tmp_path: Path
) -> None:
    documents = render(overlay)
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(yaml.safe_dump_all(documents))
    command = [tool("kubernetes-validate"), "--strict"]
    if version:
        command += ["--kubernetes-version", version]
    command.append(str(manifest))
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert output.count("passed for resource") == len(documents), output


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_its_deployment_account_config_service_and_budget(
    overlay: str, render: Render, services: tuple[str, ...]
) -> None:
    documents = render(overlay)
    for kind in ("Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"):
        assert set(_named(documents, kind)) == set(services), kind
    # Generated ConfigMaps: "<service>-config-<hash>", so a change of settings rolls the pods.
    configs = {name.rsplit("-", 1)[0] for name in _named(documents, "ConfigMap")}
    assert configs == {f"{s}-config" for s in services}
    assert _of_kind(documents, "Secret") == [], "secrets are referenced, never rendered"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lives_in_the_overlay_s_restricted_namespace(
    overlay: str, render: Render
) -> None:
    documents = render(overlay)
    namespace = OVERLAYS[overlay]
    (declared,) = _of_kind(documents, "Namespace")
    assert declared["metadata"]["name"] == namespace
    assert declared["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for document in documents:
        if document["kind"] != "Namespace":
            assert document["metadata"].get("namespace") == namespace, document["metadata"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workloads_are_hardened_and_resourced(overlay: str, render: Render) -> None:
    documents = render(overlay)
    accounts = _named(documents, "ServiceAccount")
    for name, deployment in _named(documents, "Deployment").items():
        pod = _pod(deployment)
        assert pod["serviceAccountName"] == name
        assert accounts[name]["automountServiceAccountToken"] is False, name
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod.get("hostNetwork", False) is False, name
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in _containers(deployment):
            what = f"{name}/{container['name']}"
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, what
            assert context["allowPrivilegeEscalation"] is False, what
            assert context["runAsNonRoot"] is True, what
            assert context["capabilities"]["drop"] == ["ALL"], what
            assert "add" not in context["capabilities"], what
            assert context.get("privileged", False) is False, what
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), what
            assert {"cpu", "memory"} <= set(resources["limits"]), what
            # The root filesystem is read-only: /tmp is a size-limited emptyDir.
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert "emptyDir" in volumes[mounts["/tmp"]], what


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_ask_grpc_health_and_readyz_on_the_service_s_ports(
    overlay: str, render: Render, load_settings: LoadSettings
) -> None:
    documents = render(overlay)
    for name, deployment in _named(documents, "Deployment").items():
        main = _pod(deployment)["containers"][0]
        assert main["name"] == name
        assert main.get("args") in (None, ["serve"]), name
        settings = load_settings(name, _environment(documents, main))
        ports = {p["name"]: p["containerPort"] for p in main["ports"]}
        assert ports == {"http": settings.http_port, "grpc": settings.grpc_port}, name
        # Startup and liveness: grpc.health.v1, SERVING from start until SIGTERM whatever
        # the database does; readiness: /readyz (database, Redis, not draining).
        assert main["startupProbe"]["grpc"]["port"] == settings.grpc_port, name
        assert main["livenessProbe"]["grpc"]["port"] == settings.grpc_port, name
        readiness = main["readinessProbe"]["httpGet"]
        assert readiness["path"] == "/readyz", name
        assert readiness["port"] in ("http", settings.http_port), name
        # preStop keeps serving while the endpoints update; then SIGTERM drains in-flight
        # calls; both must end before the kubelet kills the container.
        pre_stop = main["lifecycle"]["preStop"]["exec"]["command"]
        assert pre_stop[0] == "sleep", name
        grace = _pod(deployment)["terminationGracePeriodSeconds"]
        assert grace > int(pre_stop[1]) + settings.shutdown_grace_seconds, f"{name}: drains"
        for container in _pod(deployment).get("initContainers", []):
            assert container["args"] == ["migrate"], f"{name}: only migrations run first"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_budgets_and_spread_select_their_own_pods(overlay: str, render: Render) -> None:
    documents = render(overlay)
    deployments = _named(documents, "Deployment")
    budgets = _named(documents, "PodDisruptionBudget")
    for name, service in _named(documents, "Service").items():
        deployment = deployments[name]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert _selects(deployment["spec"]["selector"], labels), name
        assert _selects(service["spec"]["selector"], labels), name
        assert _selects(budgets[name]["spec"]["selector"], labels), name
        for other, elsewhere in deployments.items():
            if other != name:
                theirs = elsewhere["spec"]["template"]["metadata"]["labels"]
                assert not _selects(service["spec"]["selector"], theirs), f"{name} {other}"
        container_ports = {
            p["name"]: p["containerPort"] for p in _pod(deployment)["containers"][0]["ports"]
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in container_ports, f"{name}: {port['targetPort']}"
            assert port["port"] == container_ports[port["targetPort"]], name
        for constraint in _pod(deployment).get("topologySpreadConstraints", []):
            assert _selects(constraint["labelSelector"], labels), f"{name}: spreads its own"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_only_referenced(
    overlay: str, render: Render, secret_name: re.Pattern[str]
) -> None:
    documents = render(overlay)
    for deployment in _of_kind(documents, "Deployment"):
        for container in _containers(deployment):
            for variable in container.get("env", []):
                assert "value" not in variable or not secret_name.search(variable["name"]), (
                    f"{variable['name']} holds a value"
                )
                reference = variable.get("valueFrom", {}).get("secretKeyRef")
                if reference is not None:
                    assert reference["name"] == SECRET, variable["name"]
                    assert not reference.get("optional", False), variable["name"]
            if secret_name.search(" ".join(str(a) for a in container.get("args", []))):
                pytest.fail(f"{container['name']}: a secret in the arguments")
    for config in _of_kind(documents, "ConfigMap"):
        for key in config["data"]:
            assert not secret_name.search(key), f"{key} belongs in {SECRET}"


def _secret_keys(documents: list[Document]) -> set[str]:
    return {
        v["valueFrom"]["secretKeyRef"]["key"]
        for d in _of_kind(documents, "Deployment")
        for c in _containers(d)
        for v in c.get("env", [])
        if "secretKeyRef" in v.get("valueFrom", {})
    }


def test_the_documented_secret_has_exactly_the_keys_the_pods_read(
    root: Path, render: Render
) -> None:
    documented = set(
        re.findall(r"--from-literal=([a-z0-9-]+)=", (root / "docs/deploy.md").read_text())
    )
    for overlay in OVERLAYS:
        assert _secret_keys(render(overlay)) == documented, overlay


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_passed_is_a_setting_that_loads(
    overlay: str,
    render: Render,
    load_settings: LoadSettings,
    unknown_variables: Callable[[str, Iterable[str]], list[str]],
) -> None:
    documents = render(overlay)
    services = _named(documents, "Service")

    def assert_points_at_a_service(target: str, what: str) -> None:
        host, _, port = target.rpartition(":")
        assert host in services, f"{what}: {host} is not a Service"
        grpc = {p["name"]: p["port"] for p in services[host]["spec"]["ports"]}["grpc"]
        assert int(port) == grpc, f"{what}: {host} serves gRPC on {grpc}"

    for name, deployment in _named(documents, "Deployment").items():
        for container in _containers(deployment):
            what = f"{name}/{container['name']}"
            environment = _environment(documents, container)
            assert unknown_variables(name, environment) == [], what
            # Loading applies the production check on secrets: the migration, too, is given
            # every secret its settings require.
            settings = load_settings(name, environment)
            assert settings.environment.value == ENVIRONMENTS[overlay][name], what
            assert settings.http_host == settings.grpc_host == "0.0.0.0", what
            if hasattr(settings, "database_url"):
                assert settings.database_url == f"stand-in-{name}-database-url", what
            for field in ("ingest_target", "scoring_target", "playbook_target"):
                if hasattr(settings, field):
                    assert_points_at_a_service(getattr(settings, field), f"{what}.{field}")
            if name == "ingest":
                for subscriber, target in parse_subscribers(settings.subscribers).items():
                    assert_points_at_a_service(target, f"{what} subscriber {subscriber}")
        main = _pod(deployment)["containers"][0]
        environment = _environment(documents, main)
        assert environment.get("OTEL_SERVICE_NAME") == name
        assert environment.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").startswith("http")
        assert load_settings(name, environment).redis_url == "stand-in-redis-url", name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_the_service_s_own_and_tagged(overlay: str, render: Render) -> None:
    for name, deployment in _named(render(overlay), "Deployment").items():
        for container in _containers(deployment):
            image, _, tag = container["image"].rpartition(":")
            assert image.endswith(f"relint/{name}"), container["image"]
            assert tag, f"{container['image']}: an explicit tag"
            assert tag != "latest", container["image"]
            if overlay == "prod":
                assert tag != "dev", f"{name}: prod runs a released tag"


def test_prod_runs_two_replicas_or_more_with_budgets_and_autoscaling(render: Render) -> None:
    documents = render("prod")
    deployments = _named(documents, "Deployment")
    budgets = _named(documents, "PodDisruptionBudget")
    autoscalers = {
        h["spec"]["scaleTargetRef"]["name"]: h
        for h in _of_kind(documents, "HorizontalPodAutoscaler")
    }
    assert set(autoscalers) == set(deployments)
    for name, deployment in deployments.items():
        replicas = deployment["spec"]["replicas"]
        assert replicas >= 2, name
        strategy = deployment["spec"]["strategy"]["rollingUpdate"]
        assert strategy["maxUnavailable"] == 0, f"{name}: rollouts keep every replica serving"
        budget = budgets[name]["spec"]
        if "maxUnavailable" in budget:
            assert 1 <= budget["maxUnavailable"] < replicas, name
        else:
            assert 1 <= budget["minAvailable"] < replicas, name
        autoscaler = autoscalers[name]["spec"]
        assert autoscaler["scaleTargetRef"]["kind"] == "Deployment"
        assert 2 <= autoscaler["minReplicas"] <= replicas <= autoscaler["maxReplicas"], name
        assert _pod(deployment)["topologySpreadConstraints"], f"{name}: spread over nodes"
        main = _pod(deployment)["containers"][0]
        base = _pod(_named(render("dev"), "Deployment")[name])["containers"][0]
        for bound in ("requests", "limits"):
            assert _memory(main["resources"][bound]["memory"]) >= _memory(
                base["resources"][bound]["memory"]
            ), f"{name}: prod {bound} at least dev's"


def _memory(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    match = re.fullmatch(r"(\d+)([KMG]i?)?", quantity)
    assert match, quantity
    return int(match[1]) * units.get(match[2] or "", 1)


def test_dev_runs_one_replica_with_the_playground(render: Render) -> None:
    documents = render("dev")
    assert {d["spec"]["replicas"] for d in _of_kind(documents, "Deployment")} == {1}
    assert _of_kind(documents, "HorizontalPodAutoscaler") == []
    gateway = next(c for name, c in _named(documents, "ConfigMap").items() if "gateway" in name)
    assert gateway["data"]["GATEWAY_PLAYGROUND"] == "true"
