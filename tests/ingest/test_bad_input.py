"""Bad input and bad moments: a precise 4xx naming what is wrong, a 503 with Retry-After
when the database is away, and never a 500 or a half-written request."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from ingest.repository import IngestRepository
from ingest.schemas import EXAMPLE_INTERACTION
from ingest.service import IngestService
from tests.conftest import POSTGRES_ADMIN

if TYPE_CHECKING:
    from tests.ingest.conftest import AsgiClient, RunningIngest

BATCH = "/v1/interactions:batch"


@pytest.fixture
async def app(
    database_url_factory: Callable[[str], str], running_ingest: RunningIngest
) -> AsyncIterator[FastAPI]:
    url = database_url_factory("ingest")
    async with running_ingest(url) as application:
        application.state.database_url = url
        yield application


@pytest.fixture
async def client(app: FastAPI, asgi_client: AsgiClient) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app, tenant="acme") as http:
        yield http


async def _stored(app: FastAPI) -> tuple[int, int]:
    service: IngestService = app.state.ingest
    async with service.db.read() as session:
        interactions = (await session.execute(text("SELECT count(*) FROM interaction"))).scalar()
        outbox = (await session.execute(text("SELECT count(*) FROM outbox_entry"))).scalar()
    return int(interactions or 0), int(outbox or 0)


async def test_malformed_json_is_a_400_naming_the_position(client: httpx.AsyncClient) -> None:
    body = b'{"customer": {"external_id": "c1"},\n "channel": }'
    reply = await client.post(
        "/v1/interactions", content=body, headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 400
    assert reply.json()["detail"].startswith("malformed JSON at line 2, column 13")


async def test_a_body_that_is_not_json_is_a_415(client: httpx.AsyncClient) -> None:
    payload = json.dumps(EXAMPLE_INTERACTION)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": content_type} if content_type else {}
        reply = await client.post(BATCH, content=payload, headers=headers)
        assert reply.status_code == 415, content_type
        assert "application/json" in reply.json()["detail"]


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"occurred_at": "1969-12-31T23:59:59Z"}, "occurred_at", "before 1970"),
        (
            {"occurred_at": (datetime.now(UTC) + timedelta(days=2)).isoformat()},
            "occurred_at",
            "more than a day in the future",
        ),
        ({"occurred_at": "2026-01-01T10:00:00"}, "occurred_at", "timezone"),
        ({"channel": "sales", "kind": "ticket_opened"}, "kind", "not a kind of channel 'sales'"),
        ({"channel": "telepathy"}, "channel", "Input should be"),
        ({"sentiment": 3}, "sentiment", "less than or equal to 1"),
        ({"customer": None, "contact": None}, "customer", "name the customer"),
        ({"customer": {"name": "x"}}, "customer", "name the customer by id"),
        ({"contact": {"name": "Ana"}}, "contact", "name the contact by email"),
        ({"unknown_field": 1}, "unknown_field", "Extra inputs"),
    ],
)
async def test_each_bad_field_is_named(
    client: httpx.AsyncClient, changes: dict[str, object], field: str, reason: str
) -> None:
    single = await client.post("/v1/interactions", json={**EXAMPLE_INTERACTION, **changes})
    assert single.status_code == 422
    problem = single.json()["detail"][0]
    assert problem["loc"][:2] == ["body", field]
    assert reason in problem["msg"]
    batch = await client.post(BATCH, json={"interactions": [{**EXAMPLE_INTERACTION, **changes}]})
    assert batch.status_code == 200
    [item] = batch.json()["results"]
    assert item["status"] == "rejected"
    assert item["errors"][0]["path"].startswith(f"interactions[0].{field}")


async def test_values_no_store_can_hold_are_named_and_the_rest_is_stored(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Text with the NUL character or a lone surrogate, numbers that are not finite or not
    exact as doubles, attributes nested too deep, items that are not objects: each item is
    refused naming where (on PostgreSQL the first four were a 500 for the whole request),
    and the good item beside them is stored."""
    deep: dict[str, object] = {"leaf": 1}
    for _ in range(8):
        deep = {"inner": deep}
    cases: list[tuple[dict[str, object], str, str]] = [
        ({"text": "a\x00b"}, "text", "NUL character"),
        ({"customer": {"external_id": "c\x00"}}, "customer.external_id", "NUL character"),
        ({"contact": {"email": "a\x00@b.example"}}, "contact.email", "NUL character"),
        ({"attributes": {"note": "x\x00"}}, "attributes", "note: must not contain the NUL"),
        ({"attributes": {"ratio": float("nan")}}, "attributes", "ratio: must be a finite"),
        ({"attributes": {"lot": [1, float("inf")]}}, "attributes", "lot[1]: must be a finite"),
        ({"attributes": {"id": 2**64}}, "attributes", "id: integers beyond"),
        ({"attributes": {"s": "\ud800"}}, "attributes", "s: must be valid Unicode"),
        ({"text": "\ud800"}, "text", "unicode"),
        ({"attributes": deep}, "attributes", "nested deeper than 8 levels"),
    ]
    items: list[object] = [
        {**EXAMPLE_INTERACTION, **changes, "source_id": f"bad-{n}"}
        for n, (changes, _, _) in enumerate(cases)
    ]
    items += [None, "an interaction", {**EXAMPLE_INTERACTION, "source_id": "good"}]
    reply = await client.post(
        BATCH,
        content=json.dumps({"interactions": items}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    for n, (_, field, reason) in enumerate(cases):
        assert results[n]["status"] == "rejected", (n, results[n])
        [problem] = results[n]["errors"]
        assert problem["path"] == f"interactions[{n}].{field}", problem
        assert reason in problem["message"], problem
    for n in (len(cases), len(cases) + 1):
        assert results[n]["errors"] == [
            {"path": f"interactions[{n}]", "message": "must be a JSON object (an interaction)"}
        ]
    assert results[-1]["status"] == "accepted"
    single = await client.post(
        "/v1/interactions",
        content=json.dumps({**EXAMPLE_INTERACTION, "employee": "e\x00"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert single.status_code == 422
    assert single.json()["detail"][0]["loc"] == ["body", "employee"]
    assert await _stored(app) == (1, 1)


@pytest.mark.parametrize("database_url_factory", ["postgres"], indirect=True)
async def test_a_value_the_database_refuses_is_a_422_not_a_500(
    app: FastAPI, asgi_client: AsgiClient
) -> None:
    """The last line behind the checks at the edge: a value PostgreSQL refuses (here a
    tenant's new name, which no check looks into for the NUL character) is a 422 saying
    so, with nothing written."""
    async with asgi_client(app, tenant="acme", scopes=("admin",)) as admin:
        reply = await admin.patch("/v1/admin/tenant", json={"name": "acme\x00"})
        assert reply.status_code == 422
        assert reply.json()["detail"].startswith("a value cannot be stored: ")
        assert (await admin.get("/v1/admin/tenant")).json()["name"] == "acme"


async def test_a_day_ahead_is_still_accepted(client: httpx.AsyncClient) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=23)).isoformat()
    reply = await client.post("/v1/interactions", json={**EXAMPLE_INTERACTION, "occurred_at": soon})
    assert reply.status_code == 201


async def test_rejected_items_write_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    bad = {**EXAMPLE_INTERACTION, "kind": "nope"}
    await client.post("/v1/interactions", json=bad)
    await client.post(BATCH, json={"interactions": [bad, bad]})
    await client.post(
        "/v1/interactions", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert await _stored(app) == (0, 0)


async def test_writes_that_keep_colliding_are_a_503_with_retry_after(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def collide(*args: object) -> None:
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    monkeypatch.setattr(IngestRepository, "insert_interactions", collide)
    reply = await client.post("/v1/interactions", json=EXAMPLE_INTERACTION)
    assert reply.status_code == 503
    assert reply.headers["Retry-After"] == "5"
    assert "nothing was written" in reply.json()["detail"]
    assert await _stored(app) == (0, 0)


@pytest.mark.parametrize("database_url_factory", ["postgres"], indirect=True)
async def test_a_database_outage_is_a_503_with_retry_after_and_writes_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    name = app.state.database_url.rsplit("/", 1)[1]
    stored = await client.post("/v1/interactions", json=EXAMPLE_INTERACTION)
    assert stored.status_code == 201
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        try:
            batch = [{**EXAMPLE_INTERACTION, "source_id": f"during-{n}"} for n in range(5)]
            # The first meets a pooled connection that was cut, the next cannot connect.
            for _ in range(2):
                reply = await client.post(BATCH, json={"interactions": batch})
                assert reply.status_code == 503
                assert reply.headers["Retry-After"] == "5"
                assert "nothing was written" in reply.json()["detail"]
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert await _stored(app) == (1, 1)
    again = await client.post(BATCH, json={"interactions": batch})
    assert again.json()["accepted"] == 5
