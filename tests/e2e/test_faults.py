"""Faults: scoring is killed in the middle of a stream of 20,000 interactions and started
again. Ingest keeps accepting meanwhile; afterwards every interaction that got a success
answer is stored once and applied once — none lost, none doubled."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import grpc
import psycopg
import pytest

from relint.contracts.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from relint.contracts.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from relint_devstack.demo import DemoConfig, generate
from relint_devstack.demo_cli import LoadReport, load_async
from relint_devstack.launcher import Stack, delivered_to
from relint_devstack.pgcluster import private_postgres

pytestmark = pytest.mark.e2e

INTERACTIONS = 20_000


def _customers(stack: Stack, tenant: str) -> list[ingest_pb2.Customer]:
    found: list[ingest_pb2.Customer] = []
    token = ""
    with grpc.insecure_channel(stack.grpc_target("ingest")) as channel:
        stub = ingest_pb2_grpc.CustomerServiceStub(channel)
        while True:
            page = stub.ListCustomers(
                ingest_pb2.ListCustomersRequest(tenant_id=tenant, page_size=500, page_token=token),
                timeout=10,
            )
            found += page.customers
            token = page.next_page_token
            if not token:
                return found


def _applied(stack: Stack, tenant: str, ids: list[str]) -> int:
    with grpc.insecure_channel(stack.grpc_target("scoring")) as channel:
        stub = scoring_pb2_grpc.RelationshipServiceStub(channel)
        reply = stub.BatchGetRelationships(
            scoring_pb2.BatchGetRelationshipsRequest(tenant_id=tenant, customer_ids=ids),
            timeout=10,
        )
    return sum(r.interaction_count for r in reply.relationships)


def test_killing_scoring_mid_stream_loses_and_doubles_nothing(tmp_path: Path) -> None:
    _, stream = generate(DemoConfig(customers=120, seed=5))
    items = [item for _, item in zip(range(INTERACTIONS), stream, strict=False)]
    assert len(items) == INTERACTIONS
    stack = Stack.on_free_ports(tmp_path)
    stack.migrate()
    issued = stack.issue_key("acme", "crm", ("ingest:write",))
    key, tenant = str(issued["api_key"]), str(issued["tenant_id"])
    first_half, second_half = items[:8_000], items[8_000:]
    reports: list[LoadReport] = []

    def push(part: list[dict[str, object]]) -> None:
        reports.append(asyncio.run(load_async(stack.url("ingest"), key, part, concurrency=2)))

    with stack.running():
        push(first_half)
        while delivered_to(stack, "scoring") < 1_000:
            time.sleep(0.05)
        # Scoring dies while deliveries are in flight and the second half is being sent.
        loader = threading.Thread(target=push, args=(second_half,))
        loader.start()
        stack.processes["scoring"].kill()
        stack.processes["scoring"].wait(10)
        time.sleep(2)  # ingest keeps accepting; its relay retries against a dead peer
        stack.start_service("scoring")
        stack.wait_ready(60)
        loader.join(300)
        assert not loader.is_alive()
        totals = [(r.accepted, r.duplicates, r.rejected) for r in reports]
        assert totals == [(8_000, 0, 0), (INTERACTIONS - 8_000, 0, 0)]

        deadline = time.monotonic() + 120
        while delivered_to(stack, "scoring") < INTERACTIONS:
            assert time.monotonic() < deadline, "the outbox did not drain"
            time.sleep(0.2)
        customers = _customers(stack, tenant)
        assert sum(c.interaction_count for c in customers) == INTERACTIONS  # stored once
        assert _applied(stack, tenant, [c.id for c in customers]) == INTERACTIONS  # applied once


def _pending(url: str) -> int:
    """Entries ingest's outbox still holds for scoring (for the failure message)."""
    with psycopg.connect(url.replace("+psycopg", ""), connect_timeout=5) as db:
        row = db.execute(
            "SELECT count(*) FROM outbox_entry WHERE subscriber = 'scoring'"
        ).fetchone()
    return int(row[0]) if row else 0


def _logs(stack: Stack) -> str:
    return "\n".join(f"--- {s}\n{stack.log_tail(s, 15)}" for s in ("ingest", "scoring"))


@pytest.mark.postgres
def test_postgresql_restart_mid_load_loses_and_doubles_nothing(
    tmp_path: Path, redis_url: str
) -> None:
    """The PostgreSQL server every service uses goes away for two seconds while a partner
    pushes a stream and ingest delivers it to scoring. Ingest answers 503 with Retry-After
    meanwhile and the loader retries; the relay and scoring reconnect. Afterwards every
    success answer is stored once and applied once."""
    # Long enough that the load is still going when 1,500 have reached scoring: a tenant's
    # batches are stored one at a time, and 6,000 were sometimes all accepted by then.
    _, stream = generate(DemoConfig(customers=150, seed=11))
    items = [item for _, item in zip(range(15_000), stream, strict=False)]
    total = len(items)
    assert total == 15_000
    with private_postgres(tmp_path / "postgres", down_seconds=2.0) as cluster:
        urls = {name: cluster.create_database(name) for name in ("ingest", "scoring", "playbook")}
        stack = Stack.on_free_ports(tmp_path / "stack", database_urls=urls, redis_url=redis_url)
        stack.migrate()
        issued = stack.issue_key("acme", "crm", ("ingest:write",))
        key, tenant = str(issued["api_key"]), str(issued["tenant_id"])
        reports: list[LoadReport] = []
        failures: list[BaseException] = []

        def push() -> None:
            try:
                reports.append(
                    asyncio.run(load_async(stack.url("ingest"), key, items, concurrency=2))
                )
            except BaseException as error:  # re-raised below, in the test's own thread
                failures.append(error)

        with stack.running():
            loader = threading.Thread(target=push)
            loader.start()
            deadline = time.monotonic() + 60
            while delivered_to(stack, "scoring") < 1_500:
                assert loader.is_alive() or reports, f"the load stopped: {failures}"
                assert time.monotonic() < deadline, "nothing was delivered\n" + _logs(stack)
                time.sleep(0.05)
            assert loader.is_alive(), "the load finished before the outage: it proves nothing"
            cluster.restart()  # connections cut; away for down_seconds; back
            loader.join(120)
            assert not loader.is_alive(), "the loader hangs\n" + _logs(stack)
            assert not failures, f"the load failed: {failures[0]!r}\n" + _logs(stack)
            [report] = reports
            # A batch whose commit went through just before its connection was cut is
            # answered, on its retry, as duplicates: every item got a success answer once.
            assert (report.accepted + report.duplicates, report.rejected) == (total, 0), report
            assert report.retries > 0, "the outage was not felt: the test proves nothing"

            # Drained when the outbox is empty (the delivered counter can fall short by a
            # batch whose acknowledgement committed as the connection was cut).
            deadline = time.monotonic() + 60
            while pending := _pending(urls["ingest"]):
                assert time.monotonic() < deadline, (
                    f"the outbox did not drain: {pending} pending\n" + _logs(stack)
                )
                time.sleep(0.2)
            customers = _customers(stack, tenant)
            assert sum(c.interaction_count for c in customers) == total  # stored once
            assert _applied(stack, tenant, [c.id for c in customers]) == total  # applied once
            assert stack.exited() == {}, "a service died with its database\n" + _logs(stack)
