"""The analysis lenses in the graph over a fake AnalysisService: each lens's shape, bad
arguments refused before any call, customers named through one batch call, the tenant from
the context only; and the client against a real in-process gRPC server."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
import strawberry
from google.protobuf.timestamp_pb2 import Timestamp
from graphql import OperationDefinitionNode, parse

from gateway.analysis import (
    AnalysisBackend,
    AnalysisQuery,
    Lookalike,
    similar_customers,
)
from gateway.backends import CustomersFound, UpstreamError
from gateway.context import GatewayContext
from gateway.cost import query_cost
from gateway.ids import to_global
from gateway.schema import DEFAULT_MAX_COST
from relint.auth import SCOPE_GRAPH_READ, Principal
from relint.contracts.ingest.v1 import ingest_pb2
from relint.contracts.scoring.v1 import analysis_pb2, analysis_pb2_grpc
from relint.grpc_client import READ_DEADLINE, RECKONING_DEADLINE, open_channel

TENANT = "tenant-a"
OTHER = "tenant-b"
AS_OF = 1_780_000_000


def _stamp(seconds: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromSeconds(seconds)
    return stamp


def _interval(low: float, high: float) -> analysis_pb2.Interval:
    return analysis_pb2.Interval(low=low, high=high)


class FakeIngest:
    """The customers DataLoader's backend: counts BatchGetCustomers, checks the tenant."""

    def __init__(self, tenant_id: str = TENANT) -> None:
        self.tenant_id = tenant_id
        self.calls: Counter[str] = Counter()
        self.asked: list[list[str]] = []

    async def customers_by_id(
        self, tenant_id: str, ids: Sequence[str], recent: int = 0
    ) -> CustomersFound:
        assert tenant_id == self.tenant_id
        assert recent == 0  # the analysis lenses show no interactions
        self.calls["BatchGetCustomers"] += 1
        self.asked.append(list(ids))
        found = [
            ingest_pb2.Customer(
                id=i,
                tenant_id=tenant_id,
                external_id=f"ext-{i}",
                name=f"Name of {i}",
                first_seen_at=_stamp(1_700_000_000),
                last_seen_at=_stamp(1_700_000_000),
            )
            for i in ids
            if i != "gone"  # ingest no longer has it
        ]
        return CustomersFound(found, [])


