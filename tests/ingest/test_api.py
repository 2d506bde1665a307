"""Ingest's REST API through its real FastAPI app, lifespan included, on SQLite."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from ingest import api
from ingest.schemas import EXAMPLE_INTERACTION
from ingest.service import IngestService

if TYPE_CHECKING:
    from tests.ingest.conftest import AsgiClient, RunningIngest


@pytest.fixture
async def app(tmp_path: Path, running_ingest: RunningIngest) -> AsyncIterator[FastAPI]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ingest.db'}"
    async with running_ingest(url, rate_limit_per_minute=50) as application:
        yield application


@pytest.fixture
async def client(app: FastAPI, asgi_client: AsgiClient) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as http:
        yield http


async def key(
    app: FastAPI, scopes: list[str] | None = None, tenant: str = "acme"
) -> dict[str, str]:
    service: IngestService = app.state.ingest
    issued = await service.create_tenant_key(tenant, "crm", scopes or ["ingest:write"])
    return {"Authorization": f"Bearer {issued.api_key}"}


def interaction(**changes: Any) -> dict[str, Any]:
    return {**EXAMPLE_INTERACTION, **changes}


async def test_an_interaction_needs_a_valid_key_with_the_write_scope(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    missing = await client.post("/v1/interactions", json=interaction())
    assert missing.status_code == 401
    wrong = await client.post(
        "/v1/interactions", json=interaction(), headers={"Authorization": "Bearer rik_nope"}
    )
    assert wrong.status_code == 401
    reader = await client.post(
        "/v1/interactions", json=interaction(), headers=await key(app, ["graph:read"])
    )
    assert reader.status_code == 403
    assert "ingest:write" in reader.json()["detail"]


async def test_one_interaction_is_created_then_recognised_as_a_duplicate(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await key(app)
    created = await client.post("/v1/interactions", json=interaction(), headers=headers)
    assert created.status_code == 201
    assert created.json()["status"] == "accepted"
    assert "Idempotent-Replayed" not in created.headers
    # A retry gets the original answer, marked as replayed; the time may be written in
    # another zone.
    retry = interaction(occurred_at="2026-03-04T11:15:00+02:00")
    again = await client.post("/v1/interactions", json=retry, headers=headers)
    assert again.status_code == 201
    assert again.json() == created.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    # The same source id for another interaction is refused, naming what differs; the
    # original stands.
    edited = interaction(text="Changed my mind", sentiment=0.9)
    refused = await client.post("/v1/interactions", json=edited, headers=headers)
    assert refused.status_code == 422
    [problem] = refused.json()["detail"]
    assert problem["loc"] == ["body", "source_id"]
    assert f"already used for interaction {created.json()['id']}" in problem["msg"]
    assert "differs in sentiment, text;" in problem["msg"]
    batch = await client.post(
        "/v1/interactions:batch", json={"interactions": [edited, retry, edited]}, headers=headers
    )
    results = batch.json()["results"]
    assert [r["status"] for r in results] == ["duplicate"] * 3
    assert [r["differs_in"] for r in results] == [
        ["sentiment", "text"],
        None,
        ["sentiment", "text"],
    ]
    assert {r["id"] for r in results} == {created.json()["id"]}


async def test_an_invalid_interaction_names_the_field(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await key(app)
    bad = await client.post(
        "/v1/interactions", json=interaction(channel="sales", kind="ticket_opened"), headers=headers
    )
    assert bad.status_code == 422
    assert "not a kind of channel 'sales'" in json.dumps(bad.json())
    naive = await client.post(
        "/v1/interactions", json=interaction(occurred_at="2026-01-01T10:00:00"), headers=headers
    )
    assert naive.status_code == 422
    assert naive.json()["detail"][0]["loc"] == ["body", "occurred_at"]


async def test_a_batch_answers_per_item_and_stores_the_valid_ones(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await key(app)
    items = [
        interaction(source_id="a"),
        interaction(source_id="b", occurred_at="yesterday"),
        interaction(source_id="a"),
        interaction(source_id="c", amount="5", amount_type=None),
        interaction(source_id="d", channel="finance", kind="refund", amount_type="refund"),
    ]
    answer = await client.post(
        "/v1/interactions:batch", json={"interactions": items}, headers=headers
    )
    assert answer.status_code == 200
    body = answer.json()
    assert [r["status"] for r in body["results"]] == [
        "accepted",
        "rejected",
        "duplicate",
        "rejected",
        "accepted",
    ]
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 2)
    assert body["results"][1]["errors"][0]["path"] == "interactions[1].occurred_at"
    assert "together" in body["results"][3]["errors"][0]["message"]
    assert body["results"][2]["id"] == body["results"][0]["id"]
    # Each stored item, and the repeat of one, names the customer it was recorded for (all
    # five name the same one); the rejected ones none.
    named = [r["customer_id"] for r in body["results"]]
    assert named[0]
    assert named[0] == named[2] == named[4]
    assert named[1] is None
    assert named[3] is None


async def test_a_batchs_counts_include_items_the_service_refuses(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """An item can be valid in shape and still be refused when it is stored (a customer id
    we do not know): the batch's `rejected` counts it with the ones refused on their shape."""
    headers = await key(app)
    items = [
        interaction(source_id="known"),
        interaction(source_id="shape", occurred_at="yesterday"),
        interaction(source_id="unknown", customer={"id": "no-such-customer"}),
    ]
    answer = await client.post(
        "/v1/interactions:batch", json={"interactions": items}, headers=headers
    )
    body = answer.json()
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "rejected"]
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (1, 0, 2)
    assert body["results"][2]["errors"][0]["path"] == "interactions[2].customer.id"


