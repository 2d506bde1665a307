"""docker-compose.yml: valid against the compose specification, ordered by health, and
free of secret values; every setting it passes exists in the services' settings."""

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
from relint.settings import ServiceSettings
from scoring.settings import ScoringSettings

SETTINGS: dict[str, type[ServiceSettings]] = {
    "INGEST_": IngestSettings,
    "SCORING_": ScoringSettings,
    "PLAYBOOK_": PlaybookSettings,
    "GATEWAY_": GatewaySettings,
}
SERVICES = ("ingest", "scoring", "playbook", "gateway")
REQUIRED_VARIABLE = re.compile(r"\$\{[A-Z_]+:\?")
SECRET_NAME = re.compile(r"PASSWORD|PEPPER|SECRET|TOKEN|DATABASE_URL", re.IGNORECASE)


@pytest.fixture(scope="module")
def compose(root: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((root / "docker-compose.yml").read_text())
    return loaded


def test_the_file_is_valid_against_the_compose_specification(
    root: Path, tool: Callable[[str], str]
) -> None:
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_stack_has_its_stores_a_collector_migrations_and_the_four_services(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    expected = {"postgres", "redis", "otel-collector", *SERVICES}
    expected |= {f"migrate-{s}" for s in ("ingest", "scoring", "playbook")}
    assert expected <= set(services)


def test_services_start_in_order_of_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in SERVICES:
        service = services[name]
        assert "test" in service["healthcheck"], f"{name} has no healthcheck"
        conditions = {dep: spec["condition"] for dep, spec in service["depends_on"].items()}
        assert conditions["redis"] == "service_healthy"
        if name != "gateway":
            assert conditions["postgres"] == "service_healthy"
            assert conditions[f"migrate-{name}"] == "service_completed_successfully"
    gateway = services["gateway"]["depends_on"]
    assert {gateway[s]["condition"] for s in ("ingest", "scoring", "playbook")} == {
        "service_healthy"
    }
    for name in ("ingest", "scoring", "playbook"):
        migration = services[f"migrate-{name}"]
        assert migration["command"] == ["migrate"]
        assert migration["depends_on"]["postgres"]["condition"] == "service_healthy"


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    assert isinstance(environment, dict)
    return {k: str(v) for k, v in environment.items()}


def test_no_secret_value_is_written_in_the_file(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key):
                assert REQUIRED_VARIABLE.search(value), f"{name}: {key} holds a literal secret"


def test_every_service_setting_exists(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key in _environment(service):
            prefix = next((p for p in SETTINGS if key.startswith(p)), None)
            if prefix is None:
                continue
            field = key.removeprefix(prefix).lower()
            assert field in SETTINGS[prefix].model_fields, f"{name}: {key} is not a setting"


def test_application_containers_run_hardened(compose: dict[str, Any]) -> None:
    for name in (*SERVICES, "migrate-ingest", "migrate-scoring", "migrate-playbook"):
        service = compose["services"][name]
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in service["security_opt"]
        assert service["deploy"]["resources"]["limits"]["memory"]
