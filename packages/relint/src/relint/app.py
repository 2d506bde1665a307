"""The FastAPI application and lifecycle every service shares.

A service supplies its routers and a lifespan that builds its resources and registers its
gRPC servicers; this module adds health, readiness, metrics, tracing, the gRPC server in the
same process, and the order of shutdown: stop being ready, drain gRPC, then close resources.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from relint import metrics
from relint.errors import install_error_handlers
from relint.grpc_server import GrpcServer
from relint.settings import ServiceSettings
from relint.telemetry import configure_tracing, tracing_enabled

Check = Callable[[], Awaitable[Any]]


class Readiness:
    """What /readyz reports: the service is started, not draining, and its checks pass."""

    def __init__(self, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self.accepting = False
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        self._checks[name] = check

    async def evaluate(self) -> tuple[bool, dict[str, str]]:
        results: dict[str, str] = {}
        for name, check in self._checks.items():
            try:
                await asyncio.wait_for(check(), self.timeout)
                results[name] = "ok"
            except Exception as error:  # any failure of a dependency means not ready
                results[name] = f"failed: {type(error).__name__}"
        ready = self.accepting and all(v == "ok" for v in results.values())
        return ready, results


ServiceLifespan = Callable[[FastAPI, GrpcServer, Readiness], AbstractAsyncContextManager[None]]

health_router = APIRouter(tags=["operations"])


@health_router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@health_router.get(
    "/readyz",
    summary="Readiness: started, not draining, database and Redis reachable",
    responses={503: {"description": "Not ready; the body names the failing checks"}},
)
async def readyz(request: Request) -> JSONResponse:
    readiness: Readiness | None = getattr(request.app.state, "readiness", None)
    if readiness is None:
        return JSONResponse({"status": "starting", "checks": {}}, status_code=503)
    ready, checks = await readiness.evaluate()
    if not readiness.accepting:
        return JSONResponse({"status": "draining", "checks": checks}, status_code=503)
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


def create_service_app(
    *,
    name: str,
    description: str,
    settings: ServiceSettings,
    lifespan: ServiceLifespan,
    routers: Sequence[APIRouter] = (),
    version: str = "0.1.0",
    non_json_paths: tuple[str, ...] = (),
) -> FastAPI:
    configure_tracing(name)

    @asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[None]:
        readiness = Readiness()
        grpc_server = GrpcServer(settings.grpc_host, settings.grpc_port, settings.reuse_port)
        app.state.readiness = readiness
        app.state.grpc_server = grpc_server
        async with lifespan(app, grpc_server, readiness):
            app.state.grpc_port = await grpc_server.start()
            await grpc_server.mark_serving()
            readiness.accepting = True
            try:
                yield
            finally:
                readiness.accepting = False
                await grpc_server.stop(settings.shutdown_grace_seconds)
        if tracing_enabled():
            from opentelemetry import trace

            provider: Any = trace.get_tracer_provider()
            provider.force_flush()

    app = FastAPI(title=name, description=description, version=version, lifespan=app_lifespan)
    app.state.settings = settings
    install_error_handlers(app, non_json_paths)
    app.add_middleware(metrics.HttpMetricsMiddleware)
    app.include_router(health_router)
    app.include_router(metrics.router)
    for router in routers:
        app.include_router(router)
    if tracing_enabled():
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    return app
