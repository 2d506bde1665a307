"""The references the accept path writes without foreign keys (migration 0007): every
interaction names a tenant, customer and contact that exist, each of its tenant, and every
outbox entry an interaction that exists, after every kind of write, on both databases."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from sqlalchemy import text

from ingest.service import IngestService

if TYPE_CHECKING:
    from tests.ingest.conftest import AsgiClient, RunningIngest

# Each query counts rows whose reference does not hold; all must be 0.
BROKEN_REFERENCES = {
    "interaction without its tenant": "SELECT count(*) FROM interaction i "
    "LEFT JOIN tenant t ON t.id = i.tenant_id WHERE t.id IS NULL",
    "interaction without its customer in its tenant": "SELECT count(*) FROM interaction i "
    "LEFT JOIN customer c ON c.id = i.customer_id AND c.tenant_id = i.tenant_id "
    "WHERE c.id IS NULL",
    "interaction without its contact in its tenant": "SELECT count(*) FROM interaction i "
    "LEFT JOIN contact p ON p.id = i.contact_id AND p.tenant_id = i.tenant_id "
    "WHERE i.contact_id IS NOT NULL AND p.id IS NULL",
    "outbox entry without its interaction": "SELECT count(*) FROM outbox_entry o "
    "LEFT JOIN interaction i ON i.id = o.interaction_id WHERE i.id IS NULL",
}


async def broken_references(service: IngestService) -> dict[str, int]:
    async with service.db.read() as session:
        counts = {
            what: int((await session.execute(text(query))).scalar_one())
            for what, query in BROKEN_REFERENCES.items()
        }
    return {what: n for what, n in counts.items() if n}


def item(source_id: str, minute: int, **customer: Any) -> dict[str, Any]:
    contact = customer.pop("contact", None)
    return {
        "customer": customer,
        **({"contact": contact} if contact else {}),
        "occurred_at": f"2026-11-02T09:{minute:02d}:00Z",
        "channel": "service",
        "kind": "ticket_opened",
        "direction": "inbound",
        "source": "desk",
        "source_id": source_id,
    }


async def test_every_write_leaves_every_reference_whole(
    running_ingest: RunningIngest,
    asgi_client: AsgiClient,
    database_url_factory: Callable[[str], str],
) -> None:
    async with running_ingest(database_url_factory("ingest")) as app:
        service: IngestService = app.state.ingest
        await _write_every_way(app, service, asgi_client)
        async with service.db.read() as session:
            interactions = int(
                (await session.execute(text("SELECT count(*) FROM interaction"))).scalar_one()
            )
            with_contact = int(
                (
                    await session.execute(
                        text("SELECT count(*) FROM interaction WHERE contact_id IS NOT NULL")
                    )
                ).scalar_one()
            )
            entries = int(
                (await session.execute(text("SELECT count(*) FROM outbox_entry"))).scalar_one()
            )
        # What was written: every path below stored interactions, some with contacts, and
        # the merges delivered the moved ones again (more entries than interactions).
        assert interactions == 21
        assert with_contact >= 5
        assert entries > interactions
        assert await broken_references(service) == {}

        # The check itself: a reference that does not hold is found.
        async with service.db.transaction() as session:
            await session.execute(
                text(
                    "INSERT INTO outbox_entry (subscriber, interaction_id, created_at) "
                    "VALUES ('scoring', 'no-such-interaction', CURRENT_TIMESTAMP)"
                )
            )
            await session.execute(
                text(
                    "UPDATE interaction SET customer_id = 'no-such-customer' "
                    "WHERE source_id = 'single-0'"
                )
            )
        assert await broken_references(service) == {
            "interaction without its customer in its tenant": 1,
            "outbox entry without its interaction": 1,
        }


async def _write_every_way(app: FastAPI, service: IngestService, asgi_client: AsgiClient) -> None:
    async with asgi_client(app, "acme", ("ingest:write", "admin")) as http:
        # Single POSTs at once (group commit): new customers, a contact, repeats.
        singles = [
            item(f"single-{n}", n, external_id=f"C{n % 3}", contact={"email": f"p{n}@c.example"})
            for n in range(6)
        ]
        answers = await asyncio.gather(
            *(http.post("/v1/interactions", json=body) for body in [*singles, singles[0]])
        )
        assert [a.status_code for a in answers] == [201] * 7
        # The repeat and its original went at once: whichever was stored, the other is its
        # replay, with the same answer.
        replayed = [a for a in answers if a.headers.get("Idempotent-Replayed") == "true"]
        assert len(replayed) == 1
        assert replayed[0] in (answers[0], answers[-1])
        assert answers[-1].json() == answers[0].json()
        # A batch: by external id, by mail domain, by contact, a repeat and a refusal.
        batch = [
            item("batch-0", 10, external_id="C0"),
            item("batch-1", 11, domain="globex.example"),
            item("batch-2", 12, email="ana@initech.example"),
            item("batch-3", 13, external_id="C9", contact={"email": "bo@c9.example"}),
            item("batch-0", 10, external_id="C0"),
            item("batch-5", 14, id="no-such-customer"),
        ]
        answer = await http.post("/v1/interactions:batch", json={"interactions": batch})
        assert (answer.json()["accepted"], answer.json()["rejected"]) == (4, 1), answer.text
        # A provisional account (named by a contact's domain) merged into the one its owner
        # names; then an admin merge of two accounts.
        await http.post("/v1/interactions", json=item("prov-0", 20, email="x@umbrella.example"))
        await http.post(
            "/v1/interactions",
            json=item("prov-1", 21, external_id="UMB", contact={"email": "x@umbrella.example"}),
        )
        ids = {c.external_id: c.id for c in await _customers(service, ["C1", "C2"])}
        merged = await http.post(
            f"/v1/admin/customers/{ids['C2']}:merge",
            json={"into": ids["C1"], "reason": "one company, two records"},
        )
        assert merged.status_code == 200, merged.text
        # The Segment surface: identify, group, track, alias, and a batch of them.
        issued = await service.create_tenant_key("acme", "web", ["ingest:write"])
        basic = base64.b64encode(f"{issued.api_key}:".encode()).decode()
        auth = {"Authorization": f"Basic {basic}"}
        track = {
            "userId": "u-1",
            "event": "Order Completed",
            "properties": {"revenue": "19.99"},
            "context": {"groupId": "C0"},
            "timestamp": "2026-11-02T10:00:00Z",
        }
        calls = [
            ("/v1/identify", {"userId": "u-1", "traits": {"email": "u1@c0.example"}}),
            ("/v1/group", {"userId": "u-1", "groupId": "C0", "traits": {"name": "Zero"}}),
            ("/v1/track", {**track, "messageId": "m-1"}),
            ("/v1/alias", {"previousId": "u-1", "userId": "user-1"}),
            (
                "/v1/batch",
                {
                    "batch": [
                        {**track, "type": "track", "messageId": "m-2", "userId": "user-1"},
                        {**track, "type": "track", "messageId": "m-3", "userId": "u-7"},
                    ]
                },
            ),
        ]
        for path, body in calls:
            reply = await http.post(path, json=body, headers=auth)
            assert reply.status_code == 200, (path, reply.text)
        # More single POSTs, to the accounts as they are after the merges.
        for n in range(6):
            await http.post("/v1/interactions", json=item(f"late-{n}", 30 + n, external_id=f"C{n}"))


async def _customers(service: IngestService, external_ids: list[str]) -> list[Any]:
    tenant = await service.tenant_id("acme")
    return list(await service.customers_by_external_id(tenant or "", external_ids))
