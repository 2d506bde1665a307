"""Ingest's gRPC servicers through real channels: recording one interaction for a front end
(the gateway's recordInteraction), and reading it back."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from ingest.service import IngestService
from relint.contracts.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from tests.ingest.conftest import RunningIngest

NOTE = {
    "customer": {"external_id": "acme", "name": "Acme"},
    "occurred_at": "2026-11-20T10:00:00+01:00",
    "channel": "sales",
    "kind": "call",
    "direction": "outbound",
    "text": "Discussed the renewal",
    "source": "graph",
    "source_id": "note-7",
}


async def test_record_interaction_stores_once_and_refuses_bad_input_by_field(
    running_ingest: RunningIngest, tmp_path: Path
) -> None:
    async with running_ingest(f"sqlite+aiosqlite:///{tmp_path / 'ingest.db'}") as app:
        service: IngestService = app.state.ingest
        issued = await service.create_tenant_key("acme-corp", "crm", ["ingest:write"])
        tenant = issued.tenant_id
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.state.grpc_port}") as channel:
            stub = ingest_pb2_grpc.InteractionServiceStub(channel)

            async def record(body: object) -> ingest_pb2.RecordInteractionResponse:
                return await stub.RecordInteraction(
                    ingest_pb2.RecordInteractionRequest(
                        tenant_id=tenant, interaction_json=json.dumps(body)
                    ),
                    timeout=5,
                )

            first = await record(NOTE)
            assert (first.status, [e.message for e in first.errors]) == ("accepted", [])
            again = await record(NOTE)
            assert (again.status, again.id) == ("duplicate", first.id)
            # The gateway's idempotency key again with another note: refused by field.
            edited = await record({**NOTE, "text": "Something else"})
            assert (edited.status, edited.id) == ("rejected", "")
            [reuse] = edited.errors
            assert reuse.path == "source_id"
            assert f"already used for interaction {first.id}, which differs in text;" in (
                reuse.message
            )
            bad = await record({**NOTE, "occurred_at": "2026-11-20T10:00:00", "kind": ""})
            assert bad.status == "rejected"
            assert sorted(e.path for e in bad.errors) == ["kind", "occurred_at"]
            unknown = await record({**NOTE, "channel": "nowhere", "source_id": "note-8"})
            assert unknown.status == "rejected"
            assert [e.path for e in unknown.errors] == ["channel"]
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.RecordInteraction(
                    ingest_pb2.RecordInteractionRequest(interaction_json="{}"), timeout=5
                )
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            [customer] = await service.customers_by_external_id(tenant, ["acme"])
            recent = await stub.BatchListRecentInteractions(
                ingest_pb2.BatchListRecentInteractionsRequest(
                    tenant_id=tenant, customer_ids=[customer.id], limit_per_customer=5
                ),
                timeout=5,
            )
            assert [i.id for i in recent.interactions] == [first.id]
            # Each answer names the customer it was recorded for, the duplicate's too.
            assert first.customer_id == again.customer_id == customer.id
            assert bad.customer_id == unknown.customer_id == ""


def _note(n: int, channel: str, kind: str, employee: str, external_id: str = "acme") -> str:
    return json.dumps(
        {
            **NOTE,
            "customer": {"external_id": external_id},
            "occurred_at": f"2026-11-{n + 1:02d}T10:00:00+00:00",
            "channel": channel,
            "kind": kind,
            "employee": employee,
            "source_id": f"{external_id}-{n}",
        }
    )


async def test_interaction_pages_and_employees_for_many_customers_in_one_call(
    running_ingest: RunningIngest, database_url_factory: Callable[[str], str]
) -> None:
    async with running_ingest(database_url_factory("ingest")) as app:
        service: IngestService = app.state.ingest
        tenant = (await service.create_tenant_key("acme-corp", "crm", ["ingest:write"])).tenant_id
        other = (await service.create_tenant_key("other-corp", "crm", ["ingest:write"])).tenant_id
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.state.grpc_port}") as channel:
            stub = ingest_pb2_grpc.InteractionServiceStub(channel)
            plan = [("sales", "call", "ann"), ("service", "ticket_opened", "bob")] * 4
            plan += [("service", "ticket_resolved", "bob")]
            for n, (ch, kind, who) in enumerate(plan):
                reply = await stub.RecordInteraction(
                    ingest_pb2.RecordInteractionRequest(
                        tenant_id=tenant, interaction_json=_note(n, ch, kind, who)
                    ),
                    timeout=5,
                )
                assert reply.status == "accepted", reply
            await stub.RecordInteraction(
                ingest_pb2.RecordInteractionRequest(
                    tenant_id=tenant, interaction_json=_note(20, "sales", "call", "cy", "beta")
                ),
                timeout=5,
            )
            acme, beta = await service.customers_by_external_id(tenant, ["acme", "beta"])
            if acme.external_id != "acme":
                acme, beta = beta, acme

            async def pages(
                *queries: ingest_pb2.InteractionQuery, tenant_id: str = tenant
            ) -> list[ingest_pb2.InteractionPage]:
                reply = await stub.BatchListInteractions(
                    ingest_pb2.BatchListInteractionsRequest(tenant_id=tenant_id, queries=queries),
                    timeout=5,
                )
                return list(reply.pages)

            # Walk acme's record 4 at a time, newest first, with the cursor.
            seen: list[str] = []
            token = ""
            while True:
                (page,) = await pages(
                    ingest_pb2.InteractionQuery(customer_id=acme.id, page_size=4, page_token=token)
                )
                seen += [i.kind for i in page.interactions]
                token = page.next_page_token
                if not token:
                    break
            assert seen == [kind for _, kind, _ in reversed(plan)]

            window = ingest_pb2.InteractionQuery(
                customer_id=acme.id, channels=["service"], employee="bob", page_size=10
            )
            window.occurred_from.FromJsonString("2026-11-04T00:00:00Z")
            window.occurred_to.FromJsonString("2026-11-09T00:00:00Z")
            service_page, beta_page = await pages(
                window, ingest_pb2.InteractionQuery(customer_id=beta.id, page_size=5)
            )
            assert [i.occurred_at.ToJsonString()[:10] for i in service_page.interactions] == [
                "2026-11-08",
                "2026-11-06",
                "2026-11-04",
            ]
            assert [i.employee for i in beta_page.interactions] == ["cy"]
            # Another tenant asking for acme's id gets an empty page.
            (foreign,) = await pages(
                ingest_pb2.InteractionQuery(customer_id=acme.id, page_size=5), tenant_id=other
            )
            assert list(foreign.interactions) == []

            for bad, message in [
                (ingest_pb2.InteractionQuery(customer_id=acme.id, page_size=0), "page_size"),
                (ingest_pb2.InteractionQuery(page_size=3), "customer_id is required"),
                (
                    ingest_pb2.InteractionQuery(customer_id=acme.id, page_size=3, page_token="x"),
                    "page_token is malformed",
                ),
            ]:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await pages(bad)
                assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert message in (refused.value.details() or "")

            employees = await stub.BatchListEmployees(
                ingest_pb2.BatchListEmployeesRequest(
                    tenant_id=tenant, customer_ids=[acme.id, beta.id], limit_per_customer=5
                ),
                timeout=5,
            )
            found = [
                (e.customer_id == acme.id, e.employee, e.interaction_count)
                for e in employees.employees
            ]
            assert sorted(found) == [(False, "cy", 1), (True, "ann", 4), (True, "bob", 5)]
            bob = next(e for e in employees.employees if e.employee == "bob")
            assert bob.first_interaction_at.ToJsonString().startswith("2026-11-02T10:00:00")
            assert bob.last_interaction_at.ToJsonString().startswith("2026-11-09T10:00:00")
            # Another tenant naming these customers finds nothing of them.
            elsewhere = await stub.BatchListEmployees(
                ingest_pb2.BatchListEmployeesRequest(
                    tenant_id=str(uuid.uuid4()), customer_ids=[acme.id], limit_per_customer=5
                ),
                timeout=5,
            )
            assert list(elsewhere.employees) == []
            foreign = await stub.BatchListInteractions(
                ingest_pb2.BatchListInteractionsRequest(
                    tenant_id=str(uuid.uuid4()),
                    queries=[ingest_pb2.InteractionQuery(customer_id=acme.id, page_size=3)],
                ),
                timeout=5,
            )
            assert [list(page.interactions) for page in foreign.pages] == [[]]

            customers = ingest_pb2_grpc.CustomerServiceStub(channel)

            async def search(query: str) -> list[str]:
                reply = await customers.ListCustomers(
                    ingest_pb2.ListCustomersRequest(tenant_id=tenant, page_size=10, query=query),
                    timeout=5,
                )
                return sorted(c.external_id for c in reply.customers)

            assert await search("ACM") == ["acme"]
            assert await search("") == ["acme", "beta"]
            assert await search("%") == []  # a wildcard is a character like any other
            assert await search("et") == ["beta"]


async def test_customers_come_with_their_newest_interactions_when_asked(
    running_ingest: RunningIngest, database_url_factory: Callable[[str], str]
) -> None:
    """LookupCustomers and BatchGetCustomers with recent_per_customer answer what
    BatchListRecentInteractions would, in the same call; never another tenant's."""
    async with running_ingest(database_url_factory("ingest")) as app:
        service: IngestService = app.state.ingest
        tenant = (await service.create_tenant_key("acme-corp", "crm", ["ingest:write"])).tenant_id
        other = (await service.create_tenant_key("other-corp", "crm", ["ingest:write"])).tenant_id
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.state.grpc_port}") as channel:
            interactions = ingest_pb2_grpc.InteractionServiceStub(channel)
            customers = ingest_pb2_grpc.CustomerServiceStub(channel)
            for n in range(5):
                for ref in ("acme", "beta")[: 1 + n % 2]:  # acme 5, beta 2
                    reply = await interactions.RecordInteraction(
                        ingest_pb2.RecordInteractionRequest(
                            tenant_id=tenant,
                            interaction_json=_note(n, "sales", "call", "ann", ref),
                        ),
                        timeout=5,
                    )
                    assert reply.status == "accepted", reply
            refs = ["acme", "beta", "nobody"]
            plain = await customers.LookupCustomers(
                ingest_pb2.LookupCustomersRequest(tenant_id=tenant, external_ids=refs), timeout=5
            )
            ids = [c.id for c in plain.customers]
            assert sorted(c.external_id for c in plain.customers) == ["acme", "beta"]
            assert list(plain.recent_interactions) == []
            separately = await interactions.BatchListRecentInteractions(
                ingest_pb2.BatchListRecentInteractionsRequest(
                    tenant_id=tenant, customer_ids=ids, limit_per_customer=3
                ),
                timeout=5,
            )
            newest = sorted(i.id for i in separately.interactions)
            assert len(newest) == 3 + 2
            lookup = await customers.LookupCustomers(
                ingest_pb2.LookupCustomersRequest(
                    tenant_id=tenant, external_ids=refs, recent_per_customer=3
                ),
                timeout=5,
            )
            by_id = await customers.BatchGetCustomers(
                ingest_pb2.BatchGetCustomersRequest(
                    tenant_id=tenant, customer_ids=ids, recent_per_customer=3
                ),
                timeout=5,
            )
            for reply in (lookup, by_id):
                assert sorted(c.id for c in reply.customers) == sorted(ids)
                assert sorted(i.id for i in reply.recent_interactions) == newest
                for customer_id in ids:  # newest first within each customer
                    moments = [
                        i.occurred_at.ToDatetime()
                        for i in reply.recent_interactions
                        if i.customer_id == customer_id
                    ]
                    assert moments == sorted(moments, reverse=True)
            elsewhere = await customers.BatchGetCustomers(
                ingest_pb2.BatchGetCustomersRequest(
                    tenant_id=other, customer_ids=ids, recent_per_customer=3
                ),
                timeout=5,
            )
            assert (list(elsewhere.customers), list(elsewhere.recent_interactions)) == ([], [])
            for wrong in (-1, 101):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await customers.LookupCustomers(
                        ingest_pb2.LookupCustomersRequest(
                            tenant_id=tenant, external_ids=refs, recent_per_customer=wrong
                        ),
                        timeout=5,
                    )
                assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert "recent_per_customer 0..100" in (refused.value.details() or "")
