"""Playbook's wiring: the lifespan builds the database, the key verifier and gRPC servicer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from playbook import api, grpc_server
from playbook.scoring_client import GrpcScoring
from playbook.service import PlaybookService
from playbook.settings import PlaybookSettings
from playbook.worker import PlaybookWorker
from relint.app import Readiness, create_service_app
from relint.auth import RemoteKeyVerifier
from relint.grpc_client import open_channel
from relint.grpc_server import GrpcServer
from relint.limits import BodySizeLimitMiddleware
from relint.stores import open_stores

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: PlaybookSettings | None = None) -> FastAPI:
    settings = settings or PlaybookSettings()

    @asynccontextmanager
    async def lifespan(
        app: FastAPI, server: GrpcServer, readiness: Readiness
    ) -> AsyncIterator[None]:
        async with (
            open_stores(settings, readiness) as stores,
            open_channel(settings.ingest_target) as ingest,
            open_channel(settings.scoring_target) as scoring,
            httpx.AsyncClient(follow_redirects=False) as webhook_client,
        ):
            service = PlaybookService(stores.db, GrpcScoring(scoring))
            worker = PlaybookWorker(
                service,
                webhook_client=webhook_client,
                idle_seconds=settings.clock_seconds,
                standings_seconds=settings.standings_seconds,
            )
            app.state.playbook = service
            app.state.key_verifier = RemoteKeyVerifier(ingest)
            grpc_server.register(server, service, on_received=worker.wake)
            worker.start()
            try:
                yield
            finally:
                await worker.stop()

    app = create_service_app(
        name="playbook",
        description="Owns each tenant's playbook: versioned, machine-checkable service "
        "standards per relationship type and stage.",
        settings=settings,
        lifespan=lifespan,
        routers=[api.router],
        non_json_paths=("/v1/playbook.yaml",),
    )
    app.add_middleware(BodySizeLimitMiddleware, default=api.MAX_DRAFT_BYTES)
    return app
