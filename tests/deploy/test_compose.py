"""docker-compose.yml: valid against the compose specification, started in order of health,
free of secret values, and every variable it passes is a real setting that loads."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy.engine import make_url

from ingest.delivery import parse_subscribers

DATABASE_SERVICES = ("ingest", "scoring", "playbook")
# ${VAR:?message}: compose refuses to start while VAR is unset or empty.
REQUIRED = re.compile(r"\$\{(?P<name>[A-Z][A-Z0-9_]*):\?[^}]*\}")
# ${VAR:-default} and ${VAR-default}.
DEFAULTED = re.compile(r"\$\{(?P<name>[A-Z][A-Z0-9_]*):?-(?P<default>[^}]*)\}")
ANY_VARIABLE = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_]")
# The password of a URL: scheme://user:PASSWORD@host...
URL_PASSWORD = re.compile(r"^[a-z0-9+.-]+://[^/@:]*:(?P<password>[^/@]*)@")
HEALTH_CONDITIONS = {"service_healthy", "service_completed_successfully", "service_started"}
LoadSettings = Callable[[str, Mapping[str, str]], Any]


@pytest.fixture(scope="module")
def compose(root: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((root / "docker-compose.yml").read_text())
    return loaded


def _interpolate(value: str) -> str:
    """The value compose would pass, with a stand-in for each required variable."""
    value = REQUIRED.sub(lambda m: f"stand-in-{m['name'].lower().replace('_', '-')}", value)
    value = DEFAULTED.sub(lambda m: m["default"], value)
    assert not ANY_VARIABLE.search(value), f"{value}: use ${{VAR:?...}} or ${{VAR:-default}}"
    return value


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    assert isinstance(environment, dict), "environment as a mapping"
    return {k: "" if v is None else str(v) for k, v in environment.items()}


def _relint_containers(compose: dict[str, Any]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    """(container, relint service, definition) for every container of one of our images."""
    for name, service in compose["services"].items():
        image = str(service.get("image", ""))
        if image.startswith("relint/"):
            yield name, image.removeprefix("relint/").split(":")[0], service


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
    compose: dict[str, Any], services: tuple[str, ...]
) -> None:
    expected = {"postgres", "redis", "otel-collector", *services}
    expected |= {f"migrate-{s}" for s in DATABASE_SERVICES}
    assert expected <= set(compose["services"])
    relint = {(name, service) for name, service, _ in _relint_containers(compose)}
    assert relint == {(s, s) for s in services} | {(f"migrate-{s}", s) for s in DATABASE_SERVICES}
    for name, service, definition in _relint_containers(compose):
        assert definition["build"]["dockerfile"] == f"services/{service}/Dockerfile", name
        assert definition["build"]["context"] == ".", name
        assert definition.get("pull_policy") == "build", f"{name}: built here, never pulled"


def test_every_dependency_names_its_condition(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on with conditions, not a list"
        for dependency, spec in depends_on.items():
            assert dependency in compose["services"], f"{name}: {dependency} is not a service"
            assert spec.get("condition") in HEALTH_CONDITIONS, f"{name} -> {dependency}"
            if spec["condition"] == "service_started":
                # Only the collector: its image has no shell to run a healthcheck in.
                assert dependency == "otel-collector", f"{name} -> {dependency}"


def test_every_long_running_container_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name.startswith("migrate-"):
            assert service["restart"] == "no", f"{name} runs once"
            continue
        if name == "otel-collector":
            continue
        healthcheck = service.get("healthcheck", {})
        assert not healthcheck.get("disable"), name
        assert healthcheck.get("test"), f"{name} has no healthcheck"


def test_services_start_in_order_of_health(
    compose: dict[str, Any], services: tuple[str, ...]
) -> None:
    definitions = compose["services"]

    def conditions(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in definitions[name]["depends_on"].items()}

    for name in DATABASE_SERVICES:
        assert conditions(f"migrate-{name}") == {"postgres": "service_healthy"}
        assert definitions[f"migrate-{name}"]["command"] == ["migrate"]
        started = conditions(name)
        assert started["postgres"] == "service_healthy", name
        assert started["redis"] == "service_healthy", name
        assert started[f"migrate-{name}"] == "service_completed_successfully", name
    for name in ("scoring", "playbook"):
        # They verify callers' API keys with ingest.
        assert conditions(name)["ingest"] == "service_healthy", name
    gateway = conditions("gateway")
    assert gateway["redis"] == "service_healthy"
    assert {gateway[s] for s in ("ingest", "scoring", "playbook")} == {"service_healthy"}
    for name in services:
        assert definitions[name].get("command") in (None, ["serve"]), f"{name} serves"


def test_healthchecks_ask_each_service_for_readiness_on_its_own_port(
    compose: dict[str, Any], services: tuple[str, ...], env_prefix: Callable[[str], str]
) -> None:
    for name in services:
        service = compose["services"][name]
        port = _environment(service)[f"{env_prefix(name)}HTTP_PORT"]
        test = " ".join(service["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/readyz" in test, name


def test_no_secret_value_is_written_in_the_file(
    compose: dict[str, Any], secret_name: re.Pattern[str]
) -> None:
    for name, service in compose["services"].items():
        for key, value in _environment(service).items():
            if not secret_name.search(key):
                continue
            if "://" in value:
                # A URL may name its host in the clear; its password only by reference.
                password = URL_PASSWORD.match(value)
                if password is not None:
                    assert REQUIRED.fullmatch(password["password"]), (
                        f"{name}: {key} holds a literal password"
                    )
            else:
                assert REQUIRED.fullmatch(value), f"{name}: {key} holds a literal secret"
            assert not DEFAULTED.search(value), f"{name}: {key} has a default secret"


def _strings(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def test_env_example_lists_every_required_variable_without_a_value(
    root: Path, compose: dict[str, Any]
) -> None:
    required = {m["name"] for s in _strings(compose) for m in REQUIRED.finditer(s)}
    assert required >= {"POSTGRES_PASSWORD", "INGEST_KEY_PEPPER"}
    listed: dict[str, str] = {}
    for line in (root / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            listed[name.strip()] = value.strip()
    assert required <= set(listed), "every ${VAR:?} is in .env.example"
    assert all(value == "" for value in listed.values()), ".env.example holds no values"


def test_every_variable_passed_is_a_setting_of_that_service(
    compose: dict[str, Any], unknown_variables: Callable[[str, Iterable[str]], list[str]]
) -> None:
    for name, service, definition in _relint_containers(compose):
        unknown = unknown_variables(service, _environment(definition))
        assert unknown == [], f"{name}: not settings of {service}: {unknown}"


def test_the_settings_load_as_production_and_point_at_the_stack(
    compose: dict[str, Any], load_settings: LoadSettings, env_prefix: Callable[[str], str]
) -> None:
    definitions = compose["services"]
    grpc_ports = {
        name: int(_environment(definitions[name])[f"{env_prefix(name)}GRPC_PORT"])
        for name in ("ingest", "scoring", "playbook", "gateway")
    }

    def assert_points_at_a_service(target: str, what: str) -> None:
        host, _, port = target.rpartition(":")
        assert host in grpc_ports, f"{what}: {host} is not a relint service"
        assert int(port) == grpc_ports[host], f"{what}: {host} serves gRPC on {grpc_ports[host]}"

    for name, service, definition in _relint_containers(compose):
        environment = {k: _interpolate(v) for k, v in _environment(definition).items()}
        settings: Any = load_settings(service, environment)
        assert settings.environment.value == "production", name
        assert settings.http_host == settings.grpc_host == "0.0.0.0", name
        if service in DATABASE_SERVICES:
            url = make_url(settings.database_url)
            assert url.drivername == "postgresql+psycopg", name
            assert (url.host, url.port, url.database) == ("postgres", 5432, service), name
        if not name.startswith("migrate-"):
            assert urlsplit(settings.redis_url).hostname == "redis", name
            endpoint = environment.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
            assert urlsplit(endpoint).hostname == "otel-collector", f"{name}: traces"
            assert environment.get("OTEL_SERVICE_NAME") == service, name
        for field in ("ingest_target", "scoring_target", "playbook_target"):
            if hasattr(settings, field):
                assert_points_at_a_service(getattr(settings, field), f"{name}.{field}")
        if service == "ingest":
            for subscriber, target in parse_subscribers(settings.subscribers).items():
                assert_points_at_a_service(target, f"{name} subscriber {subscriber}")


def test_a_migration_runs_against_its_service_s_database(compose: dict[str, Any]) -> None:
    for name in DATABASE_SERVICES:
        service = _environment(compose["services"][name])
        migration = _environment(compose["services"][f"migrate-{name}"])
        for key, value in migration.items():
            assert service.get(key) == value, f"migrate-{name}: {key} differs from {name}'s"


def test_application_containers_run_hardened(compose: dict[str, Any]) -> None:
    for name, _, service in _relint_containers(compose):
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert "user" not in service, f"{name}: the image's uid 10001, never overridden"
        assert "privileged" not in service, name
        limits = service["deploy"]["resources"]["limits"]
        assert limits["memory"], name
        assert limits["cpus"], name


def test_only_http_ports_are_published_and_on_a_chosen_address(
    compose: dict[str, Any], env_prefix: Callable[[str], str]
) -> None:
    published: dict[str, set[str]] = {}
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, str), f"{name}: ports as strings"
            address, host_port, container_port = port.rsplit(":", 2)
            assert address == "${RELINT_BIND:-127.0.0.1}", f"{name}: {port}"
            assert host_port == container_port, f"{name}: {port}"
            published.setdefault(name, set()).add(container_port)
        if name in published:
            assert "edge" in service["networks"], f"{name}: published ports need a route"
    assert published == {
        name: {_environment(compose["services"][name])[f"{env_prefix(name)}HTTP_PORT"]}
        for name in ("ingest", "scoring", "playbook", "gateway")
    }
    assert compose["networks"]["backend"]["internal"] is True