async def test_size_limits_are_enforced_with_413(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = await key(app)
    too_big = interaction(text="x" * 9_000, attributes={f"k{i}": "y" * 900 for i in range(40)})
    single = await client.post("/v1/interactions", json=too_big, headers=headers)
    assert single.status_code == 413
    in_batch = await client.post(
        "/v1/interactions:batch", json={"interactions": [too_big, interaction()]}, headers=headers
    )
    assert in_batch.status_code == 200
    assert [r["status"] for r in in_batch.json()["results"]] == ["rejected", "accepted"]
    huge = {"interactions": [interaction(source_id=str(i), text="z" * 9000) for i in range(60)]}
    assert (
        await client.post("/v1/interactions:batch", json=huge, headers=headers)
    ).status_code == 413
    many = {"interactions": [interaction(source_id=str(i)) for i in range(1001)]}
    over = await client.post("/v1/interactions:batch", json=many, headers=headers)
    assert over.status_code == 422  # within 512 KB, one item too many
    assert "at most 1000 items" in over.text


async def test_sizes_are_counted_on_the_stream_not_taken_from_content_length(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A chunked body (no Content-Length) over the limit is refused with 413 as it streams
    in, and nothing is stored."""
    headers = {**await key(app), "Content-Type": "application/json"}
    batch = json.dumps({"interactions": [interaction(text="z" * 9000)] * 60}).encode()
    single = json.dumps(interaction(text="x" * 9_000, attributes={"a": "y" * 30_000})).encode()

    async def chunks(body: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(body), 16 * 1024):
            yield body[start : start + 16 * 1024]

    refused = await client.post("/v1/interactions:batch", content=chunks(batch), headers=headers)
    assert refused.status_code == 413, refused.text
    assert "content-length" not in refused.request.headers
    refused = await client.post("/v1/interactions", content=chunks(single), headers=headers)
    assert refused.status_code == 413, refused.text
    service: IngestService = app.state.ingest
    async with service.db.read() as session:
        assert (await session.execute(text("SELECT count(*) FROM interaction"))).scalar() == 0


async def test_a_compressed_body_is_refused_with_415_naming_the_encoding(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Only the Segment routes take gzip; here a compressed body is a 415 that says to send it
    uncompressed, not a 400 "error parsing the body", and nothing is stored."""
    headers = {**await key(app), "Content-Type": "application/json"}
    single = json.dumps(interaction()).encode()
    batch = json.dumps({"interactions": [interaction()]}).encode()
    for path, body in (("/v1/interactions", single), ("/v1/interactions:batch", batch)):
        for encoding in ("gzip", "br", "identity, gzip", "GZIP"):
            refused = await client.post(
                path, content=gzip.compress(body), headers={**headers, "Content-Encoding": encoding}
            )
            assert refused.status_code == 415, (path, encoding, refused.text)
            assert encoding.split(", ")[-1] in refused.json()["detail"]
            assert "uncompressed" in refused.json()["detail"]
    service: IngestService = app.state.ingest
    async with service.db.read() as session:
        assert (await session.execute(text("SELECT count(*) FROM interaction"))).scalar() == 0

    identity = {**headers, "Content-Encoding": "identity"}
    assert (
        await client.post("/v1/interactions", content=single, headers=identity)
    ).status_code == 201
    stored = await client.post("/v1/interactions:batch", content=batch, headers=identity)
    assert stored.status_code == 200, stored.text
    assert stored.json()["duplicates"] == 1


async def test_sizes_are_counted_on_the_stream_with_a_content_encoding_too(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A request naming an encoding is served by the FastAPI route, not the direct one in
    front of it: its body is counted on the stream all the same."""
    headers = {**await key(app), "Content-Type": "application/json"}
    single = json.dumps(interaction(text="x" * 9_000, attributes={"a": "y" * 30_000})).encode()

    async def chunks(body: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(body), 16 * 1024):
            yield body[start : start + 16 * 1024]

    for encoding in ("identity", "gzip"):
        refused = await client.post(
            "/v1/interactions",
            content=chunks(single),
            headers={**headers, "Content-Encoding": encoding},
        )
        assert "content-length" not in refused.request.headers
        # Over the limit as sent: 413; compressed: 415 before the body is read at all.
        assert refused.status_code == (413 if encoding == "identity" else 415), refused.text
    big = gzip.compress(single) + b"\0" * api.MAX_ITEM_BYTES  # declared too large: 413 first
    over = await client.post(
        "/v1/interactions", content=big, headers={**headers, "Content-Encoding": "gzip"}
    )
    assert over.status_code == 413


async def test_the_rate_limit_answers_429_with_retry_after(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await key(app)
    batch = {"interactions": [interaction(source_id=str(i)) for i in range(50)]}
    assert (
        await client.post("/v1/interactions:batch", json=batch, headers=headers)
    ).status_code == 200
    limited = await client.post(
        "/v1/interactions", json=interaction(source_id="x"), headers=headers
    )
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert "for this key" in limited.json()["detail"]
    # Limits are per key: another key, even of the same partner, has its own budget.
    other = await key(app)
    again = await client.post("/v1/interactions", json=interaction(source_id="y"), headers=other)
    assert again.status_code == 201


async def test_the_rate_limit_is_shared_through_redis_by_every_replica(
    tmp_path: Path, running_ingest: RunningIngest, asgi_client: AsgiClient, redis_url: str
) -> None:
    """Two ingest processes on the same Redis: a key's budget is one, whichever replica a
    request reaches; over it, 429 with Retry-After."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'ingest.db'}"
    settings = {"rate_limit_per_minute": 30, "redis_url": redis_url}
    async with (
        running_ingest(url, **settings) as first,
        running_ingest(url, **settings) as second,
        asgi_client(first) as one,
        asgi_client(second) as other,
    ):
        headers = await key(first)
        batch = {"interactions": [interaction(source_id=str(i)) for i in range(20)]}
        assert (await one.post("/v1/interactions:batch", json=batch, headers=headers)).is_success
        more = {"interactions": [interaction(source_id=f"m{i}") for i in range(20)]}
        limited = await other.post("/v1/interactions:batch", json=more, headers=headers)
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1


async def test_operations_endpoints(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok"}
    metrics = await client.get("/metrics")
    assert "relint_http_requests_total" in metrics.text
    schema = (await client.get("/openapi.json")).json()
    assert "/v1/interactions:batch" in schema["paths"]
    assert schema["components"]["schemas"]["InteractionIn"]["examples"]
