"""Who is calling: partner API keys turned into a principal with a tenant and scopes.

Ingest owns the keys; the other services ask it over gRPC and cache the answer briefly,
keyed by a hash of the key so that no raw key sits in memory longer than the request.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import grpc
from fastapi import HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from relint.contracts.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from relint.grpc_client import READ_DEADLINE

SCOPE_INGEST_WRITE = "ingest:write"
SCOPE_GRAPH_READ = "graph:read"
SCOPE_GRAPH_WRITE = "graph:write"
SCOPE_ADMIN = "admin"
ALL_SCOPES = (SCOPE_INGEST_WRITE, SCOPE_GRAPH_READ, SCOPE_GRAPH_WRITE, SCOPE_ADMIN)


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    partner_id: str
    scopes: frozenset[str]
    # The key's public lookup id where the verifier knows it (ingest does): rate limits
    # are per key, so a rotated successor does not share its predecessor's budget.
    key_id: str = ""
    # When the credential stops being accepted (seconds since the epoch), where it says:
    # a signed token's expiry. Keys do not expire; they are revoked.
    expires_at: float | None = None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or SCOPE_ADMIN in self.scopes


class KeyVerifier(Protocol):
    async def verify(self, key: str) -> Principal | None: ...


class KeyCache:
    """Verification answers by key digest for `ttl` seconds, least recently used evicted.
    The raw key is never kept, only its SHA-256."""

    def __init__(self, ttl: float, capacity: int = 10_000) -> None:
        self.ttl = ttl
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[float, Principal | None]] = OrderedDict()

    async def get_or_verify(
        self, key: str, verify: Callable[[str], Awaitable[Principal | None]]
    ) -> Principal | None:
        digest = hashlib.sha256(key.encode()).hexdigest()
        now = time.monotonic()
        cached = self._entries.get(digest)
        if cached and cached[0] > now:
            return cached[1]
        principal = await verify(key)
        if self.ttl > 0:
            self._entries[digest] = (now + self.ttl, principal)
            self._entries.move_to_end(digest)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        return principal

    def forget(self, matches: Callable[[Principal], bool]) -> None:
        """Drops the cached answers whose principal matches (a revoked key, a removed partner)."""
        for digest, (_, principal) in list(self._entries.items()):
            if principal is not None and matches(principal):
                del self._entries[digest]


class RemoteKeyVerifier:
    """Verifies keys through ingest's ApiKeyService; answers are cached for `ttl` seconds."""

    def __init__(self, channel: grpc.aio.Channel, ttl: float = 30.0, capacity: int = 10_000):
        self._stub = ingest_pb2_grpc.ApiKeyServiceStub(channel)
        self._cache = KeyCache(ttl, capacity)

    async def verify(self, key: str) -> Principal | None:
        return await self._cache.get_or_verify(key, self._ask_ingest)

    async def _ask_ingest(self, key: str) -> Principal | None:
        reply = await self._stub.VerifyApiKey(
            ingest_pb2.VerifyApiKeyRequest(key=key), timeout=READ_DEADLINE
        )
        if not reply.valid:
            return None
        return Principal(reply.tenant_id, reply.partner_id, frozenset(reply.scopes))


async def authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The principal of the request's bearer key, or 401 (none, unknown, revoked) or 503."""
    if credentials is None or not credentials.credentials:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    verifier: KeyVerifier = request.app.state.key_verifier
    try:
        principal = await verifier.verify(credentials.credentials)
    except grpc.aio.AioRpcError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "cannot verify API keys right now; retry"
        ) from error
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid or revoked API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


class ScopedKey(HTTPBearer):
    """The bearer scheme as a dependency that gives the caller's principal if its key holds
    `scope`. One dependency, not a chain of three (scheme, key, scope): FastAPI solves every
    level of a route's dependencies on every request."""

    def __init__(self, scope: str) -> None:
        super().__init__(
            auto_error=False, description="A partner API key (rik_...)", scheme_name="HTTPBearer"
        )
        self.scope = scope

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        principal = await authenticate(request, await super().__call__(request))
        if not principal.allows(self.scope):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this key lacks the scope {self.scope}")
        return principal


def require_scope(scope: str) -> object:
    """A FastAPI dependency giving the caller's principal if its key holds `scope`."""
    return Security(ScopedKey(scope))
