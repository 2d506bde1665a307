"""The shared service shell: readiness, draining, body limits, metrics, SIGTERM order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import httpx
from fastapi import APIRouter, FastAPI, Request
from grpc_health.v1 import health_pb2, health_pb2_grpc

from relint.app import Readiness, create_service_app
from relint.grpc_server import GrpcServer
from relint.limits import BodySizeLimitMiddleware
from relint.settings import ServiceSettings

router = APIRouter()


@router.post("/echo")
async def echo(request: Request) -> dict[str, int]:
    return {"bytes": len(await request.body())}


def build(check_ok: dict[str, bool]) -> FastAPI:
    @asynccontextmanager
    async def lifespan(
        app: FastAPI, server: GrpcServer, readiness: Readiness
    ) -> AsyncIterator[None]:
        async def dependency() -> None:
            if not check_ok["value"]:
                raise ConnectionError("down")

        readiness.add("dependency", dependency)
        yield

    app = create_service_app(
        name="example",
        description="test",
        settings=ServiceSettings(grpc_port=0),
        lifespan=lifespan,
        routers=[router],
    )
    app.add_middleware(BodySizeLimitMiddleware, default=100)
    return app


async def test_readiness_follows_dependencies_and_draining() -> None:
    state = {"value": True}
    app = build(state)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as client,
    ):
        assert (await client.get("/readyz")).status_code == 200
        state["value"] = False
        failing = await client.get("/readyz")
        assert failing.status_code == 503
        assert failing.json()["checks"] == {"dependency": "failed: ConnectionError"}
        assert (await client.get("/healthz")).status_code == 200
        state["value"] = True
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.state.grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service="")
            assert (
                await health.Check(request, timeout=5)
            ).status == health_pb2.HealthCheckResponse.SERVING
            # What SIGTERM does first: stop being ready, tell balancers over gRPC health.
            app.state.readiness.accepting = False
            await app.state.grpc_server.drain()
            assert (await client.get("/readyz")).json()["status"] == "draining"
            reply = await health.Check(request, timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_bodies_over_the_limit_are_refused_even_without_content_length() -> None:
    app = build({"value": True})
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as client,
    ):
        json_body = {"Content-Type": "application/json"}
        small = await client.post("/echo", content=b"x" * 100, headers=json_body)
        assert small.json() == {"bytes": 100}
        large = await client.post("/echo", content=b"x" * 101, headers=json_body)
        assert large.status_code == 413

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(5):
                yield b"y" * 40

        streamed = await client.post("/echo", content=chunks(), headers=json_body)
        assert streamed.status_code == 413
        assert "larger than 100 bytes" in streamed.json()["detail"]


async def test_metrics_count_requests_by_route_template() -> None:
    app = build({"value": True})
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as client,
    ):
        await client.post("/echo", content=b"1", headers={"Content-Type": "application/json"})
        await client.post("/echo", content=b"1", headers={"Content-Type": "text/plain"})
        text = (await client.get("/metrics")).text
    assert 'relint_http_requests_total{method="POST",route="/echo",status="200"}' in text
    # Refused before routing: counted without a route, so raw paths never become labels.
    assert 'relint_http_requests_total{method="POST",route="unmatched",status="415"}' in text
