"""The gateway's settings, read from GATEWAY_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from relint.settings import Environment, ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    http_port: int = 8000
    grpc_port: int = 50050
    ingest_target: str = "127.0.0.1:50051"
    scoring_target: str = "127.0.0.1:50052"
    playbook_target: str = "127.0.0.1:50053"
    # The GraphiQL playground; on by default only in development.
    playground: bool | None = None
    max_depth: int = Field(default=10, ge=2)
    max_tokens: int = Field(default=2000, ge=100)
    max_aliases: int = Field(default=30, ge=1)

    @property
    def playground_enabled(self) -> bool:
        if self.playground is not None:
            return self.playground
        return self.environment is Environment.DEVELOPMENT

    @property
    def mask_errors(self) -> bool:
        return self.environment is not Environment.DEVELOPMENT
