"""Prometheus metrics every service exposes on /metrics: HTTP and gRPC traffic, per route."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy.exc import DataError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relint.errors import STORE_UNAVAILABLE, unstorable_reason

log = logging.getLogger(__name__)

HTTP_REQUESTS = Counter(
    "relint_http_requests_total", "HTTP requests served.", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "relint_http_request_duration_seconds", "HTTP request latency.", ["method", "route"]
)
GRPC_REQUESTS = Counter("relint_grpc_requests_total", "gRPC calls served.", ["method", "code"])
GRPC_LATENCY = Histogram("relint_grpc_request_duration_seconds", "gRPC call latency.", ["method"])

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class HttpMetricsMiddleware:
    """Counts and times every HTTP request by its route template, not its raw path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            HTTP_LATENCY.labels(scope["method"], template).observe(time.perf_counter() - started)
            HTTP_REQUESTS.labels(scope["method"], template, str(status)).inc()


class GrpcMetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Counts and times unary gRPC calls by method and status code; a call that found a
    store away (say, a connection PostgreSQL dropped in a restart) is answered UNAVAILABLE,
    which the clients' channels retry, instead of UNKNOWN."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method
        inner = handler.unary_unary

        async def observed(request: Any, servicer_context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            try:
                try:
                    reply = await inner(request, servicer_context)
                except STORE_UNAVAILABLE as error:
                    log.warning("store unavailable for %s: %r", method, error)
                    await servicer_context.abort(
                        grpc.StatusCode.UNAVAILABLE, "a store this service needs is unavailable"
                    )
                except DataError as error:
                    log.warning("value refused by the store for %s: %r", method, error)
                    await servicer_context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"a value cannot be stored: {unstorable_reason(error)}",
                    )
            except Exception:
                code = servicer_context.code() or grpc.StatusCode.UNKNOWN
                GRPC_REQUESTS.labels(method, _code_name(code)).inc()
                raise
            finally:
                GRPC_LATENCY.labels(method).observe(time.perf_counter() - started)
            GRPC_REQUESTS.labels(method, _code_name(servicer_context.code())).inc()
            return reply

        return grpc.unary_unary_rpc_method_handler(
            observed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _code_name(code: Any) -> str:
    if code is None:
        return "OK"
    return getattr(code, "name", str(code))