class FakeAnalysis:
    """Answers like scoring's AnalysisService, counts every call, checks the tenant."""

    def __init__(self, tenant_id: str = TENANT, points: int = 3, down: bool = False) -> None:
        self.tenant_id = tenant_id
        self.points = points
        self.down = down
        self.calls: Counter[str] = Counter()
        self.requests: dict[str, dict[str, Any]] = {}

    def _called(self, name: str, tenant_id: str, **arguments: Any) -> None:
        assert tenant_id == self.tenant_id
        self.calls[name] += 1
        self.requests[name] = arguments
        if self.down:
            raise UpstreamError("scoring", _RpcError(grpc.StatusCode.DEADLINE_EXCEEDED))

    async def portfolio(
        self, tenant_id: str, as_of: datetime | None, since: datetime | None, limit: int
    ) -> analysis_pb2.GetPortfolioResponse:
        self._called("GetPortfolio", tenant_id, as_of=as_of, since=since, limit=limit)
        ids = [f"c{n}" for n in range(self.points)]
        if self.points:
            ids[-1] = "gone"
        return analysis_pb2.GetPortfolioResponse(
            as_of=_stamp(AS_OF),
            since=_stamp(AS_OF - 90 * 86400),
            window_start=_stamp(AS_OF - 365 * 86400),
            customers=10,
            type_mix=[
                analysis_pb2.TypeShare(relationship_type="Acquaintance", customers=8, share=0.8),
                analysis_pb2.TypeShare(relationship_type="Partner", customers=2, share=0.2),
            ],
            transitions=[
                analysis_pb2.TypeTransition(from_type="", to_type="Acquaintance", customers=3),
                analysis_pb2.TypeTransition(
                    from_type="Acquaintance", to_type="Partner", customers=1
                ),
            ],
            pareto=[
                analysis_pb2.ParetoPoint(customer_share=0.5, revenue_share=0.9, profit_share=1.2),
                analysis_pb2.ParetoPoint(customer_share=1.0, revenue_share=1.0, profit_share=1.0),
            ],
            top20_revenue_share=0.8,
            top20_profit_share=1.1,
            total_revenue=1000.0,
            total_profit=300.0,
            economics=[
                analysis_pb2.TypeEconomics(
                    relationship_type="Acquaintance",
                    customers=8,
                    revenue=25.0,
                    cost_to_serve=10.0,
                    refund=1.0,
                    profit=14.0,
                    revenue_ratio=1.0,
                    cost_ratio=1.0,
                ),
                analysis_pb2.TypeEconomics(
                    relationship_type="Partner",
                    customers=2,
                    revenue=400.0,
                    cost_to_serve=30.0,
                    refund=0.0,
                    profit=370.0,
                    revenue_ratio=16.0,
                    cost_ratio=3.0,
                ),
            ],
            baseline_type="Acquaintance",
            stage_mix=[
                analysis_pb2.StageCount(stage="bonding", customers=7),
                analysis_pb2.StageCount(stage="avoiding", customers=3, coming_apart=True),
            ],
            coming_apart=3,
            value_map=[
                analysis_pb2.ValueMapPoint(
                    customer_id=i,
                    relationship_type="Partner",
                    revenue=100.0 - n,
                    cost_to_serve=10.0,
                    profit=90.0 - n,
                )
                for n, i in enumerate(ids)
            ],
            value_map_total=10,
        )

    async def service_impact(
        self, tenant_id: str, as_of: datetime | None, window_days: int, kinds: Sequence[str]
    ) -> analysis_pb2.GetServiceImpactResponse:
        self._called(
            "GetServiceImpact", tenant_id, as_of=as_of, window_days=window_days, kinds=kinds
        )
        return analysis_pb2.GetServiceImpactResponse(
            as_of=_stamp(AS_OF),
            customers=50,
            lost=9,
            window_days=window_days,
            hazards=[
                analysis_pb2.IssueHazard(
                    issue_type=f"issue-{n}",
                    customers_with=10,
                    lost_after=4,
                    exposed_years=12.5,
                    lost_unexposed=5,
                    unexposed_years=80.0,
                    hazard_ratio=5.0 - n,
                    interval=_interval(1.5 - n, 9.0),
                    foreshadows_loss=n == 0,
                )
                for n in range(3)
            ],
            upsells=[
                analysis_pb2.IssueUpsell(
                    issue_type="feature_request",
                    resolved=20,
                    followed=8,
                    share=0.4,
                    base_resolved=100,
                    base_followed=10,
                    base_rate=0.1,
                    lift=4.0,
                    interval=_interval(2.0, 8.0),
                    opens_upsell=True,
                )
            ],
        )

    async def journey_endings(
        self, tenant_id: str, as_of: datetime | None, window_days: int
    ) -> analysis_pb2.GetJourneyEndingsResponse:
        self._called("GetJourneyEndings", tenant_id, as_of=as_of, window_days=window_days)
        return analysis_pb2.GetJourneyEndingsResponse(
            as_of=_stamp(AS_OF),
            lost=9,
            retained=41,
            window_days=window_days,
            causes=[
                analysis_pb2.EndingCause(
                    cause=cause,
                    lost_with=lost_with,
                    lost=9,
                    retained_with=2,
                    retained=41,
                    lift=lift,
                    interval=_interval(lift / 2, lift * 2),
                    trend=lost_with >= 3,
                )
                for cause, lost_with, lift in (
                    ("issue:billing_error", 6, 13.7),
                    ("complaint", 2, 4.5),
                    ("refund", 3, 6.8),
                )
            ],
        )

    async def stars(
        self, tenant_id: str, as_of: datetime | None, min_customers: int
    ) -> analysis_pb2.GetStarsResponse:
        self._called("GetStars", tenant_id, as_of=as_of, min_customers=min_customers)

        def cell(employee: str, group: str) -> analysis_pb2.StarCell:
            return analysis_pb2.StarCell(
                employee=employee,
                group=group,
                customers=12,
                retained=11,
                retention_raw=11 / 12,
                retention=0.88,
                retention_interval=_interval(0.7, 0.97),
                expanded=4,
                expansion=0.3,
                revenue_per_month_raw=120.0,
                revenue_per_month=110.0,
            )

        employees = [f"emp-{n}" for n in range(130)]
        return analysis_pb2.GetStarsResponse(
            as_of=_stamp(AS_OF),
            employees=[cell(e, "") for e in employees],
            by_type=[cell(e, "Partner") for e in employees[:5]],
            by_stage=[cell(e, "bonding") for e in employees[:2]],
            mean_retention=0.8,
            mean_expansion=0.2,
            mean_revenue_per_month=90.0,
        )

    async def engagement_sales(
        self, tenant_id: str, as_of: datetime | None, months: int, max_lag: int
    ) -> analysis_pb2.GetEngagementSalesResponse:
        self._called("GetEngagementSales", tenant_id, as_of=as_of, months=months, max_lag=max_lag)
        return analysis_pb2.GetEngagementSalesResponse(
            as_of=_stamp(AS_OF),
            months=months,
            customers=50,
            channels=[
                analysis_pb2.ChannelEngagement(
                    channel="community",
                    engagements=400,
                    customers=30,
                    lags=[
                        analysis_pb2.LagCorrelation(
                            lag_months=lag,
                            pairs=600,
                            correlation=0.3 if lag == 1 else 0.02,
                            interval=_interval(0.2, 0.4) if lag == 1 else _interval(-0.05, 0.09),
                            revenue_per_engagement=12.5,
                        )
                        for lag in range(max_lag + 1)
                    ],
                    best_lag_months=1,
                    leads_revenue=True,
                )
            ],
        )

    async def return_on_relationship(
        self,
        tenant_id: str,
        as_of: datetime | None,
        weights: dict[str, float],
        days: int,
        limit: int,
    ) -> analysis_pb2.GetReturnOnRelationshipResponse:
        self._called(
            "GetReturnOnRelationship",
            tenant_id,
            as_of=as_of,
            weights=weights,
            days=days,
            limit=limit,
        )
        group = analysis_pb2.ReturnOnRelationship(
            group="",
            customers=50,
            revenue=1000.0,
            loyalty=300.0,
            recommendations=200.0,
            sharing=100.0,
            total=1600.0,
            per_customer=32.0,
            beyond_revenue_share=0.375,
        )
        partners = analysis_pb2.ReturnOnRelationship(group="Partner", customers=2, total=900.0)
        return analysis_pb2.GetReturnOnRelationshipResponse(
            as_of=_stamp(AS_OF),
            period_start=_stamp(AS_OF - days * 86400),
            weights={"referral": weights.get("referral", 500.0), "review": 50.0},
            tenant=group,
            by_type=[partners],
            top=[
                analysis_pb2.CustomerReturn(
                    customer_id="c7", relationship_type="Partner", revenue=400.0, total=700.0
                )
            ],
        )

    async def lookalikes_each(
        self, tenant_id: str, customer_ids: Sequence[str], limit: int
    ) -> analysis_pb2.BatchGetLookalikesResponse:
        self._called("BatchGetLookalikes", tenant_id, customer_ids=list(customer_ids), limit=limit)
        results = []
        for customer_id in customer_ids:
            one = await self.lookalikes(tenant_id, None, [customer_id], limit, None)
            results.append(
                analysis_pb2.LookalikesOf(customer_id=customer_id, lookalikes=one.lookalikes)
            )
        return analysis_pb2.BatchGetLookalikesResponse(
            as_of=_stamp(AS_OF), customers=50, results=results
        )

    async def lookalikes(
        self,
        tenant_id: str,
        as_of: datetime | None,
        customer_ids: Sequence[str],
        limit: int,
        text_weight: float | None,
    ) -> analysis_pb2.GetLookalikesResponse:
        self._called(
            "GetLookalikes",
            tenant_id,
            as_of=as_of,
            customer_ids=list(customer_ids),
            limit=limit,
            text_weight=text_weight,
        )
        return analysis_pb2.GetLookalikesResponse(
            as_of=_stamp(AS_OF),
            customers=50,
            lookalikes=[
                analysis_pb2.Lookalike(
                    customer_id=i,
                    similarity=0.9 - n / 10,
                    behaviour_similarity=0.8,
                    text_similarity=0.95,
                    reasons=["similar revenue per month", 'both say "integration"'],
                )
                for n, i in enumerate(["c5", "gone", "c6"][:limit])
            ],
        )


