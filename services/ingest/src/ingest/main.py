"""Ingest's wiring: the lifespan builds the database, relay, rate limiter and gRPC servicers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from ingest import admin_api, api, customers_api, grpc_server, segment_api
from ingest.delivery import OutboxRelay, parse_subscribers
from ingest.service import IngestService
from ingest.settings import IngestSettings
from relint.app import Readiness, create_service_app
from relint.direct_route import serve_directly
from relint.grpc_server import GrpcServer
from relint.limits import BodySizeLimitMiddleware
from relint.ratelimit import RateLimiter
from relint.stores import open_stores

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    subscribers = parse_subscribers(settings.subscribers)

    @asynccontextmanager
    async def lifespan(
        app: FastAPI, server: GrpcServer, readiness: Readiness
    ) -> AsyncIterator[None]:
        async with open_stores(settings, readiness) as stores:
            relay: OutboxRelay | None = None
            service = IngestService(
                stores.db,
                key_pepper=settings.key_pepper.get_secret_value(),
                subscribers=list(subscribers),
                on_accepted=lambda: relay.wake() if relay else None,
                key_cache_seconds=settings.key_cache_seconds,
            )
            relay = OutboxRelay(
                service,
                subscribers,
                batch_size=settings.outbox_batch_size,
                poll_seconds=settings.outbox_poll_seconds,
            )
            app.state.ingest = service
            app.state.key_verifier = service
            app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute, 60, stores.redis)
            grpc_server.register(server, service)
            relay.start()
            try:
                yield
            finally:
                await relay.stop()

    app = create_service_app(
        name="ingest",
        description="Partner systems push customer interactions here; every accepted one is "
        "stored with its outbox entries and delivered to the subscribers over gRPC.",
        settings=settings,
        lifespan=lifespan,
        routers=[api.router, customers_api.router, admin_api.router, segment_api.router],
    )
    app.add_exception_handler(segment_api.SegmentError, segment_api.segment_error_handler)
    # The single-interaction POST, partners' hottest call, skips FastAPI's general machinery.
    serve_directly(app, api.record_interaction_route())
    single = {f"/v1/{kind}": api.MAX_ITEM_BYTES for kind in segment_api.SINGLE_CALLS}
    app.add_middleware(
        BodySizeLimitMiddleware,
        default=api.MAX_BATCH_BYTES,
        per_path={"/v1/interactions": api.MAX_ITEM_BYTES, **single},
    )
    return app
