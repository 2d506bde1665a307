"""Each service's Dockerfile: hadolint clean, multi-stage, non-root, serving by default on the
ports its settings and the manifests use; and a build context that holds what it copies."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from relint.settings import ServiceSettings

SERVICES = ("ingest", "scoring", "playbook", "gateway")


def _dockerfile(root: Path, service: str) -> str:
    return (root / "services" / service / "Dockerfile").read_text()


def _stages(text: str) -> list[str]:
    """The text of each build stage, in order."""
    return re.split(r"^(?=FROM )", text, flags=re.MULTILINE)[1:]


def _env(stage: str) -> dict[str, str]:
    """ENV name=value pairs of a stage, continuation lines joined."""
    joined = stage.replace("\\\n", " ")
    pairs: dict[str, str] = {}
    for line in re.findall(r"^ENV (.+)$", joined, re.MULTILINE):
        for name, value in re.findall(r'([A-Z_][A-Z0-9_]*)=("[^"]*"|\S+)', line):
            pairs[name] = value.strip('"')
    return pairs


@pytest.mark.parametrize("service", SERVICES)
def test_hadolint_finds_nothing(service: str, root: Path, tool: Callable[[str], str]) -> None:
    # Threshold "info": any finding at all, warnings and style included, fails.
    result = subprocess.run(
        [tool("hadolint"), "--failure-threshold", "info", f"services/{service}/Dockerfile"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


@pytest.mark.parametrize("service", SERVICES)
def test_multi_stage_and_non_root(service: str, root: Path) -> None:
    stages = _stages(_dockerfile(root, service))
    assert len(stages) >= 2, "a builder stage and a runtime stage"
    bases = [stage.split()[1] for stage in stages]
    # The virtual environment's interpreter links point at the builder's Python.
    assert bases[0] == bases[-1], "builder and runtime on the same base image"
    runtime = stages[-1]
    users = re.findall(r"^USER (\S+)", runtime, re.MULTILINE)
    assert users, "the runtime stage sets a USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "a numeric uid: runAsNonRoot cannot check a name"
    assert uid == "10001", "the uid the compose file and manifests expect"
    assert "uv sync" not in runtime, "no installs at runtime"
    assert "pip install" not in runtime, "no installs at runtime"
    assert re.search(r"^COPY --from=\w+ /app/\.venv /app/\.venv", runtime, re.MULTILINE)
    assert f'ENTRYPOINT ["{service}"]' in runtime
    assert 'CMD ["serve"]' in runtime
    assert "HEALTHCHECK" in runtime
    assert "/readyz" in runtime


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_listens_on_the_service_s_ports(
    service: str,
    root: Path,
    env_prefix: Callable[[str], str],
    unknown_variables: Callable[[str, list[str]], list[str]],
    settings_classes: dict[str, type[ServiceSettings]],
) -> None:
    prefix = env_prefix(service)
    runtime = _stages(_dockerfile(root, service))[-1]
    environment = {k: v for k, v in _env(runtime).items() if k.startswith(prefix)}
    assert unknown_variables(service, list(environment)) == []
    # The settings default to 127.0.0.1: in a container nothing could reach the process.
    assert environment[f"{prefix}HTTP_HOST"] == environment[f"{prefix}GRPC_HOST"] == "0.0.0.0"
    fields = settings_classes[service].model_fields
    http, grpc = fields["http_port"].default, fields["grpc_port"].default
    assert environment[f"{prefix}HTTP_PORT"] == str(http)
    assert environment[f"{prefix}GRPC_PORT"] == str(grpc)
    exposed = set(" ".join(re.findall(r"^EXPOSE (.+)$", runtime, re.MULTILINE)).split())
    assert exposed == {str(http), str(grpc)}


@pytest.mark.parametrize("service", SERVICES)
def test_the_builder_copies_every_workspace_member_s_manifest(service: str, root: Path) -> None:
    """`uv sync --frozen` reads the lock of the whole workspace: every member must be there."""
    workspace = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    members = sorted(
        str(path.parent.relative_to(root))
        for pattern in workspace["members"]
        for path in root.glob(f"{pattern}/pyproject.toml")
    )
    builder = _stages(_dockerfile(root, service))[0]
    assert "COPY pyproject.toml uv.lock ./" in builder
    for member in members:
        assert f"COPY {member}/pyproject.toml {member}/" in builder, member
    assert f"--package {service}" in builder
    for option in ("--frozen", "--no-dev", "--no-editable"):
        assert option in builder, option


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_uses_the_project_s_uv(service: str, root: Path) -> None:
    version = re.search(r"^UV_VERSION := (\S+)$", (root / "Makefile").read_text(), re.MULTILINE)
    assert version, "the Makefile pins uv"
    assert f"uv=={version[1]}" in _stages(_dockerfile(root, service))[0]


def test_the_build_context_holds_the_sources_and_no_secrets(root: Path) -> None:
    patterns = [
        line.strip()
        for line in (root / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert not [p for p in patterns if p.startswith("!")], "no re-includes to reason about"

    def ignored(path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return any(
            fnmatch.fnmatch(prefix, pattern) or fnmatch.fnmatch(prefix, pattern.removeprefix("**/"))
            for pattern in patterns
            for prefix in prefixes
        )

    needed = ["pyproject.toml", "uv.lock"]
    needed += [str(p.relative_to(root)) for p in root.glob("packages/*/pyproject.toml")]
    needed += [str(p.relative_to(root)) for p in root.glob("services/*/pyproject.toml")]
    needed += [str(p.relative_to(root)) for p in root.glob("packages/relint/src/relint/*.py")]
    needed += [f"services/{s}/src/{s}/cli.py" for s in SERVICES]
    needed += ["services/ingest/src/ingest/migrations/env.py"]
    assert [p for p in needed if ignored(p)] == []
    for private in (".env", ".git", ".venv", "var", "node_modules"):
        assert ignored(private), private