@dataclass
class AnalysisContext(GatewayContext):
    """GatewayContext with the field the lead adds to it: the analysis client."""

    analysis: Any = None


def _context(
    analysis: FakeAnalysis | None, ingest: FakeIngest, tenant_id: str | None = TENANT
) -> AnalysisContext:
    principal = (
        Principal(tenant_id, "partner-1", frozenset({SCOPE_GRAPH_READ}))
        if tenant_id is not None
        else None
    )
    return AnalysisContext(backends=ingest, principal=principal, analysis=analysis)  # type: ignore[arg-type]


@strawberry.type
class Account:
    """A stand-in for schema.py's Customer, to which the lead attaches similarCustomers."""

    customer_id: strawberry.ID
    similar_customers: list[Lookalike] = strawberry.field(resolver=similar_customers)


@strawberry.type
class Query(AnalysisQuery):
    @strawberry.field
    def account(self, customer_id: strawberry.ID) -> Account:
        return Account(customer_id=customer_id)


SCHEMA = strawberry.federation.Schema(query=Query)

CONSOLE_PORTFOLIO = """query ConsolePortfolio {
    portfolio(limit: 500) {
      asOf customerCount
      types { relationshipType customers revenue costToServe profit }
      stages { stage customers comingApart }
      points { customerId name relationshipType revenue costToServe profit }
      pareto { topShare revenueShare profitShare }
    }
  }"""


async def _run(
    query: str,
    analysis: FakeAnalysis | None = None,
    ingest: FakeIngest | None = None,
    tenant_id: str | None = TENANT,
    **variables: Any,
) -> Any:
    context = _context(analysis, ingest or FakeIngest(), tenant_id)
    return await SCHEMA.execute(query, variable_values=variables, context_value=context)


