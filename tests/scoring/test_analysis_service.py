"""The analysis use cases against real SQLite and real PostgreSQL, through the real gRPC
servicer (in process, port 0) and the REST routes: what the apply path stores for them, as-of
reads, tenant isolation, and precise refusals of bad arguments."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from fastapi import FastAPI
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select

from relint.auth import SCOPE_GRAPH_READ, Principal
from relint.contracts.scoring.v1 import analysis_pb2, analysis_pb2_grpc
from relint.db import Database, migrate, table_of
from relint.grpc_server import GrpcServer
from scoring import analysis, analysis_api, analysis_grpc
from scoring.analysis import InvalidAnalysis
from scoring.analysis_service import AnalysisService
from scoring.main import MIGRATIONS, create_app
from scoring.models import AppliedInteraction
from scoring.repository import ScoringRepository
from scoring.service import Delivered, ScoringService
from scoring.settings import ScoringSettings

T0 = datetime(2026, 1, 5, 10, tzinfo=UTC)
AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
KEYS = {
    "reader": Principal("t1", "crm", frozenset({SCOPE_GRAPH_READ})),
    "writer-only": Principal("t1", "crm", frozenset({"graph:write"})),
}
READER = {"Authorization": "Bearer reader"}


class FakeKeyVerifier:
    async def verify(self, key: str) -> Principal | None:
        return KEYS.get(key)


def item(
    n: int,
    customer: str,
    kind: str,
    at: datetime,
    *,
    tenant: str = "t1",
    channel: str = "sales",
    revenue: float = 0.0,
    cost: float = 0.0,
    employee: str | None = "ana",
    issue_type: str | None = None,
    text: str | None = None,
    direction: str = "inbound",
) -> Delivered:
    return Delivered(
        interaction_id=f"{tenant}-{customer}-{n}",
        tenant_id=tenant,
        customer_id=customer,
        occurred_at=at,
        channel=channel,
        kind=kind,
        revenue=revenue,
        cost=cost,
        employee=employee,
        issue_type=issue_type,
        text=text,
        direction=direction,
    )


def history() -> list[Delivered]:
    """Two partners, three acquaintances (one lost after an outage), and another tenant."""
    items: list[Delivered] = []
    for i, customer in enumerate(("p1", "p2")):
        for month in range(5):
            at = T0 + month * 30 * DAY + i * DAY
            revenue = 1000.0 - 100 * i
            items.append(item(month, customer, "purchase", at, revenue=revenue, employee="bo"))
            items.append(
                item(
                    10 + month,
                    customer,
                    "check_in",
                    at + DAY,
                    channel="service",
                    cost=30.0,
                    employee="bo",
                )
            )
        items.append(
            item(
                30,
                customer,
                "ticket_resolved",
                T0 + 10 * DAY,
                channel="service",
                issue_type="feature_request",
                direction="outbound",
                employee="bo",
            )
        )
        items.append(item(31, customer, "upsell", T0 + 20 * DAY, revenue=500.0, employee="bo"))
        items.append(
            item(32, customer, "referral", T0 + 40 * DAY, channel="community", employee=None)
        )
    for i, customer in enumerate(("a1", "a2", "a3")):
        items.append(item(0, customer, "purchase", T0 + i * DAY, revenue=100.0))
        items.append(
            item(
                1,
                customer,
                "ticket_opened",
                T0 + 5 * DAY,
                channel="service",
                cost=10.0,
                issue_type="how_to",
                text="How do we export the report? " + "x" * 2500,
            )
        )
    items.append(
        item(
            2,
            "a3",
            "ticket_opened",
            T0 + 40 * DAY,
            channel="service",
            cost=10.0,
            issue_type="outage",
        )
    )
    items.append(item(3, "a3", "complaint", T0 + 45 * DAY, channel="service"))
    items.append(item(4, "a3", "cancellation", T0 + 50 * DAY))
    items.append(item(0, "big", "purchase", T0, tenant="t2", revenue=1_000_000.0))
    return items


def change(customer: str, dimension: str, at: datetime, current: str) -> dict[str, Any]:
    return {
        "id": f"{customer}-{dimension}-{at.isoformat()}",
        "tenant_id": "t1",
        "customer_id": customer,
        "dimension": dimension,
        "at": at,
        "previous": None,
        "current": current,
        "reason": "test",
    }


async def seed(db: Database) -> None:
    """Applies the history, then places the customers: every one an acquaintance at first,
    p1 and p2 partners from day 30; a3 terminating from its cancellation, the rest bonding."""
    await ScoringService(db).apply(history())
    changes = []
    types = {}
    for customer in ("p1", "p2", "a1", "a2", "a3"):
        changes.append(change(customer, "type", T0 + DAY, "acquaintance"))
        types[customer] = "acquaintance"
    for customer in ("p1", "p2"):
        changes.append(change(customer, "type", T0 + 30 * DAY, "partner"))
        types[customer] = "partner"
    stages = {c: ("bonding", T0 + 2 * DAY) for c in ("p1", "p2", "a1", "a2")}
    stages["a3"] = ("terminating", T0 + 50 * DAY)
    changes.append(change("a3", "stage", T0 + 2 * DAY, "bonding"))
    for customer, (stage, since) in stages.items():
        changes.append(change(customer, "stage", since, stage))
    async with db.transaction() as session:
        repo = ScoringRepository(session)
        await repo.insert_state_changes(changes)
        await repo.set_types("t1", [(c, t, "test", T0) for c, t in types.items()], T0)
        await repo.save_stages(
            "t1",
            [
                (customer, {"stage": stage, "stage_since": since, "dirty_since": None}, None)
                for customer, (stage, since) in stages.items()
            ],
        )


@dataclass
class Stack:
    db: Database
    analysis: AnalysisService
    grpc: analysis_pb2_grpc.AnalysisServiceStub
    http: httpx.AsyncClient


@pytest.fixture
async def stack(
    database_factory: Callable[[Path, str], Awaitable[Database]],
) -> AsyncIterator[Stack]:
    db = await database_factory(MIGRATIONS, "scoring")
    await seed(db)
    service = AnalysisService(db)
    server = GrpcServer("127.0.0.1", 0)
    analysis_grpc.register(server, service)
    port = await server.start()
    app = FastAPI()
    app.include_router(analysis_api.router)
    app.state.analysis = service
    app.state.key_verifier = FakeKeyVerifier()
    try:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://scoring"
            ) as http,
        ):
            yield Stack(db, service, analysis_pb2_grpc.AnalysisServiceStub(channel), http)
    finally:
        await server.stop(0)


def stamp(at: datetime) -> Timestamp:
    found = Timestamp()
    found.FromDatetime(at)
    return found


async def test_the_apply_path_keeps_issue_types_and_words(stack: Stack) -> None:
    t = table_of(AppliedInteraction)
    async with stack.db.read() as session:
        rows = (
            await session.execute(
                select(t.c.customer_id, t.c.kind, t.c.issue_type, t.c.text).where(
                    t.c.tenant_id == "t1", t.c.customer_id == "a3"
                )
            )
        ).all()
    assert {issue for _, kind, issue, _ in rows if kind == "ticket_opened"} == {"how_to", "outage"}
    assert {issue for _, kind, issue, _ in rows if kind != "ticket_opened"} == {None}
    how_to = next(text for _, kind, issue, text in rows if issue == "how_to")
    assert how_to.startswith("How do we export the report?")
    assert len(how_to) == 2000


async def test_portfolio_now_and_as_of_a_past_moment(stack: Stack) -> None:
    now = await stack.analysis.portfolio("t1", limit=3)
    portfolio = now.result.portfolio
    assert portfolio.customers == 5  # t2's customer is not t1's
    assert {t.relationship_type: t.customers for t in portfolio.type_mix} == {
        "acquaintance": 3,
        "partner": 2,
    }
    assert {s.stage: s.customers for s in portfolio.stage_mix} == {"bonding": 4, "terminating": 1}
    past = await stack.analysis.portfolio("t1", as_of=AS_OF, since=T0 + 10 * DAY, limit=3)
    p = past.result.portfolio
    assert past.as_of == AS_OF
    assert past.result.window_start == AS_OF - timedelta(days=365)
    economics = {e.relationship_type: e for e in p.economics}
    assert economics["partner"].revenue == pytest.approx((5500.0 + 5000.0) / 2)
    assert economics["partner"].cost_to_serve == pytest.approx(150.0)
    assert economics["acquaintance"].revenue == pytest.approx(100.0)
    assert economics["partner"].revenue_ratio == pytest.approx(52.5)
    assert p.top20_revenue_share == pytest.approx(5500.0 / 10_800.0)
    assert {(t.from_type, t.to_type): t.customers for t in p.transitions} == {
        ("acquaintance", "partner"): 2,
        ("acquaintance", "acquaintance"): 3,
    }
    assert {s.stage: s.customers for s in p.stage_mix} == {"bonding": 4, "terminating": 1}
    assert p.coming_apart == 1
    assert [v.customer_id for v in p.value_map][:2] == ["p1", "p2"]
    assert len(p.value_map) == 3
    assert p.value_map_total == 5
    # Before anyone was a partner, and before the loss.
    early = (await stack.analysis.portfolio("t1", as_of=T0 + 20 * DAY)).result.portfolio
    assert {t.relationship_type for t in early.type_mix} == {"acquaintance"}
    assert early.coming_apart == 0


async def test_the_lenses_read_losses_issue_types_and_expansion(stack: Stack) -> None:
    impact = (await stack.analysis.service_impact("t1", as_of=AS_OF)).result
    assert impact.lost == 1
    hazards = {h.issue_type: h for h in impact.hazards}
    assert hazards["outage"].customers_with == 1
    assert hazards["outage"].lost_after == 1
    assert hazards["how_to"].customers_with == 3
    upsells = {u.issue_type: u for u in impact.upsells}
    assert (upsells["feature_request"].resolved, upsells["feature_request"].followed) == (2, 2)

    endings = (await stack.analysis.journey_endings("t1", as_of=AS_OF)).result
    causes = {c.cause: c for c in endings.causes}
    assert endings.lost == 1
    assert causes["issue:outage"].lost_with == 1
    assert causes["complaint"].lost_with == 1
    assert not causes["complaint"].trend  # once is no trend
    assert "cancellation" not in causes

    stars = (await stack.analysis.stars("t1", as_of=AS_OF)).result
    cells = {c.employee: c for c in stars.employees}
    assert cells["bo"].customers == 2
    assert cells["bo"].expanded == 2
    assert cells["ana"].customers == 3
    assert cells["ana"].retained == 2

    ror = (await stack.analysis.return_on_relationship("t1", as_of=AS_OF)).result
    by_type = {r.group: r for r in ror.by_type}
    assert by_type["partner"].recommendations == pytest.approx(2 * 500.0)
    assert ror.tenant.revenue == pytest.approx(5500 + 5000 + 300)

    engagement = await stack.analysis.engagement_sales("t1", as_of=AS_OF, months=6, max_lag=2)
    assert engagement.as_of == AS_OF
    assert {c.channel for c in engagement.result.channels} <= {"community", "service", "sales"}


async def test_lookalikes_by_behaviour_and_words(stack: Stack) -> None:
    found = await stack.analysis.lookalikes("t1", ["a1"], as_of=AS_OF, limit=2)
    assert found.customers == 5
    assert [c.customer_id for c in found.result] == ["a2", "a3"]
    assert found.result[0].text_similarity > 0.9  # the same words
    assert found.result[0].reasons
    partners = await stack.analysis.lookalikes("t1", ["p1"], as_of=AS_OF, limit=1)
    assert [c.customer_id for c in partners.result] == ["p2"]
    with pytest.raises(InvalidAnalysis, match="1 unknown to the tenant at as_of: big"):
        await stack.analysis.lookalikes("t1", ["big"], as_of=AS_OF)
    # Each its own reference, profiles built once; one without a profile has none.
    each = await stack.analysis.lookalikes_each("t1", ["a1", "big", "p1"], as_of=AS_OF, limit=2)
    assert [[c.customer_id for c in found] for found in each.result] == [
        [c.customer_id for c in found.result],
        [],
        [c.customer_id for c in (await stack.analysis.lookalikes("t1", ["p1"], AS_OF, 2)).result],
    ]
    with pytest.raises(InvalidAnalysis, match="customer_ids: 1 to 1000 customers"):
        await stack.analysis.lookalikes_each("t1", [], as_of=AS_OF)
    # Before anything was recorded: refused, not a 500 from a window off the calendar
    # (found by schemathesis).
    dawn = datetime(1, 1, 1, 0, 1, tzinfo=UTC)
    for lens in (
        stack.analysis.lookalikes("t1", ["a1"], as_of=dawn),
        stack.analysis.return_on_relationship("t1", as_of=dawn),
        stack.analysis.journey_endings("t1", as_of=dawn),
        stack.analysis.engagement_sales("t1", as_of=dawn),
    ):
        with pytest.raises(InvalidAnalysis, match="as_of must be 1970-01-01 or later"):
            await lens


async def test_tenants_are_isolated(stack: Stack) -> None:
    other = await stack.analysis.portfolio("t2", as_of=AS_OF)
    assert other.result.portfolio.customers == 0  # placed nowhere: no type yet
    assert other.rows == 1
    ror = (await stack.analysis.return_on_relationship("t2", as_of=AS_OF)).result
    assert ror.tenant.revenue == pytest.approx(1_000_000.0)
    assert [c.customer_id for c in ror.top] == ["big"]
    nobody = (await stack.analysis.journey_endings("nobody", as_of=AS_OF)).result
    assert (nobody.lost, nobody.retained, nobody.causes) == (0, 0, [])


async def test_every_lens_over_grpc(stack: Stack) -> None:
    as_of = stamp(AS_OF)
    portfolio = await stack.grpc.GetPortfolio(
        analysis_pb2.GetPortfolioRequest(tenant_id="t1", as_of=as_of, limit=2), timeout=10
    )
    assert portfolio.as_of == as_of
    assert portfolio.customers == 5
    assert [v.customer_id for v in portfolio.value_map] == ["p1", "p2"]
    assert portfolio.value_map_total == 5
    assert portfolio.window_start.ToDatetime(tzinfo=UTC) == AS_OF - timedelta(days=365)
    assert {s.stage: s.customers for s in portfolio.stage_mix} == {"bonding": 4, "terminating": 1}
    partner = next(e for e in portfolio.economics if e.relationship_type == "partner")
    assert partner.revenue == pytest.approx(5250.0)
    impact = await stack.grpc.GetServiceImpact(
        analysis_pb2.GetServiceImpactRequest(tenant_id="t1", as_of=as_of), timeout=10
    )
    assert impact.lost == 1
    outage = next(h for h in impact.hazards if h.issue_type == "outage")
    assert outage.lost_after == 1
    assert outage.interval.high >= outage.hazard_ratio >= outage.interval.low
    endings = await stack.grpc.GetJourneyEndings(
        analysis_pb2.GetJourneyEndingsRequest(tenant_id="t1", as_of=as_of), timeout=10
    )
    assert "issue:outage" in {c.cause for c in endings.causes}
    stars = await stack.grpc.GetStars(
        analysis_pb2.GetStarsRequest(tenant_id="t1", as_of=as_of), timeout=10
    )
    assert {c.employee for c in stars.employees} == {"ana", "bo"}
    engagement = await stack.grpc.GetEngagementSales(
        analysis_pb2.GetEngagementSalesRequest(tenant_id="t1", as_of=as_of, months=6, max_lag=2),
        timeout=10,
    )
    assert engagement.months == 6
    ror = await stack.grpc.GetReturnOnRelationship(
        analysis_pb2.GetReturnOnRelationshipRequest(
            tenant_id="t1", as_of=as_of, weights={"referral": 800.0}
        ),
        timeout=10,
    )
    assert ror.weights["referral"] == 800.0
    assert next(r for r in ror.by_type if r.group == "partner").recommendations == 1600.0
    alike = await stack.grpc.GetLookalikes(
        analysis_pb2.GetLookalikesRequest(
            tenant_id="t1", as_of=as_of, customer_ids=["p1", "p2"], limit=3, text_weight=0.0
        ),
        timeout=10,
    )
    assert alike.customers == 5
    assert len(alike.lookalikes) == 3
    assert {c.customer_id for c in alike.lookalikes} == {"a1", "a2", "a3"}
    assert all(c.text_similarity == 0 for c in alike.lookalikes)
    batch = await stack.grpc.BatchGetLookalikes(
        analysis_pb2.BatchGetLookalikesRequest(
            tenant_id="t1", as_of=as_of, customer_ids=["a1", "nobody"], limit=2
        ),
        timeout=10,
    )
    assert [r.customer_id for r in batch.results] == ["a1", "nobody"]
    assert [c.customer_id for c in batch.results[0].lookalikes] == ["a2", "a3"]
    assert list(batch.results[1].lookalikes) == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.GetPortfolio(analysis_pb2.GetPortfolioRequest()), "tenant_id is required"),
        (
            lambda s: s.GetPortfolio(analysis_pb2.GetPortfolioRequest(tenant_id="t1", limit=5001)),
            "limit must be 1 to 5000",
        ),
        (
            lambda s: s.GetPortfolio(
                analysis_pb2.GetPortfolioRequest(
                    tenant_id="t1", as_of=stamp(AS_OF), since=stamp(AS_OF + DAY)
                )
            ),
            "since must be before as_of",
        ),
        (
            lambda s: s.GetServiceImpact(
                analysis_pb2.GetServiceImpactRequest(tenant_id="t1", window_days=400)
            ),
            "window_days must be 1 to 365",
        ),
        (
            lambda s: s.GetJourneyEndings(
                analysis_pb2.GetJourneyEndingsRequest(tenant_id="t1", window_days=3)
            ),
            "window_days must be 7 to 365",
        ),
        (
            lambda s: s.GetStars(analysis_pb2.GetStarsRequest(tenant_id="t1", min_customers=-1)),
            "min_customers must be 1 to 1000",
        ),
        (
            lambda s: s.GetEngagementSales(
                analysis_pb2.GetEngagementSalesRequest(tenant_id="t1", months=6, max_lag=5)
            ),
            "max_lag must be 0 to 4",
        ),
        (
            lambda s: s.GetReturnOnRelationship(
                analysis_pb2.GetReturnOnRelationshipRequest(tenant_id="t1", weights={"likes": 1})
            ),
            "unknown weight 'likes'",
        ),
        (
            lambda s: s.GetLookalikes(analysis_pb2.GetLookalikesRequest(tenant_id="t1")),
            "customer_ids: 1 to 1000 customers",
        ),
        (
            lambda s: s.GetLookalikes(
                analysis_pb2.GetLookalikesRequest(
                    tenant_id="t1", customer_ids=["a1"], text_weight=1.5
                )
            ),
            "text_weight must be 0 to 1",
        ),
        (
            # A moment in no year of UTC's (10000-01-01), as the other RPCs with as_of.
            lambda s: s.GetStars(
                analysis_pb2.GetStarsRequest(
                    tenant_id="t1", as_of=Timestamp(seconds=253_402_300_800)
                )
            ),
            "as_of:",
        ),
    ],
)
async def test_bad_arguments_are_refused_precisely(
    stack: Stack, call: Callable[[Any], Any], message: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call(stack.grpc)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (refused.value.details() or "")


async def test_rest_routes_answer_with_as_of_and_need_graph_read(stack: Stack) -> None:
    assert (await stack.http.get("/v1/analysis/portfolio")).status_code == 401
    forbidden = await stack.http.get(
        "/v1/analysis/portfolio", headers={"Authorization": "Bearer writer-only"}
    )
    assert forbidden.status_code == 403
    params = {"as_of": AS_OF.isoformat()}
    portfolio = await stack.http.get("/v1/analysis/portfolio", params=params, headers=READER)
    assert portfolio.status_code == 200
    body = portfolio.json()
    assert datetime.fromisoformat(body["as_of"]) == AS_OF
    assert body["portfolio"]["value_map_total"] == 5
    alike = await stack.http.get(
        "/v1/analysis/lookalikes",
        params={**params, "customer_id": ["a1"], "limit": 1},
        headers=READER,
    )
    assert alike.status_code == 200
    assert [c["customer_id"] for c in alike.json()["lookalikes"]] == ["a2"]
    for path in (
        "service-impact",
        "journey-endings",
        "stars",
        "engagement-sales",
        "return-on-relationship",
    ):
        answer = await stack.http.get(f"/v1/analysis/{path}", params=params, headers=READER)
        assert answer.status_code == 200, path
        assert answer.json()["customers"] == 5
    weighted = await stack.http.get(
        "/v1/analysis/return-on-relationship",
        params={**params, "weight": ["referral=800", "review=0"]},
        headers=READER,
    )
    assert weighted.json()["weights"]["referral"] == 800.0
    bad = await stack.http.get(
        "/v1/analysis/return-on-relationship", params={"weight": "likes=3"}, headers=READER
    )
    assert bad.status_code == 422
    assert "unknown weight 'likes'" in bad.json()["detail"]
    malformed = await stack.http.get(
        "/v1/analysis/return-on-relationship", params={"weight": "referral"}, headers=READER
    )
    assert malformed.status_code == 422
    assert "expected name=number" in malformed.json()["detail"]


async def test_the_service_wires_the_lenses(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'scoring.db'}"
    await asyncio.to_thread(migrate, MIGRATIONS, url)
    app = create_app(ScoringSettings(database_url=url, grpc_port=0))
    async with (
        app.router.lifespan_context(app),
        grpc.aio.insecure_channel(f"127.0.0.1:{app.state.grpc_port}") as channel,
    ):
        app.state.key_verifier = FakeKeyVerifier()
        stub = analysis_pb2_grpc.AnalysisServiceStub(channel)
        reply = await stub.GetStars(analysis_pb2.GetStarsRequest(tenant_id="t1"), timeout=10)
        assert list(reply.employees) == []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as http:
            answer = await http.get("/v1/analysis/journey-endings", headers=READER)
        assert answer.status_code == 200
        assert answer.json()["lost"] == 0


# -- the SQL aggregates agree with the lenses over the interactions themselves ---------------

WIDE_CHANNELS = ("community", "social", "sales", "service", "email")
WIDE_KINDS = {
    "community": ("post", "answer"),
    "social": ("share", "review"),
    "sales": ("purchase", "upsell", "renewal", "quote"),
    "service": ("ticket_opened", "complaint"),
    "email": ("email_received", "email_sent"),
}


async def seed_wide(db: Database, customers: int = 60, interactions: int = 3000) -> None:
    """Random customers over two years: every channel, inbound and outbound, revenue on
    sales kinds, a handful of employees, one customer in six lost."""
    rng = random.Random(11)
    relationships, rows, changes = [], [], []
    for c in range(customers):
        first = T0 - timedelta(days=rng.uniform(200, 700))
        lost = c % 6 == 0
        relationships.append(
            {
                "tenant_id": "w",
                "customer_id": f"w{c:03d}",
                "first_interaction_at": first,
                "last_interaction_at": AS_OF,
                "relationship_type": rng.choice(("acquaintance", "bff", "partner")),
                "stage": "terminating" if lost else "bonding",
                "stage_since": AS_OF - timedelta(days=rng.uniform(10, 90)),
            }
        )
        placed = relationships[-1]
        for dimension, at, current in (
            ("type", first, placed["relationship_type"]),
            ("stage", first, "bonding"),
            ("stage", placed["stage_since"], placed["stage"]),
        ):
            row = change(f"w{c:03d}", dimension, at, current)
            changes.append({**row, "id": f"w{len(changes)}", "tenant_id": "w"})
    for i in range(interactions):
        c = rng.randrange(customers)
        channel = rng.choice(WIDE_CHANNELS)
        kind = rng.choice(WIDE_KINDS[channel])
        first = relationships[c]["first_interaction_at"]
        at = first + (AS_OF - first) * rng.random()
        rows.append(
            {
                "interaction_id": f"wi{i:05d}",
                "tenant_id": "w",
                "customer_id": f"w{c:03d}",
                "occurred_at": at,
                "channel": channel,
                "kind": kind,
                "direction": "outbound" if kind in ("email_sent", "quote") else "inbound",
                "revenue": round(rng.uniform(10, 500), 2) if kind in ("purchase", "upsell") else 0,
                "employee": f"e{c % 4}" if rng.random() < 0.7 else f"e{rng.randrange(6)}",
                "contribution": 0.0,
            }
        )
    async with db.transaction() as session:
        repo = ScoringRepository(session)
        await repo.insert_relationships(relationships)
        await repo.insert_applied(rows)
        await repo.insert_state_changes(changes)


async def test_aggregated_lenses_agree_with_the_lenses_over_the_rows(
    database_factory: Callable[[Path, str], Awaitable[Database]],
) -> None:
    db = await database_factory(MIGRATIONS, "scoring")
    await seed_wide(db)
    service = AnalysisService(db)
    async with db.read() as session:
        repo = ScoringRepository(session)
        customers = await service._customers(repo, "w", AS_OF, current=False)
        rows = await repo.analysis_rows("w", AS_OF)
    interactions = analysis.interactions_from_rows(rows, customers)
    assert len(interactions) == 3000

    assert sum(1 for stage in customers.stage if stage == "terminating") == 10
    served = (await service.engagement_sales("w", AS_OF, months=12, max_lag=2)).result
    direct = analysis.engagement_sales(
        interactions, customers, AS_OF.timestamp(), months=12, max_lag=2
    )
    assert [c.channel for c in served.channels] == [c.channel for c in direct.channels]
    assert {"community", "social", "service", "email"} <= {c.channel for c in served.channels}
    for mine, theirs in zip(served.channels, direct.channels, strict=True):
        assert (mine.engagements, mine.customers) == (theirs.engagements, theirs.customers)
        assert mine.best_lag_months == theirs.best_lag_months
        for a, b in zip(mine.lags, theirs.lags, strict=True):
            assert a.pairs == b.pairs > 0
            assert a.correlation == pytest.approx(b.correlation, abs=1e-9)
            assert a.interval.low == pytest.approx(b.interval.low, abs=1e-9)

    served_stars = (await service.stars("w", AS_OF)).result
    direct_stars = analysis.stars(interactions, customers, AS_OF.timestamp())
    for mine_cells, their_cells in (
        (served_stars.employees, direct_stars.employees),
        (served_stars.by_type, direct_stars.by_type),
        (served_stars.by_stage, direct_stars.by_stage),
    ):
        assert len(mine_cells) == len(their_cells)
        order = {(c.employee, c.group): i for i, c in enumerate(their_cells)}
        for mine in mine_cells:
            theirs = their_cells[order[mine.employee, mine.group]]
            assert (mine.customers, mine.retained, mine.expanded) == (
                theirs.customers,
                theirs.retained,
                theirs.expanded,
            )
            assert (mine.retention, mine.expansion, mine.revenue_per_month) == pytest.approx(
                (theirs.retention, theirs.expansion, theirs.revenue_per_month), rel=1e-9
            )
    assert len(served_stars.employees) >= 4
