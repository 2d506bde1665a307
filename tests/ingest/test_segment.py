"""The Segment-compatible surface, driven by the real `segment-analytics-python` and
`rudder-sdk-python` SDKs pointed at a running ingest, and by hand for every refusal."""

from __future__ import annotations

import asyncio
import base64
import gzip
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient
from sqlalchemy import select

from ingest.main import MIGRATIONS, create_app
from ingest.models import Interaction
from ingest.service import IngestService
from ingest.settings import IngestSettings
from relint.db import migrate
from relint_devstack.launcher import free_port

if TYPE_CHECKING:
    from tests.ingest.conftest import RunningIngest


@dataclass
class LiveIngest:
    url: str
    app: FastAPI
    loop: asyncio.AbstractEventLoop

    def call(self, coroutine: Any) -> Any:
        """Runs a coroutine on the server's own loop (its database engine lives there)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    @property
    def service(self) -> IngestService:
        service: IngestService = self.app.state.ingest
        return service


@pytest.fixture
def live_ingest(tmp_path: Path) -> Iterator[LiveIngest]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ingest.db'}"
    migrate(MIGRATIONS, url)
    app = create_app(
        IngestSettings(database_url=url, grpc_port=0, subscribers="scoring=127.0.0.1:9")
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    loops: list[asyncio.AbstractEventLoop] = []

    def serve() -> None:
        loop = asyncio.new_event_loop()
        loops.append(loop)
        loop.run_until_complete(server.serve())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "ingest did not start"
        time.sleep(0.02)
    yield LiveIngest(f"http://127.0.0.1:{port}", app, loops[0])
    server.should_exit = True
    thread.join(20)


def _key(
    live: LiveIngest, tenant: str = "acme", scopes: tuple[str, ...] = ("ingest:write",)
) -> str:
    issued = live.call(live.service.create_tenant_key(tenant, "web", list(scopes)))
    return str(issued.api_key)


def _interactions(live: LiveIngest) -> list[Interaction]:
    async def load() -> list[Interaction]:
        async with live.service.db.read() as session:
            return list((await session.execute(select(Interaction))).scalars())

    result: list[Interaction] = live.call(load())
    return result


SDKS = {
    "segment-gzip": lambda key, host, errors: SegmentClient(
        write_key=key, host=host, gzip=True, on_error=lambda e, b: errors.append(e)
    ),
    "segment-plain": lambda key, host, errors: SegmentClient(
        write_key=key, host=host, on_error=lambda e, b: errors.append(e)
    ),
    "rudderstack": lambda key, host, errors: RudderClient(
        write_key=key, host=host, on_error=lambda e, b: errors.append(e)
    ),
}


@pytest.mark.parametrize("sdk", list(SDKS))
def test_the_real_sdks_work_unchanged(live_ingest: LiveIngest, sdk: str) -> None:
    key = _key(live_ingest)
    live_ingest.call(
        live_ingest.service.replace_kind_mappings(
            live_ingest.call(live_ingest.service.tenant_id("acme")),
            [("marketing", "Newsletter Signup", "campaign_response")],
        )
    )
    errors: list[Exception] = []
    client = SDKS[sdk](key, live_ingest.url, errors)
    when = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    client.identify(
        "u-1",
        {"email": "Ana@Northwind.example", "firstName": "Ana", "lastName": "Lima", "plan": "pro"},
    )
    client.group(
        "u-1", "cust-42", {"name": "Northwind Traders", "website": "https://northwind.example"}
    )
    order = str(uuid.uuid4())
    client.track(
        "u-1",
        "Order Completed",
        {"revenue": 120.5, "currency": "eur", "order_id": "o-1"},
        context={"groupId": "cust-42"},
        timestamp=when,
        message_id=order,
    )
    client.track("u-1", "Order Completed", {"revenue": 120.5}, timestamp=when, message_id=order)
    client.track("u-1", "Newsletter Signup", {}, timestamp=when)  # the tenant's own kind
    client.track("u-1", "Unheard Of", {}, timestamp=when)  # refused in the answer, alone
    client.page("u-2", name="Pricing", properties={"url": "https://x.example/pricing"})
    client.flush()
    assert errors == []

    stored = _interactions(live_ingest)
    assert sorted((i.channel, i.kind) for i in stored) == [
        ("marketing", "campaign_response"),
        ("sales", "purchase"),
    ]
    purchase = next(i for i in stored if i.kind == "purchase")
    assert (purchase.amount_micros, purchase.amount_type, purchase.currency) == (
        120_500_000,
        "revenue",
        "EUR",
    )
    assert (purchase.source, purchase.source_id) == ("segment", order)
    assert purchase.occurred_at == when
    assert purchase.attributes["event"] == "Order Completed"
    # identify made the contact, group placed it at the account with its domain.
    tenant = live_ingest.call(live_ingest.service.tenant_id("acme"))
    [account] = live_ingest.call(live_ingest.service.customers_by_external_id(tenant, ["cust-42"]))
    assert account.name == "Northwind Traders"
    assert {i.customer_id for i in stored} == {account.id}
    profile = live_ingest.call(live_ingest.service.customer_profile(tenant, account.id))
    [contact] = profile.contacts
    assert (contact.email, contact.external_id, contact.name) == (
        "ana@northwind.example",
        "u-1",
        "Ana Lima",
    )
    assert contact.traits["plan"] == "pro"
    assert [(i.scheme, i.value) for i in profile.identifiers] == [("domain", "northwind.example")]
    assert purchase.contact_id == contact.id


@pytest.fixture
async def app(tmp_path: Path, running_ingest: RunningIngest) -> AsyncIterator[FastAPI]:
    async with running_ingest(f"sqlite+aiosqlite:///{tmp_path / 'ingest.db'}") as application:
        yield application


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://ingest"
    ) as client:
        yield client


async def _basic(app: FastAPI, scopes: tuple[str, ...] = ("ingest:write",)) -> dict[str, str]:
    service: IngestService = app.state.ingest
    issued = await service.create_tenant_key("acme", "web", list(scopes))
    token = base64.b64encode(f"{issued.api_key}:".encode()).decode()
    return {"Authorization": f"Basic {token}"}


TRACK = {
    "type": "track",
    "messageId": "m-1",
    "userId": "u-1",
    "event": "Order Completed",
    "properties": {"revenue": "19.99"},
    "context": {"groupId": "cust-1"},
    "timestamp": "2026-05-04T10:00:00Z",
}


async def test_a_batch_stores_the_good_and_names_the_bad(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    auth = await _basic(app)
    batch = {
        "batch": [
            TRACK,
            {**TRACK, "messageId": "m-2", "timestamp": "1969-12-31T00:00:00Z"},
            {**TRACK, "messageId": "m-3", "type": "teleport"},
            {**TRACK, "messageId": "m-4", "properties": {"sentiment": 7}},
            {"type": "group", "messageId": "m-5", "userId": "u-1"},
            "not a message",
            {**TRACK, "messageId": "m-7", "properties": {"note": "a\x00"}},
            {"type": "identify", "messageId": "m-8", "userId": "u-2", "traits": {"name": "A\x00"}},
        ]
    }
    reply = await http.post("/v1/batch", json=batch, headers=auth)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["success"], body["accepted"], body["duplicates"]) == (True, 1, 0)
    reasons = {r["index"]: r["errors"][0] for r in body["rejected"]}
    assert reasons[1]["path"] == "timestamp"
    assert reasons[2] == {
        "path": "type",
        "message": "unknown message type 'teleport': expected track, page, screen, identify, "
        "group or alias",
    }
    assert reasons[3]["path"] == "properties.sentiment"
    assert reasons[4] == {"path": "groupId", "message": "a group call needs a groupId"}
    assert reasons[5]["path"] == "(message)"
    # PostgreSQL's text cannot hold the NUL character: the message is refused, not the batch.
    assert reasons[6]["path"] == "properties.note"
    assert reasons[7] == {
        "path": "traits.name",
        "message": "must not contain the NUL character (\\u0000)",
    }
    again = await http.post("/v1/batch", json={"batch": [TRACK]}, headers=auth)
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 1)


async def test_a_messageid_used_again_for_another_event_is_refused_not_retried(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    """A retry repeats its message and answers as a duplicate. The same messageId with
    another event is refused, naming what differs; the stored interaction stands. A message
    without a time of its own takes the time it is sent, which each retry changes: that is
    still a retry."""
    auth = await _basic(app)
    untimed = {k: v for k, v in TRACK.items() if k != "timestamp"} | {"messageId": "m-2"}
    first = await http.post(
        "/v1/batch",
        json={"batch": [TRACK, {**untimed, "sentAt": "2026-05-04T10:00:00Z"}]},
        headers=auth,
    )
    assert first.json()["accepted"] == 2, first.text
    reused = {**TRACK, "properties": {"revenue": "25.00"}}
    retried = {**untimed, "sentAt": "2026-05-04T10:05:00Z"}
    reply = await http.post("/v1/batch", json={"batch": [TRACK, reused, retried]}, headers=auth)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["accepted"], body["duplicates"]) == (0, 2)
    [refused] = body["rejected"]
    assert (refused["index"], refused["messageId"]) == (1, "m-1")
    [error] = refused["errors"]
    assert error["path"] == "messageId"
    assert "differs in amount, attributes" in error["message"]
    assert "a stored interaction is never changed" in error["message"]
    service: IngestService = app.state.ingest
    tenant = await service.tenant_id("acme") or ""
    [customer] = await service.list_customers(tenant, "", 10)
    assert customer.interaction_count == 2


async def test_write_key_by_basic_auth_bearer_or_body(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    basic = await _basic(app)
    key = base64.b64decode(basic["Authorization"].split()[1]).decode().rstrip(":")
    body = {"batch": [TRACK]}
    assert (await http.post("/v1/batch", json=body, headers=basic)).status_code == 200
    bearer = {"Authorization": f"Bearer {key}"}
    assert (await http.post("/v1/batch", json=body, headers=bearer)).status_code == 200
    assert (await http.post("/v1/batch", json={**body, "writeKey": key})).status_code == 200
    missing = await http.post("/v1/batch", json=body)
    assert (missing.status_code, missing.json()["code"]) == (401, "unauthorized")
    wrong = base64.b64encode(b"rik_0000000000000000_nope:").decode()
    bad = await http.post("/v1/batch", json=body, headers={"Authorization": f"Basic {wrong}"})
    assert (bad.status_code, bad.json()["message"]) == (401, "invalid or revoked write key")
    garbled = await http.post("/v1/batch", json=body, headers={"Authorization": "Basic %%%"})
    assert garbled.status_code == 401
    reader = await _basic(app, ("graph:read",))
    assert (await http.post("/v1/batch", json=body, headers=reader)).status_code == 403


async def test_bodies_that_cannot_be_read_are_refused_whole(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    auth = {**await _basic(app), "Content-Type": "application/json"}

    async def post(content: bytes, encoding: str | None = None) -> httpx.Response:
        headers = {**auth, **({"Content-Encoding": encoding} if encoding else {})}
        return await http.post("/v1/batch", content=content, headers=headers)

    broken = await post(b'{"batch": [')
    assert (broken.status_code, broken.json()["code"]) == (400, "invalid_json")
    assert "line 1, column 12" in broken.json()["message"]
    assert (await post(b"not gzip", "gzip")).json()["code"] == "invalid_gzip"
    assert (await post(gzip.compress(b"{}"), "br")).status_code == 415
    bomb = gzip.compress(b'{"batch": ["' + b"a" * (600 * 1024) + b'"]}')
    assert len(bomb) < 10_000
    assert (await post(bomb, "gzip")).status_code == 413
    assert (await post(b"[]")).json()["code"] == "invalid_request"
    empty = await post(b'{"batch": []}')
    assert (empty.status_code, empty.json()["code"]) == (400, "invalid_request")
    ok = await post(gzip.compress(b'{"batch": [{"type": "identify", "userId": "u-9"}]}'), "gzip")
    assert ok.json()["updated"] == 1
    service: IngestService = app.state.ingest
    async with service.db.read() as session:
        assert list((await session.execute(select(Interaction))).scalars()) == []


async def test_single_calls_answer_for_their_one_message(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    auth = await _basic(app)
    fields = {k: v for k, v in TRACK.items() if k != "type"}
    reply = await http.post("/v1/track", json=fields, headers=auth)
    assert reply.status_code == 200
    assert reply.json()["accepted"] == 1
    refused = await http.post("/v1/track", json={**fields, "event": ""}, headers=auth)
    assert refused.status_code == 400
    assert refused.json() == {
        "code": "invalid_message",
        "message": "event: a track call needs an event name",
        "success": False,
    }
    identified = await http.post(
        "/v1/identify", json={"userId": "u-1", "traits": {"email": "x@acme.example"}}, headers=auth
    )
    assert identified.json()["updated"] == 1
    aliased = await http.post(
        "/v1/alias", json={"previousId": "u-1", "userId": "user-1"}, headers=auth
    )
    assert aliased.status_code == 200
    service: IngestService = app.state.ingest
    tenant = await service.tenant_id("acme")
    [customer] = await service.customers_by_external_id(tenant or "", ["cust-1"])
    profile = await service.customer_profile(tenant or "", customer.id)
    assert profile is not None
    assert [(c.external_id, c.email) for c in profile.contacts] == [("user-1", "x@acme.example")]
    # Refunds are money going back: the amount is kept positive with its meaning.
    refund = {**fields, "messageId": "r-1", "event": "Order Refunded", "properties": {"total": -5}}
    assert (await http.post("/v1/track", json=refund, headers=auth)).status_code == 200
    async with service.db.read() as session:
        stored = (
            await session.execute(select(Interaction).where(Interaction.source_id == "r-1"))  # type: ignore[arg-type]
        ).scalar_one()
    assert (stored.channel, stored.kind, stored.amount_type, stored.amount_micros) == (
        "finance",
        "refund",
        "refund",
        int(Decimal(5) * 1_000_000),
    )
    assert stored.currency == "USD"


def _refused_count(text: str, kind: str) -> float:
    line = f'relint_segment_messages_refused_total{{type="{kind}"}} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


async def test_refusals_inside_a_200_are_logged_and_counted(
    app: FastAPI, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The partner reads them in `rejected`; the operator sees them in the log (without the
    key or the message) and in a counter, by message type."""
    auth = await _basic(app)
    key = base64.b64decode(auth["Authorization"].split()[1]).decode().rstrip(":")
    before = (await http.get("/metrics")).text
    secret = "private-note-4711"
    batch = {
        "batch": [
            {**TRACK, "messageId": "m-1", "event": "Teleported", "properties": {"n": secret}},
            {**TRACK, "messageId": "m-2", "type": "teleport"},
            {"type": "group", "messageId": "m-3", "userId": "u-1"},
            TRACK,
        ]
    }
    with caplog.at_level(logging.WARNING, logger="ingest.segment_api"):
        reply = await http.post("/v1/batch", json=batch, headers=auth)
    assert reply.status_code == 200, reply.text
    assert [r["index"] for r in reply.json()["rejected"]] == [0, 1, 2]
    tenant = await app.state.ingest.tenant_id("acme")
    records = [r for r in caplog.records if r.name == "ingest.segment_api"]
    assert [r.levelno for r in records] == [logging.WARNING] * 3
    logged = [r.getMessage() for r in records]
    assert all(f"tenant {tenant}" in line for line in logged)
    assert "type track" in logged[0]
    assert "'Teleported' is not a kind of channel 'marketing'" in logged[0]
    assert "type unknown" in logged[1]
    assert "type group" in logged[2]
    assert "a group call needs a groupId" in logged[2]
    assert not any(key in line or secret in line for line in logged)
    after = (await http.get("/metrics")).text
    for kind, refused in (("track", 1), ("unknown", 1), ("group", 1)):
        assert _refused_count(after, kind) - _refused_count(before, kind) == refused
