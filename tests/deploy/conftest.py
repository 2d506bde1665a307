"""Fixtures of the deployment checks: the repository root, the validators installed with the
dev tools, and the services' settings classes to check every passed variable against."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pytest

from gateway.settings import GatewaySettings
from ingest.settings import IngestSettings
from playbook.settings import PlaybookSettings
from relint.settings import ServiceSettings
from scoring.settings import ScoringSettings

ROOT = Path(__file__).resolve().parents[2]

# The services, their settings classes and their env prefixes (pydantic-settings field name,
# upper case, after the prefix).
SETTINGS: dict[str, type[ServiceSettings]] = {
    "ingest": IngestSettings,
    "scoring": ScoringSettings,
    "playbook": PlaybookSettings,
    "gateway": GatewaySettings,
}

# The standard OpenTelemetry variables a service may be given (relint.telemetry and the SDK's
# own resource detection); anything else outside the service's prefix is a mistake.
OTEL_VARIABLES = frozenset(
    {
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_SDK_DISABLED",
        "OTEL_TRACES_EXPORTER",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
    }
)

# Names of variables whose value is a secret, or may carry one (a password in a URL).
SECRET_NAME = re.compile(r"PASSWORD|PEPPER|SECRET|TOKEN|DATABASE_URL|REDIS_URL")

LoadSettings = Callable[[str, Mapping[str, str]], ServiceSettings]


def _prefix(service: str) -> str:
    return str(SETTINGS[service].model_config.get("env_prefix", ""))


def _unknown_variables(service: str, names: Iterable[str]) -> list[str]:
    own = _prefix(service)
    fields = SETTINGS[service].model_fields
    return sorted(
        name
        for name in names
        if name not in OTEL_VARIABLES
        and not (
            name.startswith(own)
            and name == name.upper()
            and name.removeprefix(own).lower() in fields
        )
    )


@pytest.fixture(scope="session")
def services() -> tuple[str, ...]:
    return tuple(SETTINGS)


@pytest.fixture(scope="session")
def settings_classes() -> dict[str, type[ServiceSettings]]:
    return SETTINGS


@pytest.fixture(scope="session")
def env_prefix() -> Callable[[str], str]:
    """A service's env prefix, read from its settings class: "ingest" -> "INGEST_"."""
    return _prefix


@pytest.fixture(scope="session")
def unknown_variables() -> Callable[[str, Iterable[str]], list[str]]:
    """The names that are neither a setting of the service (exact upper case, its own prefix)
    nor a standard OTEL_* variable."""
    return _unknown_variables


@pytest.fixture(scope="session")
def secret_name() -> re.Pattern[str]:
    return SECRET_NAME


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def tool() -> Callable[[str], str]:
    """The path of a validator from the project's environment; missing means a failure."""
    bin_dir = Path(sys.executable).parent

    def find(name: str) -> str:
        path = bin_dir / name
        if not path.exists():
            pytest.fail(f"{name} is not installed in {bin_dir}: run `make install`")
        return str(path)

    return find


@pytest.fixture
def load_settings(monkeypatch: pytest.MonkeyPatch) -> LoadSettings:
    """Builds a service's settings from exactly `environment`, as the process would: types,
    ranges and the refusal of default secrets outside development all apply."""

    def load(service: str, environment: Mapping[str, str]) -> ServiceSettings:
        own = _prefix(service)
        for name in list(os.environ):
            if name.upper().startswith(own):
                monkeypatch.delenv(name)
        for name, value in environment.items():
            if name.startswith(own):
                monkeypatch.setenv(name, value)
        return SETTINGS[service]()

    return load
