"""Ingest's gRPC servicers through real channels: recording one interaction for a front end
(the gateway's recordInteraction), and reading it back."""

from __future__ import annotations

import json
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
