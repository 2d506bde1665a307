"""The gateway's HTTP middleware: automatic persisted queries and the request timeout.

Automatic persisted queries (Apollo's protocol): a client sends only the SHA-256 of a query
in `extensions.persistedQuery`; unknown, it gets `PersistedQueryNotFound` and sends the query
with its hash once, which the gateway checks and keeps (in Redis when configured, so every
replica knows it; in memory otherwise). Then the hash alone is enough.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import OrderedDict
from typing import Any, Final, Protocol

from redis.asyncio import Redis
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES: Final = 1024 * 1024
MAX_QUERY_BYTES: Final = 100 * 1024
_SHA256: Final = re.compile(r"[0-9a-f]{64}")
_REDIS_PREFIX: Final = "gateway:apq:"
_REDIS_TTL_SECONDS: Final = 30 * 86400


class QueryStore(Protocol):
    async def get(self, digest: str) -> str | None: ...

    async def put(self, digest: str, query: str) -> None: ...


class MemoryQueryStore:
    """The most recently used queries of this process."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._queries: OrderedDict[str, str] = OrderedDict()

    async def get(self, digest: str) -> str | None:
        query = self._queries.get(digest)
        if query is not None:
            self._queries.move_to_end(digest)
        return query

    async def put(self, digest: str, query: str) -> None:
        self._queries[digest] = query
        self._queries.move_to_end(digest)
        while len(self._queries) > self._size:
            self._queries.popitem(last=False)


class RedisQueryStore:
    """Queries shared by every gateway replica, kept 30 days after their last use."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def get(self, digest: str) -> str | None:
        value = await self._redis.getex(_REDIS_PREFIX + digest, ex=_REDIS_TTL_SECONDS)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def put(self, digest: str, query: str) -> None:
        await self._redis.set(_REDIS_PREFIX + digest, query, ex=_REDIS_TTL_SECONDS)


class StoreSlot:
    """The store the app uses, chosen when its lifespan knows whether Redis is configured."""

    def __init__(self) -> None:
        self.backing: QueryStore = MemoryQueryStore()

    async def get(self, digest: str) -> str | None:
        return await self.backing.get(digest)

    async def put(self, digest: str, query: str) -> None:
        await self.backing.put(digest, query)


def _error(message: str, code: str, status: int = 200) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status
    )


class PersistedQueries:
    """Resolves `extensions.persistedQuery` on POSTs to `path` before GraphQL sees them."""

    def __init__(self, app: ASGIApp, store: QueryStore, path: str = "/graphql") -> None:
        self.app = app
        self.store = store
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        body = await _read(receive)
        if body is None:
            await _error("request body too large", "BAD_REQUEST", 413)(scope, receive, send)
            return
        rewritten, refusal = await self._resolve(body)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(_with_length(scope, len(rewritten)), _replay(rewritten), send)

    async def _resolve(self, body: bytes) -> tuple[bytes, JSONResponse | None]:
        try:
            request = json.loads(body)
        except ValueError:
            return body, None  # GraphQL answers malformed JSON itself
        persisted = (
            request.get("extensions", {}).get("persistedQuery")
            if isinstance(request, dict) and isinstance(request.get("extensions"), dict)
            else None
        )
        if not isinstance(persisted, dict):
            return body, None
        digest = persisted.get("sha256Hash")
        if persisted.get("version") != 1 or not isinstance(digest, str):
            return body, _error("persistedQuery needs version 1 and a sha256Hash", "BAD_REQUEST")
        if not _SHA256.fullmatch(digest):
            return body, _error("sha256Hash must be 64 lowercase hex digits", "BAD_REQUEST")
        query = request.get("query")
        if isinstance(query, str):
            if len(query.encode()) > MAX_QUERY_BYTES:
                return body, _error("query too large to persist", "BAD_REQUEST")
            if hashlib.sha256(query.encode()).hexdigest() != digest:
                return body, _error("provided sha does not match query", "BAD_REQUEST")
            await self.store.put(digest, query)
            return body, None
        known = await self.store.get(digest)
        if known is None:
            return body, _error("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
        return json.dumps({**request, "query": known}).encode(), None


class RequestTimeout:
    """Answers 504 with a GraphQL error when a request to `path` takes longer than allowed."""

    def __init__(self, app: ASGIApp, seconds: float, path: str = "/graphql") -> None:
        self.app = app
        self.seconds = seconds
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            async with asyncio.timeout(self.seconds):
                await self.app(scope, receive, tracking)
        except TimeoutError:
            if started:  # too late for another answer; the client sees a cut response
                raise
            message = f"the query took longer than {self.seconds:g} s"
            await _error(message, "TIMEOUT", 504)(scope, receive, send)


async def _read(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _with_length(scope: Scope, length: int) -> dict[str, Any]:
    headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
    return {**scope, "headers": [*headers, (b"content-length", str(length).encode())]}
