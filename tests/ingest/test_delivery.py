"""The outbox relay against a real gRPC subscriber: what the subscriber refuses as invalid is
parked, and everything else reaches it, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from click.testing import CliRunner

from ingest.cli import main
from ingest.delivery import OutboxRelay
from ingest.main import MIGRATIONS
from ingest.service import IngestService, Undeliverable
from relint.contracts.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from relint.db import Database
from tests.ingest.test_service import item


class _Refusing(ingest_pb2_grpc.InteractionSubscriberServiceServicer):  # type: ignore[misc]
    """Refuses, as a subscriber's own checks do, any batch holding an item it cannot take."""

    def __init__(self) -> None:
        self.applied: list[str] = []

    async def DeliverInteractions(
        self, request: ingest_pb2.DeliverInteractionsRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.DeliverInteractionsResponse:
        for position, interaction in enumerate(request.interactions):
            if interaction.source_id == "bad":
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"interactions[{position}] cannot be applied"
                )
        self.applied.extend(i.source_id for i in request.interactions)
        return ingest_pb2.DeliverInteractionsResponse()


async def test_an_interaction_the_subscriber_refuses_is_parked_and_the_stream_goes_on(
    database_factory: Callable[[Path, str], Awaitable[Database]],
) -> None:
    subscriber = _Refusing()
    server = grpc.aio.server()
    ingest_pb2_grpc.add_InteractionSubscriberServiceServicer_to_server(subscriber, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    db = await database_factory(MIGRATIONS, "ingest")
    service = IngestService(db, key_pepper="test", subscribers=["scoring"])
    tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
    await service.record(
        tenant, [(0, item("c1", 10, "a")), (1, item("c1", 20, "bad")), (2, item("c2", 30, "c"))]
    )
    relay = OutboxRelay(service, {"scoring": f"127.0.0.1:{port}"}, poll_seconds=0.05)
    relay.start()
    try:
        async with asyncio.timeout(20):
            while await service.backlog():
                await asyncio.sleep(0.05)
    finally:
        await relay.stop()
        await server.stop(0)
    assert subscriber.applied == ["a", "c"]
    [parked] = await service.parked()
    assert parked.reason == "scoring refused it: interactions[0] cannot be applied"


def test_the_cli_lists_the_parked_entries_and_puts_them_back(tmp_path: Path) -> None:
    env = {"INGEST_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'ingest.db'}"}
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"], env=env).exit_code == 0

    async def park_one() -> None:
        db = Database(env["INGEST_DATABASE_URL"])
        try:
            service = IngestService(db, key_pepper="test", subscribers=["scoring"])
            tenant = (await service.create_tenant_key("acme", "crm", ["ingest:write"])).tenant_id
            await service.record(tenant, [(0, item("c1", 10, "a"))])

            async def refuse(batch: list[tuple[int, Any]]) -> None:
                raise Undeliverable("scoring refused it: no")

            await service.deliver_next("scoring", refuse, limit=10)
        finally:
            await db.dispose()

    asyncio.run(park_one())
    listed = runner.invoke(main, ["outbox", "parked"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "  scoring  " in listed.output
    assert listed.output.rstrip().endswith("scoring refused it: no")
    assert (
        runner.invoke(main, ["outbox", "parked", "--subscriber", "playbook"], env=env).output == ""
    )
    replayed = runner.invoke(main, ["outbox", "replay", "--subscriber", "scoring"], env=env)
    assert replayed.output == "1 entries back in the outbox\n"
    assert runner.invoke(main, ["outbox", "parked"], env=env).output == ""
