"""Who is calling: a bearer credential (a partner's API key or a front end's signed JWT)
becomes a principal, for every HTTP request and for every open WebSocket as long as it stays
open.

A WebSocket is authenticated once, when it opens; a subscription may then run for hours. So
each open socket is guarded: it is closed (4403, with the reason) when its JWT expires, or
when a periodic check finds its key revoked or stripped of the graph scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

import grpc
from starlette.websockets import WebSocket, WebSocketState

from gateway.tokens import InvalidToken, JwtVerifier, looks_like_jwt
from relint.auth import SCOPE_GRAPH_READ, KeyVerifier, Principal

log = logging.getLogger(__name__)

# graphql-transport-ws: Forbidden, as a refused connection_init is closed.
CLOSE_FORBIDDEN = 4403


@dataclass
class Authenticator:
    keys: KeyVerifier
    tokens: JwtVerifier | None = None
    # How often an open WebSocket's key is checked again.
    recheck_seconds: float = 60.0
    _guards: set[asyncio.Task[None]] = field(default_factory=set)

    async def authenticate(self, header: str) -> tuple[Principal | None, str | None]:
        """The principal an Authorization header speaks for, or why there is none."""
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None, "authentication required: send 'Authorization: Bearer <key or token>'"
        if self.tokens is not None and looks_like_jwt(token):
            try:
                return self.tokens.verify(token), None
            except InvalidToken as error:
                return None, str(error)
        try:
            return await self._key(token)
        except grpc.aio.AioRpcError:
            return None, "cannot verify the key right now; retry"

    async def _key(self, token: str) -> tuple[Principal | None, str | None]:
        """A key's principal, or why it is refused; ingest unreachable raises AioRpcError."""
        principal = await self.keys.verify(token)
        if principal is None:
            return None, "invalid or revoked key"
        if not principal.allows(SCOPE_GRAPH_READ):
            return None, f"this key lacks the scope {SCOPE_GRAPH_READ}"
        return principal, None

    def guard(self, socket: WebSocket, principal: Principal, header: str) -> None:
        """Watch an accepted socket until it closes; close it when its credential lapses."""
        task = asyncio.create_task(self._watch(socket, principal, header))
        self._guards.add(task)
        task.add_done_callback(self._guards.discard)

    async def close(self) -> None:
        for task in list(self._guards):
            task.cancel()
        await asyncio.gather(*self._guards, return_exceptions=True)

    async def _watch(self, socket: WebSocket, principal: Principal, header: str) -> None:
        while _open(socket):
            wait = self.recheck_seconds
            if principal.expires_at is not None:
                wait = min(wait, max(0.0, principal.expires_at - time.time()))
            await asyncio.sleep(wait)
            if not _open(socket):
                return
            problem = await self._lapsed(principal, header)
            if problem is not None:
                log.info("closing a WebSocket of tenant %s: %s", principal.tenant_id, problem)
                with contextlib.suppress(RuntimeError):  # closed meanwhile
                    await socket.close(CLOSE_FORBIDDEN, problem)
                return

    async def _lapsed(self, principal: Principal, header: str) -> str | None:
        if principal.expires_at is not None:
            # A token cannot be revoked; it only expires.
            return "token expired" if time.time() >= principal.expires_at else None
        try:
            again, problem = await self._key(header.partition(" ")[2].strip())
        except grpc.aio.AioRpcError:  # ingest away for now: the socket stays open
            return None
        if again is not None and again.tenant_id != principal.tenant_id:
            return "the key now speaks for another tenant"
        return problem


def _open(socket: WebSocket) -> bool:
    return (
        socket.client_state is WebSocketState.CONNECTED
        and socket.application_state is WebSocketState.CONNECTED
    )