async def test_the_console_portfolio_query_gets_its_shape_and_names_in_one_batch() -> None:
    analysis, ingest = FakeAnalysis(points=300), FakeIngest()
    result = await _run(CONSOLE_PORTFOLIO, analysis, ingest)
    assert result.errors is None
    portfolio = result.data["portfolio"]
    assert portfolio["asOf"] == "2026-05-28T20:26:40+00:00"
    assert portfolio["customerCount"] == 10
    assert portfolio["types"] == [
        {
            "relationshipType": "Acquaintance",
            "customers": 8,
            "revenue": 25.0,
            "costToServe": 10.0,
            "profit": 14.0,
        },
        {
            "relationshipType": "Partner",
            "customers": 2,
            "revenue": 400.0,
            "costToServe": 30.0,
            "profit": 370.0,
        },
    ]
    assert portfolio["stages"] == [
        {"stage": "bonding", "customers": 7, "comingApart": False},
        {"stage": "avoiding", "customers": 3, "comingApart": True},
    ]
    points = portfolio["points"]
    assert len(points) == 300
    assert points[0] == {
        "customerId": "c0",
        "name": "Name of c0",
        "relationshipType": "Partner",
        "revenue": 100.0,
        "costToServe": 10.0,
        "profit": 90.0,
    }
    assert points[-1]["customerId"] == "gone"
    assert points[-1]["name"] is None
    assert portfolio["pareto"] == {"topShare": 0.2, "revenueShare": 0.8, "profitShare": 1.1}
    assert analysis.calls == Counter({"GetPortfolio": 1})
    assert analysis.requests["GetPortfolio"] == {"as_of": None, "since": None, "limit": 500}
    assert ingest.calls == Counter({"BatchGetCustomers": 1})
    assert len(ingest.asked[0]) == 300


async def test_the_portfolio_extras_transitions_ratios_and_coming_apart() -> None:
    analysis, ingest = FakeAnalysis(), FakeIngest()
    result = await _run(
        """query ($at: DateTime, $since: DateTime) {
             portfolio(asOf: $at, since: $since, limit: 2) {
               since windowStart comingApart pointsTotal baselineType totalRevenue totalProfit
               transitions { fromType toType customers }
               types { relationshipType share refund revenueRatio costRatio }
               paretoCurve { topShare revenueShare profitShare }
               points { customerId revenue } } }""",
        analysis,
        ingest,
        at="2026-05-28T20:26:40+02:00",
        since="2026-01-01T00:00:00Z",
    )
    assert result.errors is None
    portfolio = result.data["portfolio"]
    assert portfolio["comingApart"] == 3
    assert portfolio["pointsTotal"] == 10
    assert portfolio["baselineType"] == "Acquaintance"
    assert portfolio["transitions"] == [
        {"fromType": "", "toType": "Acquaintance", "customers": 3},
        {"fromType": "Acquaintance", "toType": "Partner", "customers": 1},
    ]
    assert portfolio["types"][1] == {
        "relationshipType": "Partner",
        "share": 0.2,
        "refund": 0.0,
        "revenueRatio": 16.0,
        "costRatio": 3.0,
    }
    assert portfolio["paretoCurve"][0] == {"topShare": 0.5, "revenueShare": 0.9, "profitShare": 1.2}
    assert analysis.requests["GetPortfolio"] == {
        "as_of": datetime(2026, 5, 28, 18, 26, 40, tzinfo=UTC),
        "since": datetime(2026, 1, 1, tzinfo=UTC),
        "limit": 2,
    }
    # No name asked, no call to ingest.
    assert ingest.calls == Counter()


async def test_names_asked_through_a_fragment_are_loaded_too() -> None:
    ingest = FakeIngest()
    result = await _run(
        """{ p: portfolio { ...Map } }
           fragment Map on Portfolio { points { ... on PortfolioPoint { name } } }""",
        FakeAnalysis(),
        ingest,
    )
    assert result.errors is None
    assert [p["name"] for p in result.data["p"]["points"]] == ["Name of c0", "Name of c1", None]
    assert ingest.calls == Counter({"BatchGetCustomers": 1})


async def test_an_empty_portfolio_has_no_pareto_point_and_asks_ingest_nothing() -> None:
    ingest = FakeIngest()
    empty = FakeAnalysis(points=0)

    async def nobody(*args: Any) -> analysis_pb2.GetPortfolioResponse:
        await FakeAnalysis.portfolio(empty, *args)
        return analysis_pb2.GetPortfolioResponse(as_of=_stamp(AS_OF))

    empty.portfolio = nobody  # type: ignore[method-assign]
    result = await _run(CONSOLE_PORTFOLIO, empty, ingest)
    assert result.errors is None
    assert result.data["portfolio"]["pareto"] is None
    assert result.data["portfolio"]["points"] == []
    assert ingest.calls == Counter()


