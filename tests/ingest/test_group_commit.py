"""Group commit: concurrent single writes share transactions, each keeps its own answer, and
a failed write fails exactly its requests; concurrent writers that collide are judged again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ingest.main import MIGRATIONS
from ingest.models import Customer, Interaction
from ingest.repository import IngestRepository
from ingest.service import IngestService
from relint.db import Database
from relint.errors import WriteContention
from tests.ingest.test_service import item


@pytest.fixture
async def service(database_factory: Callable[[Path, str], Awaitable[Database]]) -> IngestService:
    db = await database_factory(MIGRATIONS, "ingest")
    return IngestService(db, key_pepper="test", subscribers=["scoring"])


def counting(service: IngestService) -> list[int]:
    """Wraps service.store to count transactions and their sizes."""
    sizes: list[int] = []
    store = service.store

    async def counted(tenant_id: str, items: Any, *args: Any, **options: Any) -> Any:
        sizes.append(len(items))
        return await store(tenant_id, items, *args, **options)

    service.store = counted  # type: ignore[method-assign]
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
    store = service.store

    async def broken(*args: Any, **options: Any) -> Any:
        raise ConnectionError("database went away")

    service.store = broken  # type: ignore[method-assign]
    outcomes = await asyncio.gather(
        *(service.record_one(tenant, item("c1", n, f"f-{n}")) for n in range(5)),
        return_exceptions=True,
    )
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    service.store = store  # type: ignore[method-assign]
    assert (await service.record_one(tenant, item("c1", 9, "f-9"))).status == "accepted"
    async with service.db.read() as session:
        stored = (await session.execute(select(func.count()).select_from(Interaction))).scalar()
    assert stored == 1


async def test_many_writers_meeting_new_customers_at_once_store_each_once(
    service: IngestService,
) -> None:
    """Concurrent writes (as other replicas' or groups' are) naming the same customers for
    the first time collide on the customer's unique key; the losers are judged again and
    every item is stored once."""
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    batches = [
        [(k, item(f"new-{k % 5}", n * 10 + k, f"w{n}-{k}")) for k in range(10)] for n in range(8)
    ]
    results = await asyncio.gather(*(service.store(tenant, batch) for batch in batches))
    assert all(r.status == "accepted" for batch in results for r in batch)
    async with service.db.read() as session:
        stored = (await session.execute(select(func.count()).select_from(Interaction))).scalar()
        customers = (
            await session.execute(select(Customer.external_id, Customer.interaction_count))
        ).all()
    assert stored == 80
    assert sorted(customers) == [(f"new-{k}", 16) for k in range(5)]


async def test_concurrent_writers_on_the_same_customers_in_any_order_all_succeed(
    service: IngestService,
) -> None:
    """Each writer inserts its interactions (which key-share-lock their customers), then
    updates the customers' activity, locking them in id order: batches that name the same
    known customers in different orders wait for each other, and none deadlocks."""
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    names = [f"known-{k}" for k in range(6)]
    await service.record(tenant, [(k, item(name, k, f"first-{k}")) for k, name in enumerate(names)])
    batches = [
        [(k, item(name, 100 + n * 10 + k, f"b{n}-{k}")) for k, name in enumerate(order)]
        for n, order in enumerate(
            names[n % 6 :] + names[: n % 6] if n % 2 else list(reversed(names)) for n in range(12)
        )
    ]
    results = await asyncio.gather(*(service.store(tenant, batch) for batch in batches))
    assert all(r.status == "accepted" for batch in results for r in batch)
    async with service.db.read() as session:
        counts = (
            await session.execute(select(Customer.external_id, Customer.interaction_count))
        ).all()
    assert sorted(counts) == [(name, 13) for name in names]


async def test_batches_sent_together_naming_the_same_new_customers_are_each_judged_once(
    service: IngestService,
) -> None:
    """`record` stores a tenant's batches one at a time in this process: each sees what the
    one before it wrote, so none collides and none is judged again."""
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    judged = 0
    judge = IngestService._record

    async def counted(self: IngestService, *args: Any) -> Any:
        nonlocal judged
        judged += 1
        return await judge(self, *args)

    batches = [
        [(k, item(f"new-{k % 5}", n * 10 + k, f"w{n}-{k}")) for k in range(10)] for n in range(8)
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(IngestService, "_record", counted)
        results = await asyncio.gather(*(service.record(tenant, batch) for batch in batches))
    assert judged == len(batches)
    assert [r.status for batch in results for r in batch] == ["accepted"] * 80
    # The first batch created the five customers; the others found them.
    assert {r.customer_id for batch in results for r in batch} == {
        r.customer_id for r in results[0]
    }
    async with service.db.read() as session:
        customers = (
            await session.execute(select(Customer.external_id, Customer.interaction_count))
        ).all()
    assert sorted(customers) == [(f"new-{k}", 16) for k in range(5)]
    assert service._storing == {}  # no tenant's turn is kept once nobody waits for it


async def test_collisions_through_every_retry_refuse_the_write_whole_with_retry(
    service: IngestService, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    attempts: list[int] = []

    async def collide(self: IngestRepository, rows: Any) -> None:
        attempts.append(len(rows))
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    monkeypatch.setattr(IngestRepository, "insert_interactions", collide)
    with pytest.raises(WriteContention):
        await service.record(tenant, [(0, item("c1", 0, "x-0"))])
    assert len(attempts) == 5
    monkeypatch.undo()
    async with service.db.read() as session:
        stored = (await session.execute(select(func.count()).select_from(Customer))).scalar()
    assert stored == 0  # the customer the item named was rolled back with it
