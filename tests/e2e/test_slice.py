"""The slice, end to end, with the four services as real processes: an interaction POSTed to
ingest is stored with its outbox record, delivered to scoring over gRPC, scored, and read
back through the gateway's graph. Once on the embedded default (SQLite) and once on the
production stores (PostgreSQL and Redis); then a trace that crosses every hop."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from click.testing import CliRunner
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gateway.settings import GatewaySettings
from playbook.cli import main as playbook_cli
from relint_devstack.launcher import SERVICES, Stack, metric
from scoring.domain import Touch, contribution

pytestmark = pytest.mark.e2e
# Recent, so that the value read back has hardly faded.
OCCURRED = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)

QUERY = """query ($ref: String!) {
  customer(externalId: $ref) {
    name interactionCount
    relationship { value interactionCount
      explanation { sentence drivers { reason } } }
    recentInteractions(limit: 5) { kind channel sentiment }
  }
}"""


def _interaction(source_id: str, kind: str, sentiment: float) -> dict[str, Any]:
    return {
        "customer": {"external_id": "acme", "name": "Acme Ltd"},
        "occurred_at": OCCURRED.isoformat(),
        "channel": "sales" if kind == "purchase" else "service",
        "kind": kind,
        "direction": "inbound",
        "sentiment": sentiment,
        "source": "crm",
        "source_id": source_id,
        **(
            {"amount": "1200.00", "amount_type": "revenue", "currency": "EUR"}
            if kind == "purchase"
            else {}
        ),
    }


def _graph(stack: Stack, key: str) -> dict[str, Any]:
    reply = httpx.post(
        stack.url("gateway") + "/graphql",
        json={"query": QUERY, "variables": {"ref": "acme"}},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    assert "errors" not in body, body
    return body


def _wait_for_count(stack: Stack, key: str, count: int, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        customer = _graph(stack, key)["data"]["customer"]
        relationship = customer and customer["relationship"]
        if relationship and relationship["interactionCount"] == count:
            return customer  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"not scored after {timeout}s: {customer}"
        time.sleep(0.2)


def _a_change_made_past_the_gateway_shows_within_seconds(
    stack: Stack, key: str, headers: dict[str, str]
) -> None:
    """The gateway keeps what it read of a customer for up to 30 s, but follows scoring's
    feed of changes: an interaction sent straight to ingest shows in a few seconds."""
    assert GatewaySettings().entity_cache_seconds == 30
    before = _graph(stack, key)["data"]["customer"]  # read twice: the second from the cache
    assert _graph(stack, key)["data"]["customer"] == before
    count = before["relationship"]["interactionCount"]
    forgotten = _forgotten(stack)
    reply = _send(stack, headers, _interaction("deal-past-the-gateway", "purchase", 0.4))
    assert reply.status_code == 201, reply.text
    # Within half the cache's lifetime: it was told.
    after = _wait_for_count(stack, key, count + 1, timeout=15)
    assert after["interactionCount"] == before["interactionCount"] + 1
    assert len(after["recentInteractions"]) == len(before["recentInteractions"]) + 1
    assert _forgotten(stack) > forgotten  # the feed said the customer changed


def _forgotten(stack: Stack) -> float:
    """How many customers the gateway has forgotten because they changed."""
    return metric(stack, "gateway", "relint_gateway_entity_cache_forgotten_customers_total")


def _send(stack: Stack, headers: dict[str, str], interaction: dict[str, Any]) -> httpx.Response:
    """One interaction, POSTed straight to ingest."""
    return httpx.post(
        stack.url("ingest") + "/v1/interactions", json=interaction, headers=headers, timeout=10
    )


def _health(stack: Stack, service: str) -> int:
    with grpc.insecure_channel(stack.grpc_target(service)) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5
        )
        return int(reply.status)


def _exercise_the_slice(stack: Stack) -> None:
    stack.migrate()
    issued = stack.issue_key("acme-corp", "crm", ("ingest:write", "graph:read"))
    key = str(issued["api_key"])
    headers = {"Authorization": f"Bearer {key}"}
    with stack.running():
        for service in SERVICES:
            assert _health(stack, service) == health_pb2.HealthCheckResponse.SERVING

        first = _send(stack, headers, _interaction("deal-1", "purchase", 0.6))
        assert first.status_code == 201, first.text
        batch = httpx.post(
            stack.url("ingest") + "/v1/interactions:batch",
            json={
                "interactions": [
                    _interaction("ticket-9", "complaint", -0.8),
                    _interaction("deal-1", "purchase", 0.6),  # the retry of a duplicate
                    {"channel": "nowhere"},
                ]
            },
            headers=headers,
            timeout=10,
        )
        assert batch.status_code == 200, batch.text
        statuses = [item["status"] for item in batch.json()["results"]]
        assert statuses == ["accepted", "duplicate", "rejected"]

        customer = _wait_for_count(stack, key, 2)
        expected = contribution(Touch("purchase", 0.6, 1200.0)) + contribution(
            Touch("complaint", -0.8, 0.0)
        )
        assert customer["name"] == "Acme Ltd"
        # Read moments later, the contributions have faded by a few minutes' worth.
        assert customer["relationship"]["value"] == pytest.approx(expected, rel=1e-4)
        explained = customer["relationship"]["explanation"]
        assert explained["sentence"].startswith("It fell 5.5 points: ")
        assert [d["reason"] for d in explained["drivers"]] == [
            "complaint with very negative words",
            "purchase with warm words",
        ]
        assert [i["kind"] for i in customer["recentInteractions"]] in (
            ["purchase", "complaint"],
            ["complaint", "purchase"],
        )

        # Another tenant's key sees nothing of acme-corp.
        other = str(stack.issue_key("other-corp", "crm", ("graph:read",))["api_key"])
        assert _graph(stack, other)["data"]["customer"] is None

        _another_tenant_sees_nothing(stack, key, other)
        asyncio.run(_subscriptions_follow_the_tenants_changes(stack, headers, key, other))
        _exercise_the_playbook(stack, headers, str(other))
        _a_change_made_past_the_gateway_shows_within_seconds(stack, key, headers)

        processes = dict(stack.processes)
    codes = {name: process.returncode for name, process in processes.items()}
    assert codes == dict.fromkeys(SERVICES, 0), "a service did not stop cleanly on SIGTERM"


def _ask(stack: Stack, key: str, query: str, **variables: Any) -> dict[str, Any]:
    reply = httpx.post(
        stack.url("gateway") + "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


def _another_tenant_sees_nothing(stack: Stack, key: str, other: str) -> None:
    """Every entry point, with acme's own ids, under another tenant's key: nothing."""
    mine = _ask(stack, key, '{ customer(externalId: "acme") { id customerId } }')["customer"]
    entry_points = """query ($id: ID!, $raw: ID!) {
      node(id: $id) { id }
      byGlobal: customer(id: $id) { id }
      byRaw: customer(id: $raw) { id }
      byExternal: customer(externalId: "acme") { id }
      customers(first: 100) { edges { node { id } } }
      alerts(limit: 100) { id }
      atRisk(limit: 100) { id }
      worklist(limit: 100) { customerId }
    }"""
    seen = _ask(stack, other, entry_points, id=mine["id"], raw=mine["customerId"])
    assert seen == {
        "node": None,
        "byGlobal": None,
        "byRaw": None,
        "byExternal": None,
        "customers": {"edges": []},
        "alerts": [],
        "atRisk": [],
        "worklist": [],
    }
    # The same query under acme's key finds it: the test is not vacuous.
    own = _ask(stack, key, entry_points, id=mine["id"], raw=mine["customerId"])
    assert own["node"] == own["byGlobal"] == own["byRaw"] == {"id": mine["id"]}


CHANGES = """subscription ($customer: ID) {
  relationshipChanged(customerId: $customer) { customerId relationship { interactionCount } }
}"""


async def _subscribe(stack: Stack, key: str, query: str, **variables: Any) -> ClientConnection:
    """A graphql-transport-ws subscription authenticated in connection_init, as browsers do."""
    url = stack.url("gateway").replace("http://", "ws://") + "/graphql"
    socket = await connect(url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": key}}))
    assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "connection_ack"
    message = {"query": query, "variables": variables}
    await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": message}))
    return socket


async def _subscriptions_follow_the_tenants_changes(
    stack: Stack, headers: dict[str, str], key: str, other: str
) -> None:
    """A change to acme's relationship reaches acme's subscribers and nobody else's; a
    socket without a key is refused."""
    customer = _ask(stack, key, '{ customer(externalId: "acme") { id customerId } }')
    mine = customer["customer"]
    everything = await _subscribe(stack, f"Bearer {key}", CHANGES)
    only_acme = await _subscribe(stack, f"Bearer {key}", CHANGES, customer=mine["id"])
    elsewhere = await _subscribe(stack, f"Bearer {other}", CHANGES)
    await asyncio.sleep(1.5)  # the relay reads the feed from its start: let a pass go by
    sent = _send(stack, headers, _interaction("deal-2", "purchase", 0.2))
    assert sent.status_code == 201, sent.text
    for socket in (everything, only_acme):
        while True:  # earlier changes may come first; wait for the one with the complaint
            event = json.loads(await asyncio.wait_for(socket.recv(), 20))
            assert event["type"] == "next", event
            change = event["payload"]["data"]["relationshipChanged"]
            assert change["customerId"] == mine["customerId"]
            if change["relationship"]["interactionCount"] == 3:
                break
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(elsewhere.recv(), 3)
    for socket in (everything, only_acme, elsewhere):
        await socket.close()

    anonymous = await connect(
        stack.url("gateway").replace("http://", "ws://") + "/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
    )
    await anonymous.send(json.dumps({"type": "connection_init", "payload": {}}))
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(anonymous.recv(), 10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


def _exercise_the_playbook(stack: Stack, headers: dict[str, str], other: str) -> None:
    """Ingest delivers to the playbook too: the complaint is owed an answer within a day;
    a team publishes its playbook from a YAML file with the CLI and reads it back."""
    deadline = time.monotonic() + 30
    while True:
        work = httpx.get(stack.url("playbook") + "/v1/worklist", headers=headers, timeout=10)
        assert work.status_code == 200, work.text
        owed = {a["standard_key"]: a for a in work.json()["actions"]}
        if "answer-complaints" in owed:
            break
        assert time.monotonic() < deadline, f"no obligation after 30 s: {work.json()}"
        time.sleep(0.2)
    answer = owed["answer-complaints"]
    assert answer["title"] == "First response to service complaint #ticket-9"
    assert answer["due_at"] == (OCCURRED + timedelta(hours=24)).isoformat().replace("+00:00", "Z")
    elsewhere = httpx.get(
        stack.url("playbook") + "/v1/worklist",
        headers={"Authorization": f"Bearer {other}"},
        timeout=10,
    )
    assert elsewhere.json() == {"actions": []}

    admin = str(stack.issue_key("acme-corp", "console", ("admin",))["api_key"])
    options = ["--url", stack.url("playbook"), "--key", admin]
    runner = CliRunner()
    exported = runner.invoke(playbook_cli, ["export", *options])
    assert exported.exit_code == 0, exported.output
    path = stack.data_dir / "playbook.yaml"
    path.write_text(exported.output.replace("within_hours: 24\n", "within_hours: 12\n"))
    assert runner.invoke(playbook_cli, ["check", str(path)]).exit_code == 0
    published = runner.invoke(playbook_cli, ["import", str(path), *options])
    assert published.exit_code == 0, published.output
    assert published.output.startswith("published version 1")
    again = runner.invoke(playbook_cli, ["export", *options])
    assert again.output == path.read_text()
    path.write_text(again.output.replace("within_hours: 12\n", "within_hours: -1\n"))
    refused = runner.invoke(playbook_cli, ["import", str(path), *options])
    assert refused.exit_code == 1
    assert "standards[0].rule.within_hours: line " in refused.output


def test_the_slice_on_the_embedded_default(tmp_path: Path) -> None:
    _exercise_the_slice(Stack.on_free_ports(tmp_path))


@pytest.mark.postgres
def test_the_slice_on_postgresql_and_redis(
    tmp_path: Path, postgres_databases: Any, redis_url: str
) -> None:
    urls = {name: postgres_databases.create(name) for name in ("ingest", "scoring", "playbook")}
    _exercise_the_slice(Stack.on_free_ports(tmp_path, database_urls=urls, redis_url=redis_url))


class _Collector:
    """A minimal OTLP/HTTP receiver: keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, bytes]] = []  # (service, span name, trace id)
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                with collector._lock:
                    for resource_spans in request.resource_spans:
                        service = next(
                            (
                                a.value.string_value
                                for a in resource_spans.resource.attributes
                                if a.key == "service.name"
                            ),
                            "",
                        )
                        for scope in resource_spans.scope_spans:
                            for span in scope.spans:
                                collector.spans.append((service, span.name, span.trace_id))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def snapshot(self) -> list[tuple[str, str, bytes]]:
        with self._lock:
            return list(self.spans)


