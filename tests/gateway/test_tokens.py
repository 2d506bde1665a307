"""Front ends' signed JWTs at the gateway: the tenant and role come from the token only;
expired, tampered, unsigned and foreign-algorithm tokens are refused."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from gateway.main import create_app
from gateway.settings import GatewaySettings
from gateway.tokens import InvalidToken, JwtVerifier, looks_like_jwt
from relint.auth import SCOPE_ADMIN, SCOPE_GRAPH_READ, SCOPE_GRAPH_WRITE, Principal

SECRET = "s" * 32


def token(key: Any = SECRET, algorithm: str = "HS256", **claims: Any) -> str:
    # Built when the tests are collected: valid for a day, however long the suite runs.
    body = {"tenant": "t1", "sub": "ana", "exp": int(time.time()) + 86400, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=algorithm)


def test_roles_become_scopes_and_the_tenant_comes_from_the_token() -> None:
    verifier = JwtVerifier(SECRET, "HS256")
    viewer = verifier.verify(token())
    assert (viewer.tenant_id, viewer.partner_id, viewer.scopes) == (
        "t1",
        "user:ana",
        frozenset({SCOPE_GRAPH_READ}),
    )
    editor = verifier.verify(token(role="editor"))
    assert editor.scopes == frozenset({SCOPE_GRAPH_READ, SCOPE_GRAPH_WRITE})
    assert SCOPE_ADMIN in verifier.verify(token(role="admin")).scopes


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (token(exp=int(time.time()) - 60), "token expired"),
        (token(key="x" * 32), "Signature verification failed"),
        (token(tenant=None), "the tenant claim is required"),
        (token(role="root"), "unknown role 'root'"),
        (token(sub=None), 'Token is missing the "sub" claim'),
        (token(exp=None), 'Token is missing the "exp" claim'),
        (jwt.encode({"tenant": "t1", "sub": "a", "exp": 9999999999}, None, algorithm="none"), ""),
        (token() + "x", ""),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(bad: str, reason: str) -> None:
    with pytest.raises(InvalidToken) as refused:
        JwtVerifier(SECRET, "HS256").verify(bad)
    assert reason in str(refused.value)


def test_public_key_tokens_and_audience() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    verifier = JwtVerifier(public, "RS256", audience="relint-graph", issuer="https://idp")
    good = token(private, "RS256", aud="relint-graph", iss="https://idp")
    assert verifier.verify(good).tenant_id == "t1"
    with pytest.raises(InvalidToken):
        verifier.verify(token(private, "RS256", aud="elsewhere", iss="https://idp"))
    with pytest.raises(InvalidToken):  # another algorithm than the one configured
        verifier.verify(token(SECRET, "HS256", aud="relint-graph", iss="https://idp"))
    assert looks_like_jwt(good)
    assert not looks_like_jwt("rik_abc.def.ghi")


def test_a_short_hs256_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32"):
        GatewaySettings(jwt_key="short")


@pytest.fixture
async def app() -> AsyncIterator[FastAPI]:
    application = create_app(GatewaySettings(jwt_key=SECRET, grpc_port=0))
    async with application.router.lifespan_context(application):
        yield application


ACK = 'mutation { acknowledgeAlert(alertId: "a1") { __typename ... on NotAllowed { message } } }'


async def _graph(app: FastAPI, bearer: str) -> dict[str, Any]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as client:
        reply = await client.post(
            "/graphql", json={"query": ACK}, headers={"Authorization": f"Bearer {bearer}"}
        )
    body: dict[str, Any] = reply.json()
    return body


async def test_the_gateway_takes_tokens_beside_keys(app: FastAPI) -> None:
    viewer = await _graph(app, token())
    assert viewer["data"]["acknowledgeAlert"]["__typename"] == "NotAllowed"
    expired = await _graph(app, token(exp=int(time.time()) - 60))
    [error] = expired["errors"]
    assert (error["message"], error["extensions"]["code"]) == ("token expired", "UNAUTHENTICATED")
    # An editor may acknowledge: the call reaches scoring (not running here).
    editor = await _graph(app, token(role="editor"))
    assert editor["errors"][0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"


async def _post(app: FastAPI, body: dict[str, Any], bearer: str) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as client:
        return await client.post(
            "/graphql", json=body, headers={"Authorization": f"Bearer {bearer}"}
        )


async def test_automatic_persisted_queries(app: FastAPI) -> None:
    import hashlib

    query = ACK
    digest = hashlib.sha256(query.encode()).hexdigest()
    hashed = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    unknown = (await _post(app, hashed, token())).json()
    assert unknown["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    wrong = await _post(app, {**hashed, "query": query + " "}, token())
    assert wrong.json()["errors"][0]["message"] == "provided sha does not match query"
    first = (await _post(app, {**hashed, "query": query}, token())).json()
    assert first["data"]["acknowledgeAlert"]["__typename"] == "NotAllowed"
    again = (await _post(app, hashed, token())).json()  # the hash alone now
    assert again == first
    bad = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "xyz"}}}
    assert "64 lowercase hex" in (await _post(app, bad, token())).json()["errors"][0]["message"]


async def test_a_slow_query_is_cut_at_the_timeout() -> None:
    import asyncio

    application = create_app(
        GatewaySettings(jwt_key=SECRET, grpc_port=0, request_timeout_seconds=0.2)
    )
    async with application.router.lifespan_context(application):

        class Slow:
            async def acknowledge_alert(self, *_: Any) -> bool:
                await asyncio.sleep(5)
                return True

        application.state.backends = Slow()
        reply = await _post(application, {"query": ACK}, token(role="editor"))
    assert reply.status_code == 504
    assert reply.json()["errors"][0] == {
        "message": "the query took longer than 0.2 s",
        "extensions": {"code": "TIMEOUT"},
    }


async def test_persisted_queries_are_shared_through_redis_in_production(redis_url: str) -> None:
    """Two gateway replicas on one Redis: a query one of them learnt, the other knows."""
    import hashlib

    apps = [
        create_app(GatewaySettings(jwt_key=SECRET, grpc_port=0, redis_url=redis_url))
        for _ in range(2)
    ]
    digest = hashlib.sha256(ACK.encode()).hexdigest()
    hashed = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    async with apps[0].router.lifespan_context(apps[0]):
        learnt = await _post(apps[0], {**hashed, "query": ACK}, token())
        assert "data" in learnt.json()
    async with apps[1].router.lifespan_context(apps[1]):
        known = (await _post(apps[1], hashed, token())).json()
    assert known["data"]["acknowledgeAlert"]["__typename"] == "NotAllowed"


class FakeKeys:
    def __init__(self, known: dict[str, Principal]) -> None:
        self.known = known
        self.checks = 0

    async def verify(self, key: str) -> Principal | None:
        self.checks += 1
        return self.known.get(key)


def _acknowledged(socket: Any, authorization: str) -> None:
    socket.send_json({"type": "connection_init", "payload": {"Authorization": authorization}})
    assert socket.receive_json() == {"type": "connection_ack"}


def test_an_open_websocket_closes_when_its_token_expires_or_its_key_is_revoked() -> None:
    settings = GatewaySettings(
        jwt_key=SECRET, grpc_port=0, jwt_leeway_seconds=0, ws_recheck_seconds=0.2
    )
    app = create_app(settings)
    with TestClient(app) as client:
        keys = FakeKeys({"rik_good": Principal("t1", "p1", frozenset({SCOPE_GRAPH_READ}))})
        app.state.authenticator.keys = keys
        protocols = ["graphql-transport-ws"]

        # A token with a second or two to live: the socket is closed when it expires.
        with client.websocket_connect("/graphql", subprotocols=protocols) as socket:
            _acknowledged(socket, f"Bearer {token(exp=int(time.time()) + 2)}")
            started = time.monotonic()
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_json()
            assert (closed.value.code, closed.value.reason) == (4403, "token expired")
            assert time.monotonic() - started < 5

        # A key is checked again while the socket stays open, and it closes once revoked.
        with client.websocket_connect("/graphql", subprotocols=protocols) as socket:
            _acknowledged(socket, "Bearer rik_good")
            deadline = time.monotonic() + 5
            while keys.checks < 4 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert keys.checks >= 4  # the first check, then rechecks that left it open
            keys.known.clear()
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_json()
            assert (closed.value.code, closed.value.reason) == (4403, "invalid or revoked key")
