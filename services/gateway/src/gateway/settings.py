"""The gateway's settings, read from GATEWAY_* environment variables."""

from __future__ import annotations

from typing import Final

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from relint.settings import Environment, ServiceSettings

MIN_HS256_BYTES: Final = 32


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
    # The estimated work of a query (gateway/cost.py), and the time it may take.
    max_cost: int = Field(default=25_000, ge=100)
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    # How long the backing services' answers about a customer are shared between requests
    # while scoring's feed of changes is followed, and while it is not (gateway/
    # entity_cache.py); 0 turns the cache off. At most this many entries.
    entity_cache_seconds: float = Field(default=30.0, ge=0, le=300)
    entity_cache_unwatched_seconds: float = Field(default=2.0, ge=0, le=60)
    entity_cache_entries: int = Field(default=20_000, ge=100)
    # Front ends' signed JWTs (gateway/tokens.py): off until a key is set. HS256 takes a
    # shared secret; RS256 and ES256 a public key in PEM.
    jwt_algorithm: str = Field(default="HS256", pattern="^(HS256|RS256|ES256)$")
    jwt_key: SecretStr = SecretStr("")
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    # Clock skew allowed between the token's signer and the gateway.
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    # An open WebSocket is closed when its token expires; its key is checked again this often
    # (and closed once revoked).
    ws_recheck_seconds: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _strong_enough_jwt_secret(self) -> GatewaySettings:
        key = self.jwt_key.get_secret_value()
        if key and self.jwt_algorithm == "HS256" and len(key.encode()) < MIN_HS256_BYTES:
            raise ValueError(f"GATEWAY_JWT_KEY: an HS256 secret needs {MIN_HS256_BYTES}+ bytes")
        return self

    @property
    def playground_enabled(self) -> bool:
        if self.playground is not None:
            return self.playground
        return self.environment is Environment.DEVELOPMENT

    @property
    def mask_errors(self) -> bool:
        return self.environment is not Environment.DEVELOPMENT
