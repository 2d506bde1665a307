"""Ingest's use cases against real SQLite and real PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ingest.main import MIGRATIONS
from ingest.models import Interaction, OutboxEntry
from ingest.repository import CustomerActivity, IngestRepository
from ingest.schemas import EXAMPLE_INTERACTION, InteractionIn
from ingest.service import IngestService, Undeliverable
from relint.db import Database
from tests.plans import rows_read

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def item(
    ref: str, minutes: int, source_id: str | None = None, kind: str = "purchase"
) -> InteractionIn:
    return InteractionIn.model_validate(
        {
            "customer": {"external_id": ref, "name": f"Company {ref}"},
            "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat(),
            "channel": "sales",
            "kind": kind,
            "direction": "inbound",
            "amount": "100.50",
            "amount_type": "revenue",
            "currency": "EUR",
            "source": "crm",
            "source_id": source_id,
        }
    )


@pytest.fixture
async def service(database_factory: Callable[[Path, str], Awaitable[Database]]) -> IngestService:
    db = await database_factory(MIGRATIONS, "ingest")
    return IngestService(db, key_pepper="test", subscribers=["scoring", "playbook"])


async def count(db: Database, model: type) -> int:
    async with db.read() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_accepted_interactions_are_stored_with_one_outbox_entry_per_subscriber(
    service: IngestService,
) -> None:
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    results = await service.record(tenant, [(0, item("c1", 0, "a")), (1, item("c2", 5, "b"))])
    assert [r.status for r in results] == ["accepted", "accepted"]
    assert await count(service.db, Interaction) == 2
    assert await count(service.db, OutboxEntry) == 4
    customers = await service.customers_by_external_id(tenant, ["c1", "c2"])
    assert sorted(c.name for c in customers) == ["Company c1", "Company c2"]


async def test_the_same_source_id_is_stored_once_and_answers_with_the_original_id(
    service: IngestService,
) -> None:
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    [first] = await service.record(tenant, [(0, item("c1", 0, "same"))])
    again = await service.record(
        tenant, [(0, item("c1", 0, "same")), (1, item("c1", 1, "same"))], compare_repeats=True
    )
    assert [(r.status, r.id) for r in again] == [("duplicate", first.id), ("duplicate", first.id)]
    # The first a plain repeat; the second an hour late: a change that was not taken.
    assert [r.differs_in for r in again] == [None, ["occurred_at"]]
    assert await count(service.db, Interaction) == 1
    customer = (await service.customers_by_external_id(tenant, ["c1"]))[0]
    assert customer.interaction_count == 1


async def test_a_repeat_is_compared_with_what_was_stored_field_by_field(
    service: IngestService,
) -> None:
    """Every field as it comes back from the store (a zone, a decimal, a float, nested
    attributes) equals what a plain repeat sends; each change is named."""
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    sent = {**EXAMPLE_INTERACTION, "attributes": {"ticket": {"id": 7, "tags": ["a", "b"]}}}
    [first] = await service.record(tenant, [(0, InteractionIn.model_validate(sent))])
    assert first.status == "accepted"
    changes: list[dict[str, Any]] = [
        {},
        {"occurred_at": "2026-03-04T09:15:00Z"},  # the same moment in UTC
        {"amount": "35.001", "sentiment": -0.5},
        {"attributes": {"ticket": {"id": 7, "tags": ["b", "a"]}}, "text": None},
        {"customer": {"email": "someone@northwind.example"}},  # another way to name it
    ]
    again = await service.record(
        tenant,
        [(n, InteractionIn.model_validate({**sent, **c})) for n, c in enumerate(changes)],
        compare_repeats=True,
    )
    # Callers that do not answer with it (imports, Segment) are not made to read it.
    edited = InteractionIn.model_validate({**sent, "text": "another note"})
    [unasked] = await service.record(tenant, [(0, edited)])
    assert (unasked.status, unasked.differs_in) == ("duplicate", None)
    assert [(r.status, r.id) for r in again] == [("duplicate", first.id)] * 5
    assert [r.differs_in for r in again] == [
        None,
        None,
        ["sentiment", "amount"],
        ["text", "attributes"],
        None,
    ]


async def test_tenants_do_not_share_customers_or_source_ids(service: IngestService) -> None:
    a = (await service.create_tenant_key("a", "crm", ["ingest:write"])).tenant_id
    b = (await service.create_tenant_key("b", "crm", ["ingest:write"])).tenant_id
    [in_a] = await service.record(a, [(0, item("c1", 0, "x"))])
    [in_b] = await service.record(b, [(0, item("c1", 0, "x"))])
    assert in_a.status == in_b.status == "accepted"
    assert in_a.id != in_b.id
    [customer_a] = await service.customers_by_external_id(a, ["c1"])
    assert await service.customers_by_id(b, [customer_a.id]) == []


async def test_customer_activity_spans_all_its_interactions(service: IngestService) -> None:
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    await service.record(tenant, [(0, item("c1", 60, "late"))])
    await service.record(tenant, [(0, item("c1", 0, "early")), (1, item("c1", 120, "later"))])
    [customer] = await service.customers_by_external_id(tenant, ["c1"])
    assert customer.first_seen_at == T0
    assert customer.last_seen_at == T0 + timedelta(minutes=120)
    assert customer.interaction_count == 3


async def test_a_writer_that_read_a_customer_earlier_cannot_narrow_its_span(
    service: IngestService,
) -> None:
    """A concurrent writer computes a customer's span from what it read; if another
    committed a wider one meanwhile, its update widens, it never narrows (nor loses a count)."""
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    await service.record(tenant, [(0, item("c1", 0, "a")), (1, item("c1", 600, "b"))])
    [customer] = await service.customers_by_external_id(tenant, ["c1"])
    zone = timezone(timedelta(hours=-5))  # moments in another zone compare as moments
    stale = CustomerActivity(
        customer.id,
        (T0 + timedelta(minutes=60)).astimezone(zone),
        (T0 + timedelta(minutes=300)).astimezone(zone),
        1,
        None,
    )
    async with service.db.transaction() as session:
        await IngestRepository(session).update_customers_activity([stale])
    [customer] = await service.customers_by_external_id(tenant, ["c1"])
    assert customer.first_seen_at == T0
    assert customer.last_seen_at == T0 + timedelta(minutes=600)
    assert customer.interaction_count == 3


async def test_recording_activity_reads_its_customers_rows_not_the_tables(
    service: IngestService,
) -> None:
    """On PostgreSQL, a batch's customers are locked and their activity stored customer by
    customer, whatever the statistics: without them (a table loaded before autovacuum
    analysed it, or a server without autovacuum) `id = ANY(...)` read every customer of
    every tenant. `tests.plans` counts the rows each scan read."""
    if service.db.sqlite:
        pytest.skip("the plans are PostgreSQL's")
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    await service.record(tenant, [(n, item(f"c{n:04}", n, f"s{n}")) for n in range(1000)])
    customers = await service.customers_by_external_id(tenant, ["c0007", "c0500", "c0999"])
    later = T0 + timedelta(days=1)
    async with service.db.transaction() as session, rows_read(session) as read:
        await IngestRepository(session).update_customers_activity(
            [CustomerActivity(c.id, later, later, 1, None) for c in customers]
        )
    assert read == {("SELECT", "customer"): 3, ("UPDATE", "customer"): 3}
    again = await service.customers_by_external_id(tenant, ["c0007", "c0500", "c0999"])
    assert {(c.last_seen_at, c.interaction_count) for c in again} == {(later, 2)}


async def test_delivering_a_page_reads_the_page_not_the_backlog(service: IngestService) -> None:
    """On PostgreSQL, a subscriber's next page of the outbox is the first entries of its index
    joined with their interactions, and acknowledging deletes those entries one by one,
    whatever the statistics and however long the backlog (a subscriber down for a while):
    without statistics the read joined and sorted the subscriber's whole backlog, and the
    delete read it all. `tests.plans` counts the rows each scan read."""
    if service.db.sqlite:
        pytest.skip("the plans are PostgreSQL's")
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    await service.record(tenant, [(n, item(f"c{n % 50}", n, f"s{n}")) for n in range(1000)])
    async with service.db.transaction() as session:
        repo = IngestRepository(session)
        async with rows_read(session) as read:
            page = await repo.pending("scoring", 5)
            await repo.acknowledge("scoring", [sequence for sequence, _ in page])
    assert read == {
        ("SELECT", "outbox_entry"): 5,
        ("SELECT", "interaction"): 5,
        ("DELETE", "outbox_entry"): 2 * 5,  # found, then deleted
    }
    assert [row.source_id for _, row in page] == [f"s{n}" for n in range(5)]
    async with service.db.read() as session:
        assert len(await IngestRepository(session).pending("scoring", 2000)) == 995


async def test_comparing_repeats_reads_their_originals_not_the_tenants_interactions(
    service: IngestService,
) -> None:
    """A batch of repeats (a re-run import) reads each original through the primary key,
    whatever the statistics: an `IN` list beside the tenant read every interaction of the
    tenant for every batch without them."""
    if service.db.sqlite:
        pytest.skip("the plans are PostgreSQL's")
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    stored = await service.record(
        tenant, [(n, item(f"c{n % 50}", n, f"s{n}")) for n in range(1000)]
    )
    ids = [r.id or "" for r in stored[:5]]
    async with service.db.transaction() as session, rows_read(session) as read:
        contents = await IngestRepository(session).interaction_contents(
            tenant, ids, ["kind", "occurred_at"]
        )
    assert read == {("SELECT", "interaction"): 5}
    assert sorted(contents) == sorted(ids)
    async with service.db.read() as session:  # another tenant's ids read nothing
        assert await IngestRepository(session).interaction_contents("other", ids, ["kind"]) == {}


async def test_delivery_sends_in_acceptance_order_and_removes_only_what_was_acknowledged(
    service: IngestService,
) -> None:
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    # A batch is stored in time order, whatever order it arrived in.
    await service.record(tenant, [(0, item("c1", 30, "b")), (1, item("c1", 10, "a"))])
    await service.record(tenant, [(0, item("c1", 20, "c"))])
    seen: list[str] = []

    async def send(batch: list[tuple[int, Interaction]]) -> None:
        seen.extend(row.source_id or "" for _, row in batch)

    assert await service.deliver_next("scoring", send, limit=2) == 2
    assert await service.deliver_next("scoring", send, limit=2) == 1
    assert await service.deliver_next("scoring", send, limit=2) == 0
    assert seen == ["a", "b", "c"]
    # The other subscriber's entries are untouched.
    assert await service.backlog() == {"playbook": 3}


async def test_a_failed_delivery_loses_nothing(service: IngestService) -> None:
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    await service.record(tenant, [(0, item("c1", 0, "a"))])

    async def broken(batch: list[tuple[int, Interaction]]) -> None:
        raise ConnectionError("subscriber down")

    with pytest.raises(ConnectionError):
        await service.deliver_next("scoring", broken, limit=10)
    assert await service.backlog() == {"scoring": 1, "playbook": 1}
    delivered: list[str] = []

    async def working(batch: list[tuple[int, Interaction]]) -> None:
        delivered.extend(row.id for _, row in batch)

    assert await service.deliver_next("scoring", working, limit=10) == 1
    assert len(delivered) == 1


async def test_entries_a_subscriber_refuses_for_good_are_parked_and_the_rest_goes_on(
    service: IngestService,
) -> None:
    """A batch refused as invalid is halved down to the entry at fault, which is parked
    (kept, with why); the others are delivered in order, and the stream goes on. Replayed,
    it is delivered in its place."""
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    await service.record(
        tenant,
        [
            (n, item(c, minutes, ref))
            for n, (c, minutes, ref) in enumerate(
                [("c1", 10, "a"), ("c1", 20, "b"), ("c2", 30, "c"), ("c2", 40, "d")]
            )
        ],
    )
    delivered: list[str] = []

    async def picky(batch: list[tuple[int, Interaction]]) -> None:
        if any(row.source_id == "b" for _, row in batch):
            raise Undeliverable("scoring refused it: interactions[1] needs an id")
        delivered.extend(row.source_id or "" for _, row in batch)

    assert await service.deliver_next("scoring", picky, limit=10) == 3
    assert delivered == ["a", "c", "d"]
    [parked] = await service.parked("scoring")
    assert (parked.subscriber, parked.reason) == (
        "scoring",
        "scoring refused it: interactions[1] needs an id",
    )
    assert await service.backlog() == {"playbook": 4}
    assert await service.deliver_next("scoring", picky, limit=10) == 0
    assert await count(service.db, Interaction) == 4  # nothing lost
    assert await service.replay_parked("scoring") == 1
    assert await service.parked() == []

    async def working(batch: list[tuple[int, Interaction]]) -> None:
        delivered.extend(row.source_id or "" for _, row in batch)

    assert await service.deliver_next("scoring", working, limit=10) == 1
    assert delivered[-1] == "b"
    assert await service.backlog() == {"playbook": 4}


async def test_keys_verify_until_revoked(service: IngestService) -> None:
    issued = await service.create_tenant_key("acme", "crm", ["ingest:write", "graph:read"])
    principal = await service.verify(issued.api_key)
    assert principal is not None
    assert principal.tenant_id == issued.tenant_id
    assert principal.scopes == frozenset({"ingest:write", "graph:read"})
    assert await service.verify(issued.api_key + "x") is None
    assert await service.verify("not a key") is None
    lookup_id = issued.api_key.split("_")[1]
    assert await service.revoke_key(lookup_id)
    assert await service.verify(issued.api_key) is None
    assert not await service.revoke_key(lookup_id)


async def test_a_second_key_for_the_same_partner_keeps_the_tenant(service: IngestService) -> None:
    first = await service.create_tenant_key("acme", "crm", ["ingest:write"])
    second = await service.create_tenant_key("acme", "crm", ["graph:read"])
    assert (first.tenant_id, first.partner_id) == (second.tenant_id, second.partner_id)
    assert first.api_key != second.api_key
    assert await service.verify(first.api_key) is not None


async def test_recent_interactions_are_newest_first_and_bounded(service: IngestService) -> None:
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    await service.record(
        tenant, [(i, item(ref, i, f"{ref}-{i}")) for ref in ("c1", "c2") for i in range(5)]
    )
    customers = await service.customers_by_external_id(tenant, ["c1", "c2"])
    rows = await service.recent_interactions(tenant, [c.id for c in customers], 2)
    by_customer: dict[str, list[datetime]] = {}
    for row in rows:
        by_customer.setdefault(row.customer_id, []).append(row.occurred_at)
    assert sorted(len(v) for v in by_customer.values()) == [2, 2]
    for stamps in by_customer.values():
        assert stamps == sorted(stamps, reverse=True)
        assert stamps[0] == T0 + timedelta(minutes=4)
    assert [r.customer_id for r in rows] == sorted(r.customer_id for r in rows)
    everything = await service.recent_interactions(tenant, [customers[0].id], 50)
    assert len(everything) == 5
    other = (await service.create_tenant_key("other", "crm", ["ingest:write"])).tenant_id
    assert await service.recent_interactions(other, [c.id for c in customers], 2) == []


async def test_customers_page_through_without_gaps(service: IngestService) -> None:
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    await service.record(tenant, [(i, item(f"c{i}", i, f"s{i}")) for i in range(7)])
    seen: list[str] = []
    after = ""
    while True:
        page = await service.list_customers(tenant, after, 3)
        if not page:
            break
        seen.extend(c.external_id for c in page)
        after = page[-1].id
    assert sorted(seen) == sorted(f"c{i}" for i in range(7))


async def test_pending_interactions_reach_a_subscriber_in_time_order_across_requests(
    service: IngestService,
) -> None:
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    # A partner sends a late correction after newer interactions of the same customer.
    await service.record(tenant, [(0, item("c1", 60, "new-1")), (1, item("c1", 90, "new-2"))])
    await service.record(tenant, [(0, item("c1", 30, "late")), (1, item("c2", 0, "other"))])
    sent: list[tuple[str, int]] = []

    async def send(batch: list[tuple[int, Interaction]]) -> None:
        sent.extend((row.source_id or "", sequence) for sequence, row in batch)

    assert await service.deliver_next("scoring", send, limit=10) == 4
    assert [source_id for source_id, _ in sent] == ["other", "late", "new-1", "new-2"]