async def test_service_impact_journey_endings_and_stars_with_their_numbers() -> None:
    analysis = FakeAnalysis()
    result = await _run(
        """{ analysis(asOf: "2026-05-01T00:00:00Z") {
             serviceImpact(windowDays: 90, expansionKinds: ["upsell", "cross_sell"]) {
               asOf customers lost windowDays hazardCount upsellCount
               hazards(limit: 2) { issueType customersWith lostAfter exposedYears lostUnexposed
                 unexposedYears hazardRatio interval { low high } foreshadowsLoss }
               upsells { issueType resolved followed share baseResolved baseFollowed baseRate
                 lift interval { low high } opensUpsell } }
             journeyEndings(windowDays: 28) {
               asOf lost retained windowDays causeCount trendCount
               causes { cause lostWith lost retainedWith retained lift interval { low } trend }
               trends: causes(trendsOnly: true) { cause } }
             stars(minCustomers: 5) {
               asOf meanRetention meanExpansion meanRevenuePerMonth employeeCount
               employees(limit: 100) { employee }
               byType { employee group customers retained retentionRaw retention
                 retentionInterval { low high } expanded expansion revenuePerMonthRaw
                 revenuePerMonth }
               byStage(limit: 1) { group } } } }""",
        analysis,
    )
    assert result.errors is None
    moment = datetime(2026, 5, 1, tzinfo=UTC)
    assert analysis.requests == {
        "GetServiceImpact": {
            "as_of": moment,
            "window_days": 90,
            "kinds": ["upsell", "cross_sell"],
        },
        "GetJourneyEndings": {"as_of": moment, "window_days": 28},
        "GetStars": {"as_of": moment, "min_customers": 5},
    }
    lens = result.data["analysis"]
    impact = lens["serviceImpact"]
    assert (impact["customers"], impact["lost"], impact["windowDays"]) == (50, 9, 90)
    assert (impact["hazardCount"], impact["upsellCount"]) == (3, 1)
    assert impact["hazards"] == [
        {
            "issueType": "issue-0",
            "customersWith": 10,
            "lostAfter": 4,
            "exposedYears": 12.5,
            "lostUnexposed": 5,
            "unexposedYears": 80.0,
            "hazardRatio": 5.0,
            "interval": {"low": 1.5, "high": 9.0},
            "foreshadowsLoss": True,
        },
        {
            "issueType": "issue-1",
            "customersWith": 10,
            "lostAfter": 4,
            "exposedYears": 12.5,
            "lostUnexposed": 5,
            "unexposedYears": 80.0,
            "hazardRatio": 4.0,
            "interval": {"low": 0.5, "high": 9.0},
            "foreshadowsLoss": False,
        },
    ]
    assert impact["upsells"][0]["opensUpsell"] is True
    assert impact["upsells"][0]["interval"] == {"low": 2.0, "high": 8.0}
    endings = lens["journeyEndings"]
    assert (endings["lost"], endings["retained"], endings["windowDays"]) == (9, 41, 28)
    assert (endings["causeCount"], endings["trendCount"]) == (3, 2)
    assert endings["causes"][0] == {
        "cause": "issue:billing_error",
        "lostWith": 6,
        "lost": 9,
        "retainedWith": 2,
        "retained": 41,
        "lift": 13.7,
        "interval": {"low": 6.85},
        "trend": True,
    }
    assert [c["cause"] for c in endings["trends"]] == ["issue:billing_error", "refund"]
    stars = lens["stars"]
    assert stars["employeeCount"] == 130
    assert len(stars["employees"]) == 100  # bounded, though scoring gave 130
    assert len(stars["byType"]) == 5
    assert stars["byType"][0]["retentionInterval"] == {"low": 0.7, "high": 0.97}
    assert stars["byType"][0]["revenuePerMonth"] == 110.0
    assert stars["byStage"] == [{"group": "bonding"}]
    assert all(lens[k]["asOf"] == "2026-05-28T20:26:40+00:00" for k in lens)


async def test_engagement_sales_and_return_on_relationship_with_weights() -> None:
    analysis = FakeAnalysis()
    result = await _run(
        """{ analysis {
             engagementSales(months: 12, maxLag: 2) {
               asOf months customers
               channels { channel engagements customers bestLagMonths leadsRevenue
                 lags { lagMonths pairs correlation interval { low high } revenuePerEngagement } } }
             returnOnRelationship(weights: [{name: "referral", value: 800}], days: 180, limit: 5) {
               asOf periodStart weights { name value }
               tenant { relationshipType customers revenue loyalty recommendations sharing total
                 perCustomer beyondRevenueShare }
               byType { relationshipType total }
               top { customerId relationshipType revenue total } } } }""",
        analysis,
    )
    assert result.errors is None
    assert analysis.requests["GetEngagementSales"] == {"as_of": None, "months": 12, "max_lag": 2}
    assert analysis.requests["GetReturnOnRelationship"] == {
        "as_of": None,
        "weights": {"referral": 800.0},
        "days": 180,
        "limit": 5,
    }
    sales = result.data["analysis"]["engagementSales"]
    [channel] = sales["channels"]
    assert channel["leadsRevenue"] is True
    assert channel["bestLagMonths"] == 1
    assert [lag["lagMonths"] for lag in channel["lags"]] == [0, 1, 2]
    assert channel["lags"][1] == {
        "lagMonths": 1,
        "pairs": 600,
        "correlation": 0.3,
        "interval": {"low": 0.2, "high": 0.4},
        "revenuePerEngagement": 12.5,
    }
    ror = result.data["analysis"]["returnOnRelationship"]
    assert ror["weights"] == [
        {"name": "referral", "value": 800.0},
        {"name": "review", "value": 50.0},
    ]
    assert ror["periodStart"] == "2025-11-29T20:26:40+00:00"
    assert ror["tenant"] == {
        "relationshipType": "",
        "customers": 50,
        "revenue": 1000.0,
        "loyalty": 300.0,
        "recommendations": 200.0,
        "sharing": 100.0,
        "total": 1600.0,
        "perCustomer": 32.0,
        "beyondRevenueShare": 0.375,
    }
    assert ror["byType"] == [{"relationshipType": "Partner", "total": 900.0}]
    assert ror["top"] == [
        {"customerId": "c7", "relationshipType": "Partner", "revenue": 400.0, "total": 700.0}
    ]


