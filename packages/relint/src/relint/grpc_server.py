"""The gRPC server bootstrap every service shares: grpc.aio, health with real status,
reflection, metrics and tracing interceptors, and a graceful stop."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from relint.metrics import GrpcMetricsInterceptor
from relint.telemetry import tracing_enabled

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 32 * 1024 * 1024
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

Registration = Callable[[grpc.aio.Server], None]


class GrpcServer:
    """A grpc.aio server whose health says SERVING only between start and drain."""

    def __init__(self, host: str, port: int, reuse_port: bool = False) -> None:
        self.address = f"{host}:{port}"
        interceptors: list[grpc.aio.ServerInterceptor] = [GrpcMetricsInterceptor()]
        if tracing_enabled():
            from opentelemetry.instrumentation.grpc import aio_server_interceptor

            interceptors.insert(0, aio_server_interceptor())  # type: ignore[no-untyped-call]
        self.server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", int(reuse_port)),
            ],
        )
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.service_names: list[str] = [health.SERVICE_NAME]
        self.port: int | None = None

    def add(self, register: Registration, service_names: Sequence[str]) -> None:
        """Adds servicers: `register` is a generated add_*Servicer_to_server bound to them."""
        register(self.server)
        self.service_names.extend(service_names)

    async def start(self) -> int:
        self.port = self.server.add_insecure_port(self.address)
        if self.port == 0:
            raise RuntimeError(f"cannot bind gRPC on {self.address}")
        reflection.enable_server_reflection(
            [*self.service_names, reflection.SERVICE_NAME], self.server
        )
        for name in self.service_names:
            await self.health.set(name, NOT_SERVING)
        await self.health.set("", NOT_SERVING)
        await self.server.start()
        log.info("gRPC listening on %s", self.address.rsplit(":", 1)[0] + f":{self.port}")
        return self.port

    async def mark_serving(self) -> None:
        for name in ["", *self.service_names]:
            await self.health.set(name, SERVING)

    async def drain(self) -> None:
        """Health says NOT_SERVING from now on, so balancers stop sending new calls."""
        await self.health.enter_graceful_shutdown()

    async def stop(self, grace: float) -> None:
        await self.drain()
        await self.server.stop(grace)
