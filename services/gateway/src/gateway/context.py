"""What every resolver sees: the caller's tenant (from its token only) and the loaders."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphql import GraphQLError
from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

from gateway.analysis import AnalysisBackend
from gateway.backends import Backends
from gateway.entity_cache import EntityCache, Forgetting
from gateway.events import Broker, InProcessBroker
from gateway.loaders import Loaders
from relint.auth import Principal


@dataclass
class GatewayContext(BaseContext):
    backends: Backends
    principal: Principal | None
    auth_problem: str | None = None
    broker: Broker = field(default_factory=InProcessBroker)
    # A WebSocket's connection_init payload (graphql-transport-ws): where browsers, which
    # cannot set headers on a WebSocket, send their Authorization.
    connection_params: dict[str, object] | None = None
    connection: HTTPConnection | None = None
    # The Authorization the principal came from, to check again on an open WebSocket.
    credential: str | None = None
    analysis: AnalysisBackend | None = None
    # The process's entity cache (off unless the app turns it on), and how changes made
    # through this gateway forget what they touch.
    forgetting: Forgetting = field(default_factory=lambda: Forgetting(EntityCache(0)))
    _loaders: Loaders | None = None

    def __post_init__(self) -> None:
        super().__init__()

    @property
    def tenant_id(self) -> str:
        if self.principal is None:
            raise GraphQLError(
                self.auth_problem or "authentication required",
                extensions={"code": "UNAUTHENTICATED"},
            )
        return self.principal.tenant_id

    def allows(self, scope: str) -> bool:
        """Whether the caller's key has `scope` (an unauthenticated caller is refused)."""
        self.tenant_id  # noqa: B018 - raises UNAUTHENTICATED without a principal
        return self.principal is not None and self.principal.allows(scope)

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(
                self.backends, self.tenant_id, self.analysis, self.forgetting.cache
            )
        return self._loaders