async def test_lookalikes_of_a_set_take_global_ids_and_load_customers_in_one_batch() -> None:
    analysis, ingest = FakeAnalysis(), FakeIngest()
    result = await _run(
        """query ($ids: [ID!]!) { analysis { lookalikes(customerIds: $ids, limit: 3,
             textWeight: 0.25) {
               asOf customers
               lookalikes { customerId similarity behaviourSimilarity textSimilarity reasons
                 customer { customerId name } } } } }""",
        analysis,
        ingest,
        ids=[to_global("Customer", "c1"), "c2", "c1"],
    )
    assert result.errors is None
    assert analysis.requests["GetLookalikes"] == {
        "as_of": None,
        "customer_ids": ["c1", "c2"],
        "limit": 3,
        "text_weight": 0.25,
    }
    found = result.data["analysis"]["lookalikes"]
    assert found["customers"] == 50
    assert [x["customerId"] for x in found["lookalikes"]] == ["c5", "gone", "c6"]
    assert found["lookalikes"][0] == {
        "customerId": "c5",
        "similarity": 0.9,
        "behaviourSimilarity": 0.8,
        "textSimilarity": 0.95,
        "reasons": ["similar revenue per month", 'both say "integration"'],
        "customer": {"customerId": "c5", "name": "Name of c5"},
    }
    assert found["lookalikes"][1]["customer"] is None
    assert ingest.calls == Counter({"BatchGetCustomers": 1})


async def test_similar_customers_of_a_customer() -> None:
    analysis, ingest = FakeAnalysis(), FakeIngest()
    result = await _run(
        """{ account(customerId: "c1") { similarCustomers(limit: 2) {
               customerId similarity reasons customer { name } } } }""",
        analysis,
        ingest,
    )
    assert result.errors is None
    assert analysis.requests["BatchGetLookalikes"] == {"customer_ids": ["c1"], "limit": 2}
    similar = result.data["account"]["similarCustomers"]
    assert [s["customerId"] for s in similar] == ["c5", "gone"]
    assert similar[0]["customer"] == {"name": "Name of c5"}
    assert ingest.calls == Counter({"BatchGetCustomers": 1})


async def test_similar_customers_of_many_customers_cost_one_call() -> None:
    analysis, ingest = FakeAnalysis(), FakeIngest()
    result = await _run(
        """{ a: account(customerId: "c1") { similarCustomers(limit: 2) { customerId } }
             b: account(customerId: "c2") { similarCustomers(limit: 2) { customerId } }
             c: account(customerId: "c3") { similarCustomers(limit: 2) { customerId } } }""",
        analysis,
        ingest,
    )
    assert result.errors is None
    assert analysis.calls["BatchGetLookalikes"] == 1
    assert analysis.requests["BatchGetLookalikes"] == {
        "customer_ids": ["c1", "c2", "c3"],
        "limit": 2,
    }
    assert result.data["c"]["similarCustomers"] == [{"customerId": "c5"}, {"customerId": "gone"}]


