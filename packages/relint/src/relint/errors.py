"""The answers every service gives to requests it cannot take, instead of a bare 422 or 500:
malformed JSON is a 400 naming where it breaks, a body that is not JSON a 415, a value the
database refuses (the checks at the edge, `relint.values`, should have named it first) a 422,
and a database or Redis that is away a 503 with Retry-After (the transaction was rolled back
whole)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

STORE_RETRY_AFTER_SECONDS = 5


class WriteContention(Exception):
    """Concurrent writers kept taking the same keys (a customer seen for the first time by
    several requests at once) through every retry; nothing of this write was stored."""


# What a database or Redis that is away (or a connection it dropped) raises: the request is
# refused whole with "retry", over HTTP (503) and over gRPC (UNAVAILABLE).
STORE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    WriteContention,
)
JSON_TYPES = ("application/json",)


def _position(body: bytes, offset: int) -> tuple[int, int]:
    before = body[:offset].decode("utf-8", errors="replace")
    line = before.count("\n") + 1
    column = offset - (before.rfind("\n") + 1) + 1 if "\n" in before else offset + 1
    return line, column


async def _validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    for problem in error.errors():
        if problem.get("type") == "json_invalid":
            loc = problem.get("loc", ())
            offset = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else 0
            line, column = _position(await request.body(), offset)
            reason = problem.get("ctx", {}).get("error", "invalid JSON")
            return JSONResponse(
                {
                    "detail": f"malformed JSON at line {line}, column {column} "
                    f"(character {offset}): {reason}"
                },
                status_code=400,
            )
    return await request_validation_exception_handler(request, error)  # type: ignore[arg-type]


async def _store_unavailable(request: Request, error: Exception) -> Response:
    log.warning("store unavailable for %s %s: %r", request.method, request.url.path, error)
    return JSONResponse(
        {"detail": "a store this service needs is unavailable; nothing was written, retry later"},
        status_code=503,
        headers={"Retry-After": str(STORE_RETRY_AFTER_SECONDS)},
    )


def unstorable_reason(error: DataError) -> str:
    """What the database said of the value it refused, in one line."""
    return str(error.orig).strip().splitlines()[0] if error.orig else "a value was refused"


async def _unstorable(request: Request, error: Exception) -> Response:
    assert isinstance(error, DataError)
    log.warning("value refused by the store for %s %s: %r", request.method, request.url.path, error)
    return JSONResponse(
        {"detail": f"a value cannot be stored: {unstorable_reason(error)}; nothing was written"},
        status_code=422,
    )


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


class JsonBodyMiddleware:
    """Refuses a request body that does not say it is JSON (415), before any route reads it."""

    def __init__(self, app: ASGIApp, exempt_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.exempt = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            path: str = scope["path"]
            headers = dict(scope["headers"])
            has_body = headers.get(b"content-length", b"0") != b"0" or (
                b"transfer-encoding" in headers
            )
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            if has_body and not path.startswith(self.exempt) and not _is_json(content_type):
                response = JSONResponse(
                    {
                        "detail": "the body must be JSON: send 'Content-Type: application/json'"
                        + (f" (got '{content_type}')" if content_type else "")
                    },
                    status_code=415,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_error_handlers(app: FastAPI, non_json_paths: tuple[str, ...] = ()) -> None:
    """`non_json_paths`: paths whose routes read another media type and check it."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DataError, _unstorable)
    for unavailable in STORE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _store_unavailable)
    app.add_middleware(JsonBodyMiddleware, exempt_prefixes=non_json_paths)
