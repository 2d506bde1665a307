from typing import ClassVar

import pytest
from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

from relint.settings import Environment, ServiceSettings


class ExampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMPLE_")
    secret_fields: ClassVar[tuple[str, ...]] = ("signing_key",)
    signing_key: SecretStr = SecretStr("development-only")


def test_development_runs_on_the_published_default() -> None:
    assert ExampleSettings().signing_key.get_secret_value() == "development-only"


@pytest.mark.parametrize("environment", ["production", "test"])
def test_other_environments_refuse_the_default_secret(
    environment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXAMPLE_ENVIRONMENT", environment)
    with pytest.raises(ValidationError, match="EXAMPLE_SIGNING_KEY must be set"):
        ExampleSettings()
    monkeypatch.setenv("EXAMPLE_SIGNING_KEY", "a real secret")
    settings = ExampleSettings()
    assert settings.environment == Environment(environment)
    assert "a real secret" not in repr(settings)


def test_settings_read_their_own_prefix_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_HTTP_PORT", "9100")
    monkeypatch.setenv("OTHER_HTTP_PORT", "9200")
    assert ExampleSettings().http_port == 9100


def test_every_service_refuses_its_default_secrets_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ingest.settings import IngestSettings

    monkeypatch.setenv("INGEST_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="INGEST_KEY_PEPPER"):
        IngestSettings()
