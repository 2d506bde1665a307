"""Ingest's settings, read from INGEST_* environment variables."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from relint.settings import DatabaseSettings


class IngestSettings(DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore")
    secret_fields: ClassVar[tuple[str, ...]] = ("key_pepper",)

    http_port: int = 8001
    grpc_port: int = 50051
    database_url: str = "sqlite+aiosqlite:///./var/ingest.db"
    # HMAC pepper for API key hashes; a database dump alone cannot be used to test keys.
    key_pepper: SecretStr = SecretStr("development-only-pepper")
    # Who receives every accepted interaction: "name=host:port,...".
    subscribers: str = "scoring=127.0.0.1:50052,playbook=127.0.0.1:50053"
    outbox_batch_size: int = Field(default=500, ge=1, le=1000)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    # Interactions a partner may push per minute (a batch counts each item).
    rate_limit_per_minute: int = Field(default=120_000, ge=1)
    # How long a key's verification is cached in each process; a revocation made through
    # this process applies at once, through another replica within this time.
    key_cache_seconds: float = Field(default=5.0, ge=0, le=300)
