"""Scoring's settings, read from SCORING_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from relint.settings import DatabaseSettings


class ScoringSettings(DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCORING_", extra="ignore")

    http_port: int = 8002
    grpc_port: int = 50052
    database_url: str = "sqlite+aiosqlite:///./var/scoring.db"
    # Ingest's gRPC address, to verify the API keys of REST callers.
    ingest_target: str = "127.0.0.1:50051"
    # How often each tenant's customers are placed on the value map again (when they changed).
    classify_seconds: float = Field(default=30.0, gt=0)
    # Alerts about the present wait until no interaction older than three days has arrived
    # for the tenant for this long (a load of history still arriving; see ScoringService).
    history_settle_seconds: float = Field(default=10.0, ge=0)