KINDS_21 = ", ".join(f'"k{n}"' for n in range(21))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ portfolio(limit: 0) { asOf } }", "limit must be 1..5000"),
        ("{ portfolio(limit: 5001) { asOf } }", "limit must be 1..5000"),
        ('{ portfolio(asOf: "2026-01-01T00:00:00") { asOf } }', "asOf: give a time zone"),
        ('{ portfolio(since: "2026-01-01T00:00:00") { asOf } }', "since: give a time zone"),
        (
            '{ portfolio(asOf: "2026-01-01T00:00:00Z", since: "2026-01-01T00:00:00Z") { asOf } }',
            "since must be before asOf",
        ),
        ('{ analysis(asOf: "2026-01-01T00:00:00") { stars { asOf } } }', "asOf: give a time zone"),
        ("{ analysis { serviceImpact(windowDays: 0) { asOf } } }", "windowDays must be 1..365"),
        ("{ analysis { serviceImpact(windowDays: 366) { asOf } } }", "windowDays must be 1..365"),
        (
            '{ analysis { serviceImpact(expansionKinds: [" "]) { asOf } } }',
            "expansionKinds: a kind cannot be empty",
        ),
        (
            "{ analysis { serviceImpact(expansionKinds: [" + KINDS_21 + "]) { asOf } } }",
            "expansionKinds: at most 20 values",
        ),
        (
            "{ analysis { serviceImpact { hazards(limit: 0) { hazardRatio } } } }",
            "limit must be 1..100",
        ),
        ("{ analysis { serviceImpact { upsells(limit: 101) { lift } } } }", "limit must be 1..100"),
        ("{ analysis { journeyEndings(windowDays: 6) { asOf } } }", "windowDays must be 7..365"),
        ("{ analysis { journeyEndings { causes(limit: 0) { lift } } } }", "limit must be 1..100"),
        ("{ analysis { stars(minCustomers: 0) { asOf } } }", "minCustomers must be 1..1000"),
        ("{ analysis { stars(minCustomers: 1001) { asOf } } }", "minCustomers must be 1..1000"),
        ("{ analysis { stars { byStage(limit: 101) { group } } } }", "limit must be 1..100"),
        ("{ analysis { engagementSales(months: 3) { asOf } } }", "months must be 4..120"),
        ("{ analysis { engagementSales(maxLag: 0) { asOf } } }", "maxLag must be 1..12"),
        ("{ analysis { engagementSales(maxLag: 13) { asOf } } }", "maxLag must be 1..12"),
        (
            "{ analysis { engagementSales(months: 5, maxLag: 4) { asOf } } }",
            "maxLag must be below months - 1",
        ),
        (
            '{ analysis { returnOnRelationship(weights: [{name: "likes", value: 1}]) { asOf } } }',
            "weights: unknown name 'likes'; known: tenure_year, renewal, referral, review, "
            "co_marketing, share, mention, community",
        ),
        (
            '{ analysis { returnOnRelationship(weights: [{name: "review", value: 1}, '
            '{name: "review", value: 2}]) { asOf } } }',
            "weights: review given twice",
        ),
        (
            '{ analysis { returnOnRelationship(weights: [{name: "share", value: -1}]) { asOf } } }',
            "weights: share must be a number at least 0",
        ),
        ("{ analysis { returnOnRelationship(days: 29) { asOf } } }", "days must be 30..3650"),
        ("{ analysis { returnOnRelationship(limit: 101) { asOf } } }", "limit must be 1..100"),
        ("{ analysis { lookalikes(customerIds: []) { asOf } } }", "customerIds: give 1..1000"),
        (
            '{ analysis { lookalikes(customerIds: ["c1"], limit: 0) { asOf } } }',
            "limit must be 1..100",
        ),
        (
            '{ analysis { lookalikes(customerIds: ["c1"], textWeight: 1.5) { asOf } } }',
            "textWeight must be 0..1",
        ),
        (
            '{ account(customerId: "c1") { similarCustomers(limit: 101) { similarity } } }',
            "limit must be 1..100",
        ),
    ],
)
async def test_bad_arguments_are_refused_precisely_before_any_call(
    query: str, message: str
) -> None:
    analysis, ingest = FakeAnalysis(), FakeIngest()
    result = await _run(query, analysis, ingest)
    assert result.errors is not None
    assert [e.message for e in result.errors] == [message]
    assert result.errors[0].extensions == {"code": "BAD_INPUT"}
    # A list field's refusal comes after its lens was fetched; the lens itself never is.
    assert analysis.calls.total() <= 1
    assert ingest.calls == Counter()


async def test_too_many_reference_customers_are_refused() -> None:
    analysis = FakeAnalysis()
    result = await _run(
        "query ($ids: [ID!]!) { analysis { lookalikes(customerIds: $ids) { asOf } } }",
        analysis,
        ids=[f"c{n}" for n in range(1001)],
    )
    assert result.errors is not None
    assert result.errors[0].message == "customerIds: give 1..1000"
    assert analysis.calls == Counter()


async def test_the_tenant_comes_from_the_context_only() -> None:
    # No lens takes a tenant argument.
    arguments = {a.lower() for f in SCHEMA._schema.query_type.fields.values() for a in f.args}
    analysis_type = SCHEMA._schema.get_type("Analysis")
    arguments |= {a.lower() for f in analysis_type.fields.values() for a in f.args}
    assert not any("tenant" in a for a in arguments)

    # Another tenant's caller reaches its own tenant's analysis, whatever ids it gives.
    other, other_ingest = FakeAnalysis(tenant_id=OTHER), FakeIngest(tenant_id=OTHER)
    result = await _run(
        """{ portfolio { points { name } }
             analysis { lookalikes(customerIds: ["c1"]) { lookalikes { customer { name } } } } }""",
        other,
        other_ingest,
        tenant_id=OTHER,
    )
    assert result.errors is None
    assert other.calls == Counter({"GetPortfolio": 1, "GetLookalikes": 1})
    # (FakeAnalysis and FakeIngest assert the tenant they are given on every call.)
    assert other_ingest.calls == Counter({"BatchGetCustomers": 1})

    # Without a principal nothing is asked.
    nobody = FakeAnalysis()
    refused = await _run(
        "{ portfolio { asOf } analysis { stars { asOf } } }", nobody, tenant_id=None
    )
    assert refused.data == {"portfolio": None, "analysis": {"stars": None}}
    assert {e.extensions["code"] for e in refused.errors} == {"UNAUTHENTICATED"}
    assert nobody.calls == Counter()


