"""The direct route answers every request exactly as the FastAPI route behind it would."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.requests import Request as StarletteRequest

from relint.direct_route import DirectJsonRoute, serve_directly
from relint.errors import install_error_handlers


class Item(BaseModel):
    name: str = Field(min_length=1)
    size: int


class Answer(BaseModel):
    name: str
    tag: str
    tenant: str
    note: str | None = None


async def tenant_of(request: Request) -> str:
    if request.headers.get("authorization") != "Bearer good":
        raise HTTPException(401, "unknown key")
    return "tenant-1"


router = APIRouter(prefix="/v1")


@router.post("/items", status_code=201)
async def create_item(
    request: Request,
    response: Response,
    tenant: Annotated[str, Depends(tenant_of)],
    item: Item,
    tag: Annotated[str | None, Header(alias="X-Tag", max_length=5)] = None,
) -> Answer:
    if item.name == "dup":
        response.status_code = 200
        response.headers["X-Duplicate"] = "yes"
    if item.name == "boom":
        raise HTTPException(409, "that one is taken")
    return Answer(name=item.name, tag=tag or "none", tenant=tenant)


@router.get("/items/{name}")
async def read_item(name: str, full: Annotated[bool, Query()] = False) -> Answer:
    return Answer(name=name, tag="none", tenant="t")


def route_of(endpoint: Any) -> APIRoute:
    return next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is endpoint)


class CountingRoute(DirectJsonRoute):
    served = 0

    async def _serve(self, request: StarletteRequest) -> Response:
        CountingRoute.served += 1
        return await super()._serve(request)


def build(direct: bool) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    if direct:
        app.router.routes.insert(0, CountingRoute(route_of(create_item)))
    return app


GOOD = {"Authorization": "Bearer good", "Content-Type": "application/json"}
JSON_ONLY = {"Content-Type": "application/json"}
UTF8 = {**GOOD, "Content-Type": "application/json; charset=utf-8"}
# (headers, body, served by the direct route)
CASES: list[tuple[dict[str, str], bytes, bool]] = [
    (GOOD, b'{"name": "kettle", "size": 3}', True),
    (GOOD, b'{"name": "dup", "size": 3}', True),
    (GOOD, b'{"name": "boom", "size": 3}', True),
    (GOOD, b'{"name": "kettle", "size": 3, "extra": [1, 2]}', True),
    (GOOD, b'{"name": "kettle",\n "size": }', True),
    (GOOD, b'{"name": "", "size": "three"}', True),
    (GOOD, b"null", True),
    (GOOD, b"[1, 2]", True),
    (GOOD, b'{"name": "caf\xe9", "size": 1}', True),
    (GOOD, b"[" * 100_000 + b"]" * 100_000, True),
    (JSON_ONLY, b'{"name": "kettle", "size": 3}', True),
    ({**JSON_ONLY, "Authorization": "Bearer bad"}, b'{"name": "kettle", "size": }', True),
    ({**JSON_ONLY, "Authorization": "Bearer bad"}, b'{"name": "", "size": 3}', True),
    (UTF8, b'{"name": "a", "size": 2}', True),
    ({**GOOD, "X-Tag": "red"}, b'{"name": "kettle", "size": 3}', False),
    ({**GOOD, "X-Tag": "far too long"}, b'{"name": "kettle", "size": 3}', False),
    ({**GOOD, "Content-Type": "application/merge+json"}, b'{"name": "a", "size": 1}', False),
    ({**GOOD, "Content-Type": "text/plain"}, b'{"name": "a", "size": 1}', False),
    (GOOD, b"", False),
    ({**GOOD, "Content-Encoding": "gzip"}, b'{"name": "kettle", "size": 3}', False),
]


async def answer(app: FastAPI, headers: dict[str, str], body: bytes) -> tuple[Any, ...]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        reply = await client.post("/v1/items", content=body, headers=headers)
    kept = {k: v for k, v in reply.headers.items() if k not in ("content-length",)}
    return reply.status_code, kept, reply.content


@pytest.mark.parametrize(("headers", "body", "direct"), CASES)
async def test_every_request_is_answered_as_fastapi_answers_it(
    headers: dict[str, str], body: bytes, direct: bool
) -> None:
    before = CountingRoute.served
    expected = await answer(build(direct=False), headers, body)
    assert await answer(build(direct=True), headers, body) == expected
    assert CountingRoute.served - before == int(direct)


async def test_the_answers_are_the_routes_own() -> None:
    status, headers, content = await answer(build(True), GOOD, b'{"name": "dup", "size": 3}')
    assert (status, headers["x-duplicate"]) == (200, "yes")
    assert content == b'{"name":"dup","tag":"none","tenant":"tenant-1","note":null}'
    status, _, content = await answer(build(True), GOOD, b'{"name": "k",\n "size": }')
    assert status == 400
    assert b"line 2" in content


async def test_other_methods_and_paths_reach_the_routes_behind() -> None:
    transport = httpx.ASGITransport(app=build(direct=True))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/v1/items/kettle")).json()["name"] == "kettle"
        assert (await client.put("/v1/items", json={}, headers=GOOD)).status_code == 405


def test_a_route_with_more_than_it_serves_is_refused() -> None:
    with pytest.raises(ValueError, match="more than a direct route serves"):
        DirectJsonRoute(route_of(read_item))
    with pytest.raises(ValueError, match="dependencies of its own"):
        serve_directly(FastAPI(dependencies=[Depends(tenant_of)]), route_of(create_item))
