"""The settings every service shares, read from the environment with a prefix per service.

Outside development, a setting marked as a secret must not keep its development default:
the service refuses to start rather than run production on a published value.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class InsecureSettingsError(ValueError):
    """A secret still has its published development default outside development."""


class ServiceSettings(BaseSettings):
    """Base for each service's settings; subclasses set `env_prefix` in `model_config`."""

    model_config = SettingsConfigDict(extra="ignore", env_file=None)

    # Names of SecretStr fields whose development default must be replaced elsewhere.
    secret_fields: ClassVar[tuple[str, ...]] = ()

    environment: Environment = Environment.DEVELOPMENT
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=0, le=65535)
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=50050, ge=0, le=65535)
    # Several processes of the service on one host share its HTTP and gRPC ports
    # (SO_REUSEPORT), the kernel spreading connections among them as a Kubernetes Service
    # spreads them among pods. Off, a second process on the same ports fails to start.
    reuse_port: bool = False
    redis_url: str | None = None
    log_level: str = "info"
    # Seconds the gRPC server waits for in-flight calls after SIGTERM.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> ServiceSettings:
        if self.environment is Environment.DEVELOPMENT:
            return self
        prefix = self.model_config.get("env_prefix", "")
        for name in self.secret_fields:
            value: Any = getattr(self, name)
            default = type(self).model_fields[name].default
            if (
                isinstance(value, SecretStr)
                and isinstance(default, SecretStr)
                and value.get_secret_value() == default.get_secret_value()
            ):
                raise InsecureSettingsError(
                    f"{prefix}{name.upper()} must be set to a secret of your own "
                    f"when {prefix}ENVIRONMENT={self.environment.value}"
                )
        return self


class DatabaseSettings(ServiceSettings):
    """Settings of a service that owns a database."""

    database_url: str = "sqlite+aiosqlite:///./var/service.db"
    database_pool_size: int = Field(default=10, ge=1)