async def test_a_failing_lens_is_a_typed_partial_error() -> None:
    class OnlyStarsDown(FakeAnalysis):
        async def stars(self, *args: Any) -> analysis_pb2.GetStarsResponse:
            self.down = True
            try:
                return await super().stars(*args)
            finally:
                self.down = False

    analysis = OnlyStarsDown()
    result = await _run(
        "{ portfolio { customerCount } analysis { stars { asOf } journeyEndings { lost } } }",
        analysis,
    )
    assert result.data == {
        "portfolio": {"customerCount": 10},
        "analysis": {"stars": None, "journeyEndings": {"lost": 9}},
    }
    [error] = result.errors
    assert error.path == ["analysis", "stars"]
    assert error.extensions == {
        "code": "UPSTREAM_UNAVAILABLE",
        "service": "scoring",
        "status": "DEADLINE_EXCEEDED",
    }


async def test_a_gateway_without_the_analysis_client_says_so() -> None:
    result = await _run("{ analysis { stars { asOf } } }", analysis=None)
    [error] = result.errors
    assert error.message == "analysis is not available on this gateway"
    assert error.extensions == {"code": "UPSTREAM_UNAVAILABLE", "service": "scoring"}


def test_the_console_portfolio_query_is_within_the_default_cost_limit() -> None:
    document = parse(CONSOLE_PORTFOLIO)
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    schema = SCHEMA._schema
    cost = query_cost(operation.selection_set, schema.query_type, schema, {})
    assert cost <= DEFAULT_MAX_COST


# --------------------------------------------------------- the client over real gRPC


class _RpcError(grpc.aio.AioRpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        super().__init__(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "no")


class RecordingServicer(analysis_pb2_grpc.AnalysisServiceServicer):
    def __init__(self) -> None:
        self.requests: list[Any] = []

    async def GetPortfolio(
        self, request: analysis_pb2.GetPortfolioRequest, context: grpc.aio.ServicerContext
    ) -> analysis_pb2.GetPortfolioResponse:
        self.requests.append(request)
        self.deadline = context.time_remaining()
        if request.limit > 5000:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "limit must be at most 5000")
        return analysis_pb2.GetPortfolioResponse(as_of=request.as_of, customers=4)

    async def GetLookalikes(
        self, request: analysis_pb2.GetLookalikesRequest, context: grpc.aio.ServicerContext
    ) -> analysis_pb2.GetLookalikesResponse:
        self.requests.append(request)
        await context.abort(grpc.StatusCode.UNAVAILABLE, "scoring is starting")
        raise AssertionError("abort raises")


@pytest.fixture
async def served() -> AsyncIterator[tuple[AnalysisBackend, RecordingServicer]]:
    servicer = RecordingServicer()
    server = grpc.aio.server()
    analysis_pb2_grpc.add_AnalysisServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = open_channel(f"127.0.0.1:{port}")
    try:
        yield AnalysisBackend(channel), servicer
    finally:
        await channel.close()
        await server.stop(None)


async def test_the_client_sends_times_and_maps_errors(
    served: tuple[AnalysisBackend, RecordingServicer],
) -> None:
    backend, servicer = served
    moment = datetime(2026, 3, 1, tzinfo=UTC)
    reply = await backend.portfolio(TENANT, moment, None, 300)
    assert reply.customers == 4
    [request] = servicer.requests
    assert request.tenant_id == TENANT
    assert request.limit == 300
    assert request.as_of.ToDatetime(tzinfo=UTC) == moment
    assert not request.HasField("since")
    assert READ_DEADLINE < servicer.deadline <= RECKONING_DEADLINE + 1

    with pytest.raises(Exception) as refused:  # noqa: PT011 - checked below
        await backend.portfolio(TENANT, None, moment, 9000)
    assert refused.value.extensions == {"code": "BAD_INPUT"}  # type: ignore[attr-defined]
    assert str(refused.value) == "limit must be at most 5000"
    assert servicer.requests[-1].since.ToDatetime(tzinfo=UTC) == moment

    with pytest.raises(UpstreamError) as down:
        await backend.lookalikes(TENANT, None, ["c1"], 5, 0.0)
    assert down.value.extensions["status"] == "UNAVAILABLE"  # type: ignore[index]
    sent = servicer.requests[-1]
    assert sent.HasField("text_weight")  # 0.0 is said, not left to the default 0.4
    assert list(sent.customer_ids) == ["c1"]
