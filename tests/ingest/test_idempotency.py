"""Idempotency: any number of retries of any subset stores each interaction once, with one
outbox entry per subscriber, and every retry gets the original id — on SQLite and PostgreSQL.
Also the Idempotency-Key header, for senders without ids of their own."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ingest.main import MIGRATIONS
from ingest.models import Interaction, OutboxEntry
from ingest.schemas import EXAMPLE_INTERACTION, InteractionIn
from ingest.service import IngestService
from relint.db import Database, migrate

if TYPE_CHECKING:
    from tests.ingest.conftest import AsgiClient, RunningIngest

SUBSCRIBERS = ["scoring", "playbook"]
_runs = itertools.count()


def _item(run: int, n: int) -> InteractionIn:
    return InteractionIn.model_validate(
        {**EXAMPLE_INTERACTION, "source_id": f"run{run}-item{n}", "source": f"src{n % 3}"}
    )


@pytest.fixture
def migrated_url(database_url_factory: Callable[[str], str]) -> str:
    url = database_url_factory("ingest")
    migrate(MIGRATIONS, url)
    return url


@given(
    size=st.integers(1, 8),
    retries=st.lists(st.lists(st.integers(0, 7), max_size=10), min_size=1, max_size=6),
    concurrent=st.booleans(),
)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_retries_of_any_subset_store_each_item_once(
    migrated_url: str, size: int, retries: list[list[int]], concurrent: bool
) -> None:
    run = next(_runs)
    items = [_item(run, n) for n in range(size)]

    async def scenario() -> None:
        db = Database(migrated_url)
        service = IngestService(db, key_pepper="p", subscribers=SUBSCRIBERS)
        try:
            tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
            first = await service.record(tenant, list(enumerate(items)))
            assert {r.status for r in first} == {"accepted"}
            original = {r.index: r.id for r in first}
            sends = [[(i, items[i]) for i in subset if i < size] for subset in retries]
            if concurrent:
                answers = await asyncio.gather(*(service.record(tenant, s) for s in sends))
            else:
                answers = [await service.record(tenant, s) for s in sends]
            for answer in answers:
                for result in answer:
                    assert result.status == "duplicate"
                    assert result.id == original[result.index]
            async with db.read() as session:
                ids = set(original.values())
                stored = await session.scalar(
                    select(func.count()).select_from(Interaction).where(Interaction.id.in_(ids))
                )
                outbox = await session.scalar(
                    select(func.count())
                    .select_from(OutboxEntry)
                    .where(OutboxEntry.interaction_id.in_(ids))
                )
            assert stored == size
            assert outbox == size * len(SUBSCRIBERS)
        finally:
            await db.dispose()

    asyncio.run(scenario())


@pytest.fixture
async def client(
    tmp_path: Path, running_ingest: RunningIngest, asgi_client: AsgiClient
) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        running_ingest(f"sqlite+aiosqlite:///{tmp_path / 'ingest.db'}") as app,
        asgi_client(app, tenant="acme") as http,
    ):
        yield http


def _without_source_id() -> dict[str, Any]:
    return {k: v for k, v in EXAMPLE_INTERACTION.items() if k != "source_id"}


async def test_an_idempotency_key_makes_a_retry_the_original(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "req-7f3a"}
    first = await client.post("/v1/interactions", json=_without_source_id(), headers=headers)
    again = await client.post("/v1/interactions", json=_without_source_id(), headers=headers)
    other = await client.post(
        "/v1/interactions", json=_without_source_id(), headers={"Idempotency-Key": "req-other"}
    )
    assert (first.status_code, again.status_code, other.status_code) == (201, 201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.json()["id"] != first.json()["id"]
    # The key again with another interaction: refused, the original kept.
    changed = {**_without_source_id(), "kind": "ticket_resolved"}
    reused = await client.post("/v1/interactions", json=changed, headers=headers)
    assert reused.status_code == 422
    [problem] = reused.json()["detail"]
    assert problem["msg"].startswith("'req-7f3a' of source 'helpdesk' was already used for")
    assert "differs in kind;" in problem["msg"]


async def test_without_any_id_every_post_is_new(client: httpx.AsyncClient) -> None:
    first = await client.post("/v1/interactions", json=_without_source_id())
    again = await client.post("/v1/interactions", json=_without_source_id())
    assert (first.status_code, again.status_code) == (201, 201)


async def test_an_idempotency_key_that_contradicts_the_source_id_is_refused(
    client: httpx.AsyncClient,
) -> None:
    reply = await client.post(
        "/v1/interactions", json=EXAMPLE_INTERACTION, headers={"Idempotency-Key": "different"}
    )
    assert reply.status_code == 422
    assert "disagree" in reply.json()["detail"]


async def test_a_batch_retried_with_its_key_is_stored_once(client: httpx.AsyncClient) -> None:
    batch = {"interactions": [_without_source_id(), _without_source_id(), EXAMPLE_INTERACTION]}
    headers = {"Idempotency-Key": "import-2026-11-23"}
    first = (await client.post("/v1/interactions:batch", json=batch, headers=headers)).json()
    again = (await client.post("/v1/interactions:batch", json=batch, headers=headers)).json()
    assert (first["accepted"], again["duplicates"]) == (3, 3)
    assert [r["id"] for r in again["results"]] == [r["id"] for r in first["results"]]
