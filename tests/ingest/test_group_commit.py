"""Group commit: concurrent single writes share transactions, each keeps its own answer, and
a failed write fails exactly its requests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ingest.main import MIGRATIONS
from ingest.models import Interaction
from ingest.service import IngestService
from relint.db import Database
from tests.ingest.test_service import item


@pytest.fixture
async def service(database_factory: Callable[[Path, str], Awaitable[Database]]) -> IngestService:
    db = await database_factory(MIGRATIONS, "ingest")
    return IngestService(db, key_pepper="test", subscribers=["scoring"])


def counting(service: IngestService) -> list[int]:
    """Wraps service.record to count transactions and their sizes."""
    sizes: list[int] = []
    record = service.record

    async def counted(tenant_id: str, items: Any, *args: Any) -> Any:
        sizes.append(len(items))
        return await record(tenant_id, items, *args)

    service.record = counted  # type: ignore[method-assign]
    return sizes


async def test_concurrent_single_writes_share_transactions(service: IngestService) -> None:
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    sizes = counting(service)
    results = await asyncio.gather(
        *(service.record_one(tenant, item(f"c{n % 7}", n, f"s-{n}")) for n in range(60)),
        service.record_one(tenant, item("c1", 0, "s-0")),  # a concurrent retry of s-0
    )
    assert [r.index for r in results] == [0] * 61
    assert sum(r.status == "accepted" for r in results) == 60
    assert results[-1].status == "duplicate"
    assert results[-1].id == results[0].id
    assert len({r.id for r in results}) == 60
    assert sum(sizes) == 61
    assert len(sizes) < 61  # some requests went together
    async with service.db.read() as session:
        stored = (await session.execute(select(func.count()).select_from(Interaction))).scalar()
    assert stored == 60


async def test_a_failed_write_fails_its_requests_and_the_next_one_works(
    service: IngestService,
) -> None:
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    record = service.record

    async def broken(*args: Any) -> Any:
        raise ConnectionError("database went away")

    service.record = broken  # type: ignore[method-assign]
    outcomes = await asyncio.gather(
        *(service.record_one(tenant, item("c1", n, f"f-{n}")) for n in range(5)),
        return_exceptions=True,
    )
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    service.record = record  # type: ignore[method-assign]
    assert (await service.record_one(tenant, item("c1", 9, "f-9"))).status == "accepted"
    async with service.db.read() as session:
        stored = (await session.execute(select(func.count()).select_from(Interaction))).scalar()
    assert stored == 1
