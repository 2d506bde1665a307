"""Playbook's settings, read from PLAYBOOK_* environment variables."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from relint.settings import DatabaseSettings


class PlaybookSettings(DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLAYBOOK_", extra="ignore")

    http_port: int = 8003
    grpc_port: int = 50053
    database_url: str = "sqlite+aiosqlite:///./var/playbook.db"
    # Ingest's gRPC address, to verify the API keys of REST callers.
    ingest_target: str = "127.0.0.1:50051"
    # Scoring's gRPC address: where customers stand, and where violations go as signals.
    scoring_target: str = "127.0.0.1:50052"
    # The clock looks for passed deadlines at least this often (and wakes at each one).
    clock_seconds: float = 5.0
    # How often to ask scoring where every customer stands: a backstop, as new types and
    # stages come within seconds through scoring's feed of them (`follow_standings`); the
    # sweep asks for every customer of every tenant, a thousand a call.
    standings_seconds: float = 600.0
    # Webhook URLs on private, loopback or link-local addresses and plain http: for
    # development only (the embedded default turns it on).
    webhooks_allow_private: bool = False
