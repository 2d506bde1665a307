"""Playbook's REST API through its real FastAPI app, lifespan included, on SQLite, with
API keys answered by a fake verifier instead of ingest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from playbook.domain import DEFAULT_PLAYBOOK, draft_to_dict
from playbook.main import MIGRATIONS, create_app
from playbook.settings import PlaybookSettings
from relint.auth import SCOPE_ADMIN, SCOPE_GRAPH_READ, Principal
from relint.db import migrate

KEYS = {
    "reader": Principal("acme", "crm", frozenset({SCOPE_GRAPH_READ})),
    "admin": Principal("acme", "console", frozenset({SCOPE_ADMIN})),
    "other-admin": Principal("globex", "console", frozenset({SCOPE_ADMIN})),
}
READER = {"Authorization": "Bearer reader"}
ADMIN = {"Authorization": "Bearer admin"}


class FakeKeyVerifier:
    async def verify(self, key: str) -> Principal | None:
        return KEYS.get(key)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'playbook.db'}"
    await asyncio.to_thread(migrate, MIGRATIONS, url)
    app: FastAPI = create_app(PlaybookSettings(database_url=url, grpc_port=0))
    async with app.router.lifespan_context(app):
        app.state.key_verifier = FakeKeyVerifier()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://playbook") as http:
            yield http


def draft(name: str = "Ours") -> dict[str, Any]:
    return {**draft_to_dict(DEFAULT_PLAYBOOK), "name": name}


async def test_keys_and_scopes_are_required(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/playbook")).status_code == 401
    unknown = await client.get("/v1/playbook", headers={"Authorization": "Bearer nope"})
    assert unknown.status_code == 401
    forbidden = await client.put("/v1/playbook", json=draft(), headers=READER)
    assert forbidden.status_code == 403
    assert "admin" in forbidden.json()["detail"]


async def test_the_default_playbook_is_active_until_one_is_published(
    client: httpx.AsyncClient,
) -> None:
    default = await client.get("/v1/playbook", headers=READER)
    assert default.status_code == 200
    body = default.json()
    assert (body["version"], body["name"], body["created_at"]) == (0, DEFAULT_PLAYBOOK.name, None)
    assert body["standards"][1]["rule"] == {
        "kind": "respond_within",
        "trigger": {"channel": "service", "kind": "ticket_opened"},
        "within_hours": 4,
    }

    published = await client.put("/v1/playbook", json=draft(), headers=ADMIN)
    assert published.status_code == 201, published.text
    assert published.json()["version"] == 1
    assert published.headers["Location"] == "/v1/playbook/versions/1"
    active = (await client.get("/v1/playbook", headers=READER)).json()
    assert (active["version"], active["name"], active["id"]) == (1, "Ours", published.json()["id"])
    assert active["created_at"] is not None
    assert active["standards"] == body["standards"]


async def test_versions_are_listed_and_readable_per_tenant(client: httpx.AsyncClient) -> None:
    await client.put("/v1/playbook", json=draft("First"), headers=ADMIN)
    await client.put("/v1/playbook", json=draft("Second"), headers=ADMIN)
    other = {"Authorization": "Bearer other-admin"}
    await client.put("/v1/playbook", json=draft("Globex"), headers=other)
    listed = (await client.get("/v1/playbook/versions", headers=READER)).json()["versions"]
    assert [(v["version"], v["name"]) for v in listed] == [
        (0, DEFAULT_PLAYBOOK.name),
        (1, "First"),
        (2, "Second"),
    ]
    assert listed[1]["standard_count"] == len(DEFAULT_PLAYBOOK.standards)
    first = await client.get("/v1/playbook/versions/1", headers=READER)
    assert first.json()["name"] == "First"
    assert (await client.get("/v1/playbook/versions/3", headers=READER)).status_code == 404
    assert (await client.get("/v1/playbook/versions/-1", headers=READER)).status_code == 422
    theirs = (await client.get("/v1/playbook", headers=other)).json()
    assert (theirs["version"], theirs["name"]) == (1, "Globex")


async def test_a_draft_with_problems_is_refused_with_their_paths(
    client: httpx.AsyncClient,
) -> None:
    invalid = draft()
    invalid["standards"][2]["rule"]["every_days"] = 0
    invalid["standards"][3]["relationship_types"] = ["frenemy"]
    refused = await client.put("/v1/playbook", json=invalid, headers=ADMIN)
    assert refused.status_code == 422
    assert refused.json()["detail"] == [
        {"path": "standards[2].rule.every_days", "reason": "must be positive"},
        {
            "path": "standards[3].relationship_types[0]",
            "reason": "unknown relationship type 'frenemy'; "
            "known: acquaintance, fair_weather_friend, bff, partner",
        },
    ]

    misshapen = draft()
    misshapen["standards"][0]["rule"] = {"kind": "vibes"}
    refused = await client.put("/v1/playbook", json=misshapen, headers=ADMIN)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["path"] == "standards[0].rule.kind"
    assert set(refused.json()["detail"][0]) == {"path", "reason"}

    listed = (await client.get("/v1/playbook/versions", headers=READER)).json()["versions"]
    assert [v["version"] for v in listed] == [0]


async def test_an_oversized_draft_is_refused(client: httpx.AsyncClient) -> None:
    huge = draft()
    huge["standards"][0]["description"] = "x" * (1024 * 1024)
    assert (await client.put("/v1/playbook", json=huge, headers=ADMIN)).status_code == 413


async def test_every_route_is_documented(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    routes = [
        ("/v1/playbook", "get"),
        ("/v1/playbook", "put"),
        ("/v1/playbook/versions", "get"),
        ("/v1/playbook/versions/{version}", "get"),
    ]
    for path, method in routes:
        assert paths[path][method]["summary"], (path, method)
    problems = paths["/v1/playbook"]["put"]["responses"]["422"]
    assert problems["content"]["application/json"]["schema"]["$ref"].endswith("ProblemsOut")
