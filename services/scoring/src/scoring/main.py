"""Scoring's wiring: the lifespan builds the database, the key verifier and gRPC servicers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from relint.app import Readiness, create_service_app
from relint.auth import RemoteKeyVerifier
from relint.grpc_client import open_channel
from relint.grpc_server import GrpcServer
from relint.stores import open_stores
from scoring import analysis_api, analysis_grpc, api, grpc_server
from scoring.analysis_service import AnalysisService
from scoring.service import ScoringService
from scoring.settings import ScoringSettings
from scoring.worker import ScoringWorker

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: ScoringSettings | None = None) -> FastAPI:
    settings = settings or ScoringSettings()

    @asynccontextmanager
    async def lifespan(
        app: FastAPI, server: GrpcServer, readiness: Readiness
    ) -> AsyncIterator[None]:
        async with (
            open_stores(settings, readiness) as stores,
            open_channel(settings.ingest_target) as ingest,
        ):
            service = ScoringService(stores.db, settings.history_settle_seconds)
            worker = ScoringWorker(service, classify_seconds=settings.classify_seconds)
            app.state.scoring = service
            app.state.key_verifier = RemoteKeyVerifier(ingest)
            grpc_server.register(server, service, on_applied=worker.wake)
            app.state.analysis = AnalysisService(stores.db)
            analysis_grpc.register(server, app.state.analysis)
            worker.start()
            try:
                yield
            finally:
                await worker.stop()

    return create_service_app(
        name="scoring",
        description="Turns the interaction stream into relationship state: the Relationship "
        "Value per customer, and what moved it.",
        settings=settings,
        lifespan=lifespan,
        routers=[api.router, analysis_api.router],
    )
