"""Playbook's gRPC server, in process on a free port, through real channels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from fastapi import FastAPI
from grpc_health.v1 import health_pb2, health_pb2_grpc

from playbook.domain import DEFAULT_PLAYBOOK
from playbook.main import MIGRATIONS, create_app
from playbook.service import PlaybookService
from playbook.settings import PlaybookSettings
from relint.contracts.playbook.v1 import playbook_pb2, playbook_pb2_grpc
from relint.db import migrate


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'playbook.db'}"
    await asyncio.to_thread(migrate, MIGRATIONS, url)
    application = create_app(PlaybookSettings(database_url=url, grpc_port=0))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def stub(app: FastAPI) -> AsyncIterator[playbook_pb2_grpc.PlaybookServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.state.grpc_port}") as channel:
        yield playbook_pb2_grpc.PlaybookServiceStub(channel)


async def test_active_playbooks_of_many_tenants_in_one_call(
    app: FastAPI, stub: playbook_pb2_grpc.PlaybookServiceStub
) -> None:
    service: PlaybookService = app.state.playbook
    published = await service.publish("t1", DEFAULT_PLAYBOOK)
    reply = await stub.BatchGetActivePlaybooks(
        playbook_pb2.BatchGetActivePlaybooksRequest(tenant_ids=["t1", "t2"]), timeout=5
    )
    mine, theirs = reply.playbooks
    assert (mine.tenant_id, mine.id, mine.version) == ("t1", published.id, 1)
    assert mine.HasField("created_at")
    assert (theirs.tenant_id, theirs.version, theirs.HasField("created_at")) == ("t2", 0, False)
    assert theirs.name == DEFAULT_PLAYBOOK.name
    first = theirs.standards[1]
    assert (first.key, first.team, first.rule) == ("first-response", "service", "respond_within")
    assert list(first.relationship_types) == ["bff", "partner"]
    assert first.description == DEFAULT_PLAYBOOK.standards[1].description
    assert [s.rule for s in theirs.standards] == [s.rule.kind for s in DEFAULT_PLAYBOOK.standards]


@pytest.mark.parametrize(
    ("tenant_ids", "reason"),
    [([], "required"), ([f"t{n}" for n in range(1001)], "at most 1000"), (["t1", ""], "[1]")],
)
async def test_malformed_requests_are_refused(
    stub: playbook_pb2_grpc.PlaybookServiceStub, tenant_ids: list[str], reason: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.BatchGetActivePlaybooks(
            playbook_pb2.BatchGetActivePlaybooksRequest(tenant_ids=tenant_ids), timeout=5
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason in (refused.value.details() or "")


async def test_health_is_serving_for_the_service(app: FastAPI) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.state.grpc_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", "playbook.v1.PlaybookService"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
