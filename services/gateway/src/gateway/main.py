"""The gateway's wiring: gRPC clients, key verification and the GraphQL route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from fastapi import FastAPI
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from gateway.analysis import AnalysisBackend
from gateway.auth import Authenticator
from gateway.backends import Backends
from gateway.console import console_router
from gateway.context import GatewayContext
from gateway.entity_cache import EntityCache, Forgetting
from gateway.events import EventRelay, InProcessBroker, RedisBroker
from gateway.loaders import Refresher
from gateway.middleware import PersistedQueries, RedisQueryStore, RequestTimeout, StoreSlot
from gateway.schema import build_schema
from gateway.settings import GatewaySettings
from gateway.tokens import JwtVerifier
from relint.app import Readiness, create_service_app
from relint.auth import RemoteKeyVerifier
from relint.grpc_server import GrpcServer
from relint.stores import open_stores


async def get_context(connection: HTTPConnection) -> GatewayContext:
    authenticator: Authenticator = connection.app.state.authenticator
    header = connection.headers.get("authorization", "")
    principal, problem = await authenticator.authenticate(header)
    return GatewayContext(
        backends=connection.app.state.backends,
        principal=principal,
        auth_problem=problem,
        broker=connection.app.state.broker,
        analysis=connection.app.state.analysis,
        forgetting=connection.app.state.forgetting,
        connection=connection,
        credential=header if principal is not None else None,
    )


class GatewayGraphQL(GraphQL[GatewayContext, None]):
    """The GraphQL endpoint as a plain ASGI app on its route, not a FastAPI router: FastAPI's
    route handling (dependency solving, its endpoint wrapper) was a tenth of the gateway's
    CPU a customer-360 (py-spy during `bench/gateway_360.py`), for nothing the endpoint
    used. The app's middleware (metrics, limits, timeouts, persisted queries) still wraps it."""

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GatewayContext:
        return await get_context(request)

    def encode_json(self, data: object) -> str:
        """Answers as orjson writes them: the same JSON, several times faster than the
        standard library's encoder, which a customer-360's ~250 fields made a few per cent
        of the gateway's CPU. Text, as WebSocket messages must be."""
        return orjson.dumps(data).decode()

    async def on_ws_connect(self, context: GatewayContext) -> UnsetType | dict[str, object] | None:
        """A WebSocket authenticates with its headers or its connection_init payload's
        Authorization; without either it is refused (4403). While it stays open, it is
        closed when that credential lapses (gateway.auth)."""
        assert context.connection is not None  # set by get_context
        authenticator: Authenticator = context.connection.app.state.authenticator
        if context.principal is None:
            given = (context.connection_params or {}).get("Authorization")
            if not isinstance(given, str):
                raise ConnectionRejectionError({"message": context.auth_problem})
            principal, problem = await authenticator.authenticate(given)
            if principal is None:
                raise ConnectionRejectionError({"message": problem})
            context.principal, context.credential = principal, given
        if isinstance(context.connection, WebSocket) and context.credential is not None:
            authenticator.guard(context.connection, context.principal, context.credential)
        acknowledged: UnsetType = UNSET
        return acknowledged


def _jwt_verifier(settings: GatewaySettings) -> JwtVerifier | None:
    key = settings.jwt_key.get_secret_value()
    if not key:
        return None
    return JwtVerifier(
        key,
        settings.jwt_algorithm,
        settings.jwt_audience,
        settings.jwt_issuer,
        settings.jwt_leeway_seconds,
    )


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    schema = build_schema(
        max_depth=settings.max_depth,
        max_tokens=settings.max_tokens,
        max_aliases=settings.max_aliases,
        mask_errors=settings.mask_errors,
        max_cost=settings.max_cost,
    )
    graphql = GatewayGraphQL(
        schema,
        graphql_ide="graphiql" if settings.playground_enabled else None,
        allow_queries_via_get=False,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
    )

    @asynccontextmanager
    async def lifespan(
        app: FastAPI, server: GrpcServer, readiness: Readiness
    ) -> AsyncIterator[None]:
        backends = Backends(
            settings.ingest_target, settings.scoring_target, settings.playbook_target
        )
        app.state.backends = backends
        app.state.analysis = AnalysisBackend(backends.scoring_channel)
        authenticator = Authenticator(
            RemoteKeyVerifier(backends.ingest_channel),
            _jwt_verifier(settings),
            settings.ws_recheck_seconds,
        )
        app.state.authenticator = authenticator
        app.state.broker = InProcessBroker()
        cache = EntityCache(
            settings.entity_cache_seconds,
            settings.entity_cache_unwatched_seconds,
            settings.entity_cache_entries,
        )
        app.state.forgetting = Forgetting(cache)
        refresher = Refresher(backends, cache)
        cache.on_stale = refresher
        try:
            async with open_stores(settings, readiness) as stores:
                if stores.redis is not None:
                    persisted.backing = RedisQueryStore(stores.redis)
                    app.state.broker = RedisBroker(stores.redis)
                    app.state.forgetting = Forgetting(cache, stores.redis)
                relay = EventRelay(
                    backends,
                    app.state.broker,
                    redis=stores.redis,
                    forgetting=app.state.forgetting,
                )
                relay.start()
                app.state.forgetting.start()
                try:
                    yield
                finally:
                    await app.state.forgetting.stop()
                    await relay.stop()
                    await refresher.stop()
        finally:
            await authenticator.close()
            await backends.close()

    persisted = StoreSlot()
    app = create_service_app(
        name="gateway",
        description="One customer-relationship graph over ingest, scoring and playbook.",
        settings=settings,
        lifespan=lifespan,
        routers=[console_router()],
    )
    app.router.routes += [
        Route("/graphql", graphql, methods=["GET", "POST"], include_in_schema=False),
        WebSocketRoute("/graphql", graphql),
    ]
    app.add_middleware(PersistedQueries, store=persisted)
    app.add_middleware(RequestTimeout, seconds=settings.request_timeout_seconds)
    return app
