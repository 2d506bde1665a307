"""Identity resolution through the service and the API, on real SQLite and PostgreSQL:
customers named by any identifier, contacts, merges recorded and visible, tenants apart."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from ingest.main import MIGRATIONS
from ingest.models import Interaction, OutboxEntry
from ingest.schemas import InteractionIn
from ingest.service import IngestService
from relint.db import Database

if TYPE_CHECKING:
    from tests.ingest.conftest import AsgiClient, RunningIngest

T0 = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)


def touch(minutes: int, source_id: str, **refs: Any) -> InteractionIn:
    contact = refs.pop("contact", None)
    return InteractionIn.model_validate(
        {
            "customer": refs,
            **({"contact": contact} if contact else {}),
            "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat(),
            "channel": "email",
            "kind": "email_received",
            "direction": "inbound",
            "source": "mail",
            "source_id": source_id,
        }
    )


@pytest.fixture
async def service(database_factory: Callable[[Path, str], Awaitable[Database]]) -> IngestService:
    db = await database_factory(MIGRATIONS, "ingest")
    return IngestService(db, key_pepper="test", subscribers=["scoring"])


async def _tenant(service: IngestService, name: str = "acme") -> str:
    return (await service.create_tenant_key(name, "crm", ["ingest:write"])).tenant_id


async def _interactions_of(db: Database, customer_id: str) -> int:
    async with db.read() as session:
        query = select(func.count()).where(Interaction.customer_id == customer_id)  # type: ignore[arg-type]
        return int((await session.execute(query)).scalar_one())


async def test_every_identifier_finds_the_same_account(service: IngestService) -> None:
    tenant = await _tenant(service)
    await service.record(
        tenant,
        [
            (
                0,
                touch(
                    0,
                    "m1",
                    external_id="northwind",
                    name="Northwind",
                    ids={"hubspot": "881"},
                    email="ana@northwind.example",
                ),
            )
        ],
    )
    [account] = await service.customers_by_external_id(tenant, ["northwind"])
    named = [
        touch(1, "m2", ids={"hubspot": "881"}),
        touch(2, "m3", email="ANA@northwind.example"),
        touch(3, "m4", email="bo@northwind.example"),  # by domain: a new contact there
        touch(4, "m5", domain="northwind.example"),
        touch(5, "m6", id=account.id),
    ]
    results = await service.record(tenant, list(enumerate(named)))
    assert [r.status for r in results] == ["accepted"] * 5
    assert await _interactions_of(service.db, account.id) == 6
    profile = await service.customer_profile(tenant, account.id)
    assert profile is not None
    assert profile.customer.interaction_count == 6
    assert sorted((i.scheme, i.value) for i in profile.identifiers) == [
        ("domain", "northwind.example"),
        ("hubspot", "881"),
    ]
    assert sorted(c.email or "" for c in profile.contacts) == [
        "ana@northwind.example",
        "bo@northwind.example",
    ]


async def test_a_provisional_account_is_merged_when_its_owner_is_named(
    service: IngestService,
) -> None:
    tenant = await _tenant(service)
    # Mail from an unknown company makes a provisional account...
    await service.record(
        tenant,
        [
            (0, touch(0, "m1", email="ana@globex.example")),
            (1, touch(1, "m2", email="bo@globex.example")),
        ],
    )
    await service.record(tenant, [(0, touch(2, "c1", external_id="GLX", name="Globex"))])
    [known] = await service.customers_by_external_id(tenant, ["GLX"])
    async with service.db.read() as session:
        outbox_before = (
            await session.execute(select(func.count()).select_from(OutboxEntry))
        ).scalar_one()
    # ...until the CRM names the account together with a contact's address.
    [result] = await service.record(
        tenant, [(0, touch(3, "c2", external_id="GLX", email="ana@globex.example"))]
    )
    assert result.status == "accepted"
    profile = await service.customer_profile(tenant, known.id)
    assert profile is not None
    [merge] = profile.merged_from
    assert merge.reason == "external id 'GLX' and contact ana@globex.example named the same account"
    assert merge.interactions_moved == 2
    assert profile.customer.interaction_count == 4
    assert await _interactions_of(service.db, known.id) == 4
    assert ("domain", "globex.example") in [(i.scheme, i.value) for i in profile.identifiers]
    # The moved interactions are delivered again under the surviving customer.
    async with service.db.read() as session:
        outbox_after = (
            await session.execute(select(func.count()).select_from(OutboxEntry))
        ).scalar_one()
    assert outbox_after - outbox_before == 2 + 1
    # The old id still answers, with the survivor.
    redirected = await service.customer_profile(tenant, merge.merged_id)
    assert redirected is not None
    assert redirected.customer.id == known.id
    listed = await service.list_customers(tenant, "", 100)
    assert [c.id for c in listed] == [known.id]


async def test_an_unknown_own_id_is_rejected_and_nothing_is_written(
    service: IngestService,
) -> None:
    tenant = await _tenant(service)
    results = await service.record(
        tenant, [(0, touch(0, "x1", id="no-such-id")), (1, touch(1, "x2", external_id="ok"))]
    )
    assert [r.status for r in results] == ["rejected", "accepted"]
    assert results[0].errors[0].path == "customer.id"
    assert results[0].errors[0].message == "no customer with id 'no-such-id'"


async def test_identifiers_are_per_tenant(service: IngestService) -> None:
    acme, globex = await _tenant(service, "acme"), await _tenant(service, "globex")
    await service.record(acme, [(0, touch(0, "m1", email="ana@shared.example"))])
    await service.record(globex, [(0, touch(0, "m1", email="ana@shared.example"))])
    [a] = await service.list_customers(acme, "", 10)
    [g] = await service.list_customers(globex, "", 10)
    assert a.id != g.id
    assert await service.customer_profile(globex, a.id) is None
    with pytest.raises(LookupError):
        await service.merge_customers(globex, g.id, a.id, "cross-tenant attempt")


# The API: reading a customer, merging on request, listing merges.


@pytest.fixture
async def app(tmp_path: Path, running_ingest: RunningIngest) -> AsyncIterator[FastAPI]:
    async with running_ingest(f"sqlite+aiosqlite:///{tmp_path / 'ingest.db'}") as application:
        yield application


async def _key(app: FastAPI, tenant: str, scopes: list[str]) -> dict[str, str]:
    service: IngestService = app.state.ingest
    issued = await service.create_tenant_key(tenant, "ops", scopes)
    return {"Authorization": f"Bearer {issued.api_key}"}


async def test_merge_on_request_through_the_admin_api(
    app: FastAPI, asgi_client: AsgiClient
) -> None:
    admin = await _key(app, "acme", ["admin"])
    reader = await _key(app, "acme", ["graph:read"])
    other = await _key(app, "globex", ["admin"])
    async with asgi_client(app) as http:
        for ref in ("A", "B"):
            payload = touch(0, f"s-{ref}", external_id=ref).model_dump(mode="json")
            assert (
                await http.post("/v1/interactions", json=payload, headers=admin)
            ).status_code == 201
        service: IngestService = app.state.ingest
        tenant = await service.customers_by_external_id(
            await service.tenant_id("acme") or "", ["A", "B"]
        )
        by_ref = {c.external_id: c.id for c in tenant}
        path = f"/v1/admin/customers/{by_ref['B']}:merge"
        body = {"into": by_ref["A"], "reason": "same company, two CRM records"}
        assert (await http.post(path, json=body, headers=reader)).status_code == 403
        assert (await http.post(path, json=body, headers=other)).status_code == 404
        merged = await http.post(path, json=body, headers=admin)
        assert merged.status_code == 200, merged.text
        assert merged.json()["interactions_moved"] == 1
        again = await http.post(path, json=body, headers=admin)
        assert again.status_code == 409
        assert "already merged" in again.json()["detail"]
        itself = await http.post(
            f"/v1/admin/customers/{by_ref['A']}:merge",
            json={"into": by_ref["A"], "reason": "x"},
            headers=admin,
        )
        assert itself.status_code == 409
        profile = await http.get(f"/v1/customers/{by_ref['B']}", headers=reader)
        assert profile.status_code == 200
        shown = profile.json()
        assert shown["id"] == by_ref["A"]
        assert shown["redirected_from"] == by_ref["B"]
        assert shown["interaction_count"] == 2
        assert [m["reason"] for m in shown["merged_from"]] == ["same company, two CRM records"]
        listed = await http.get("/v1/admin/merges", headers=admin)
        assert [m["merged_id"] for m in listed.json()["merges"]] == [by_ref["B"]]
        assert (await http.get("/v1/admin/merges", headers=other)).json() == {"merges": []}
        hidden = await http.get(f"/v1/customers/{by_ref['A']}", headers=other)
        assert hidden.status_code == 404
