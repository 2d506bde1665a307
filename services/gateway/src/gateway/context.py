"""What every resolver sees: the caller's tenant (from its token only) and the loaders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from graphql import GraphQLError
from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

from gateway.analysis import AnalysisBackend
from gateway.backends import Backends, UpstreamError
from gateway.entity_cache import EntityCache, Forgetting
from gateway.events import Broker, InProcessBroker
from gateway.loaders import Loaders
from relint.auth import Principal

# The most customers one partial-answer error names (a page holds at most 100).
MAX_NAMED_CUSTOMERS = 100


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
    # What was answered without a service that did not answer for its part (alerts
    # without the playbook's, say): added to the response's errors, once each.
    partial: list[GraphQLError] = field(default_factory=list)
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

    def answered_partly(
        self, missing: UpstreamError, what: str, customer_ids: Sequence[str] = ()
    ) -> None:
        """Notes that `what` was answered without the part of the service `missing` names;
        for some customers' (`customer_ids`), one error names them all (`customerIds`, the
        first `MAX_NAMED_CUSTOMERS`)."""
        service = (missing.extensions or {}).get("service")
        message = f"{service} is unavailable: {what} leave out its part"
        said = next((error for error in self.partial if error.message == message), None)
        if said is None:
            extensions = {**(missing.extensions or {}), "partial": True}
            said = GraphQLError(message, extensions=extensions)
            self.partial.append(said)
        if customer_ids and said.extensions is not None:
            named: list[str] = said.extensions.setdefault("customerIds", [])
            named.extend(c for c in dict.fromkeys(customer_ids) if c not in named)
            del named[MAX_NAMED_CUSTOMERS:]

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(
                self.backends,
                self.tenant_id,
                self.analysis,
                self.forgetting.cache,
                self.answered_partly,
            )
        return self._loaders