@pytest.fixture
def collector() -> Iterator[_Collector]:
    running = _Collector()
    yield running
    running.server.shutdown()


def test_one_trace_crosses_ingest_and_scoring(tmp_path: Path, collector: _Collector) -> None:
    stack = Stack.on_free_ports(
        tmp_path,
        extra_env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        },
    )
    stack.migrate()
    key = str(stack.issue_key("acme-corp", "crm", ("ingest:write", "graph:read"))["api_key"])
    with stack.running():
        reply = _send(
            stack, {"Authorization": f"Bearer {key}"}, _interaction("deal-1", "purchase", 0.6)
        )
        assert reply.status_code == 201, reply.text
        _wait_for_count(stack, key, 1)
        deadline = time.monotonic() + 20
        while True:
            spans = collector.snapshot()
            posts = [t for s, n, t in spans if s == "ingest" and n.startswith("POST /v1/inter")]
            applies = [
                t for s, n, t in spans if s == "scoring" and n == "scoring apply interaction"
            ]
            if posts and applies:
                break
            assert time.monotonic() < deadline, (
                f"spans seen: {sorted({(s, n) for s, n, _ in spans})}"
            )
            time.sleep(0.2)
    assert applies[0] in posts, "scoring's span is not in the trace of the POST that caused it"
    # The gateway's read reaches scoring over gRPC inside the trace of the GraphQL request.
    spans = collector.snapshot()
    graphql = {t for s, n, t in spans if s == "gateway" and n.startswith("POST /graphql")}
    reads = {t for s, n, t in spans if s == "scoring" and n.endswith("/BatchGetRelationships")}
    assert graphql & reads, sorted({(s, n) for s, n, _ in spans})
