"""The analysis lenses in the graph: scoring's AnalysisService (the portfolio, service impact,
journey endings, stars, engagement and sales, Return on Relationship, lookalikes), each with
its `asOf` and the counts and intervals behind every figure.

Resolvers only check arguments and shape replies; scoring computes. Customers named in an
answer are fetched through the request's customers DataLoader: one batch call, never one per
customer.
"""

# strawberry.field on resolver methods is seen as an untyped decorator (as in gateway.schema).
# mypy: disallow-untyped-decorators=False

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Final, Protocol

import grpc
import strawberry
from google.protobuf.timestamp_pb2 import Timestamp
from graphql import GraphQLError
from strawberry.types import Info

from gateway.backends import _call
from gateway.ids import customer_key
from gateway.loaders import Loaders
from gateway.selection import selects
from relint.contracts.scoring.v1 import analysis_pb2, analysis_pb2_grpc
from relint.grpc_client import RECKONING_DEADLINE

if TYPE_CHECKING:
    from gateway.schema import Customer


DEFAULT_POINTS: Final = 500
MAX_POINTS: Final = 5000  # scoring's own bound on the value map
MAX_ROWS: Final = 100  # a lens's list as shown (hazards, causes, stars, top customers)
DEFAULT_ROWS: Final = 20
MAX_LOOKALIKES: Final = 100
MAX_REFERENCES: Final = 1000
MAX_EXPANSION_KINDS: Final = 20
ROR_WEIGHT_NAMES: Final = (
    "tenure_year",
    "renewal",
    "referral",
    "review",
    "co_marketing",
    "share",
    "mention",
    "community",
)


class AnalysisBackend:
    """AnalysisService on the scoring channel (the caller owns the channel)."""

    def __init__(self, channel: grpc.aio.Channel, deadline: float = RECKONING_DEADLINE) -> None:
        self._stub = analysis_pb2_grpc.AnalysisServiceStub(channel)
        self._deadline = deadline

    async def portfolio(
        self, tenant_id: str, as_of: datetime | None, since: datetime | None, limit: int
    ) -> analysis_pb2.GetPortfolioResponse:
        request = analysis_pb2.GetPortfolioRequest(tenant_id=tenant_id, limit=limit)
        _set_time(request.as_of, as_of)
        _set_time(request.since, since)
        return await _call("scoring", self._stub.GetPortfolio(request, timeout=self._deadline))

    async def service_impact(
        self,
        tenant_id: str,
        as_of: datetime | None,
        window_days: int,
        expansion_kinds: Sequence[str],
    ) -> analysis_pb2.GetServiceImpactResponse:
        request = analysis_pb2.GetServiceImpactRequest(
            tenant_id=tenant_id, window_days=window_days, expansion_kinds=expansion_kinds
        )
        _set_time(request.as_of, as_of)
        return await _call("scoring", self._stub.GetServiceImpact(request, timeout=self._deadline))

    async def journey_endings(
        self, tenant_id: str, as_of: datetime | None, window_days: int
    ) -> analysis_pb2.GetJourneyEndingsResponse:
        request = analysis_pb2.GetJourneyEndingsRequest(
            tenant_id=tenant_id, window_days=window_days
        )
        _set_time(request.as_of, as_of)
        return await _call("scoring", self._stub.GetJourneyEndings(request, timeout=self._deadline))

    async def stars(
        self, tenant_id: str, as_of: datetime | None, min_customers: int
    ) -> analysis_pb2.GetStarsResponse:
        request = analysis_pb2.GetStarsRequest(tenant_id=tenant_id, min_customers=min_customers)
        _set_time(request.as_of, as_of)
        return await _call("scoring", self._stub.GetStars(request, timeout=self._deadline))

    async def engagement_sales(
        self, tenant_id: str, as_of: datetime | None, months: int, max_lag: int
    ) -> analysis_pb2.GetEngagementSalesResponse:
        request = analysis_pb2.GetEngagementSalesRequest(
            tenant_id=tenant_id, months=months, max_lag=max_lag
        )
        _set_time(request.as_of, as_of)
        return await _call(
            "scoring", self._stub.GetEngagementSales(request, timeout=self._deadline)
        )

    async def return_on_relationship(
        self,
        tenant_id: str,
        as_of: datetime | None,
        weights: dict[str, float],
        days: int,
        limit: int,
    ) -> analysis_pb2.GetReturnOnRelationshipResponse:
        request = analysis_pb2.GetReturnOnRelationshipRequest(
            tenant_id=tenant_id, weights=weights, days=days, limit=limit
        )
        _set_time(request.as_of, as_of)
        return await _call(
            "scoring", self._stub.GetReturnOnRelationship(request, timeout=self._deadline)
        )

    async def lookalikes(
        self,
        tenant_id: str,
        as_of: datetime | None,
        customer_ids: Sequence[str],
        limit: int,
        text_weight: float | None,
    ) -> analysis_pb2.GetLookalikesResponse:
        request = analysis_pb2.GetLookalikesRequest(
            tenant_id=tenant_id, customer_ids=customer_ids, limit=limit
        )
        if text_weight is not None:
            request.text_weight = text_weight
        _set_time(request.as_of, as_of)
        return await _call("scoring", self._stub.GetLookalikes(request, timeout=self._deadline))

    async def lookalikes_each(
        self, tenant_id: str, customer_ids: Sequence[str], limit: int
    ) -> analysis_pb2.BatchGetLookalikesResponse:
        request = analysis_pb2.BatchGetLookalikesRequest(
            tenant_id=tenant_id, customer_ids=customer_ids, limit=limit
        )
        return await _call(
            "scoring", self._stub.BatchGetLookalikes(request, timeout=self._deadline)
        )


class AnalysisContext(Protocol):
    """What the lenses need of the request's context (GatewayContext has it)."""

    @property
    def tenant_id(self) -> str: ...

    @property
    def loaders(self) -> Loaders: ...

    @property
    def analysis(self) -> AnalysisBackend | None: ...


AnalysisInfo = Info[AnalysisContext, None]


def _set_time(stamp: Timestamp, moment: datetime | None) -> None:
    if moment is not None:
        stamp.FromDatetime(moment)


def _time(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def _bad(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_INPUT"})


def _aware(moment: datetime | None, name: str) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise _bad(f"{name}: give a time zone")
    return moment


def _within(value: int, low: int, high: int, name: str) -> int:
    if not low <= value <= high:
        raise _bad(f"{name} must be {low}..{high}")
    return value


def _backend(info: AnalysisInfo) -> tuple[AnalysisBackend, str]:
    """The analysis client and the caller's tenant (from its token, never an argument)."""
    context = info.context
    tenant_id = context.tenant_id  # raises UNAUTHENTICATED first
    backend = context.analysis
    if backend is None:
        raise GraphQLError(
            "analysis is not available on this gateway",
            extensions={"code": "UPSTREAM_UNAVAILABLE", "service": "scoring"},
        )
    return backend, tenant_id


# ----------------------------------------------------------------------------- shared types


@strawberry.type(description="A 95% confidence (or, for shrunk figures, credible) interval.")
class Interval:
    low: float
    high: float

    @staticmethod
    def of(message: analysis_pb2.Interval) -> Interval:
        return Interval(low=message.low, high=message.high)


# ------------------------------------------------------------------------------- portfolio


@strawberry.type(
    description="A relationship type's customers at `asOf` and their economics: per customer "
    "averages over the trailing 12 months."
)
class PortfolioType:
    relationship_type: str
    customers: int
    share: float = strawberry.field(description="Of the placed customers, 0 to 1.")
    revenue: float = strawberry.field(description="Per customer.")
    cost_to_serve: float = strawberry.field(description="Per customer.")
    refund: float = strawberry.field(description="Per customer.")
    profit: float = strawberry.field(description="Per customer: revenue - cost to serve - refund.")
    revenue_ratio: float = strawberry.field(
        description="Revenue per customer against the baseline type's (the lowest)."
    )
    cost_ratio: float = strawberry.field(
        description="Cost to serve per customer against the baseline type's."
    )


@strawberry.type(description="Customers per Knapp stage at `asOf`.")
class PortfolioStage:
    stage: str
    customers: int
    coming_apart: bool


@strawberry.type(description="One customer on the value map, over the trailing 12 months.")
class PortfolioPoint:
    customer_id: strawberry.ID = strawberry.field(description="Ingest's id for the account.")
    name: str | None = strawberry.field(
        description="The customer's name from ingest; null if ingest no longer has it."
    )
    relationship_type: str
    revenue: float
    cost_to_serve: float
    profit: float


@strawberry.type(
    description="The share of revenue and of profit the top `topShare` of customers (by "
    "revenue) bring. A profit share above 1 means the rest lose money."
)
class ParetoPoint:
    top_share: float
    revenue_share: float
    profit_share: float


@strawberry.type(
    description="Customers that had `fromType` at `since` and `toType` at `asOf` (fromType "
    "empty: not placed yet at `since`)."
)
class TypeTransition:
    from_type: str
    to_type: str
    customers: int


@strawberry.type(
    description="The mix of relationship types and its movement, the Pareto curve, economics "
    "per type, the stage mix and the value map. Money over the trailing 12 months before "
    "`asOf`; types and stages at `asOf`; a customer counts once placed (it has a type)."
)
class Portfolio:
    as_of: datetime
    since: datetime = strawberry.field(description="Where the transition matrix starts.")
    window_start: datetime = strawberry.field(description="Where the money window starts.")
    customer_count: int
    types: list[PortfolioType]
    baseline_type: str = strawberry.field(
        description="The type with the lowest revenue per customer, the ratios' base."
    )
    stages: list[PortfolioStage]
    coming_apart: int = strawberry.field(description="Customers in the coming-apart half.")
    points: list[PortfolioPoint] = strawberry.field(
        description="The top `limit` customers by revenue."
    )
    points_total: int = strawberry.field(description="How many customers the map could show.")
    pareto: ParetoPoint | None = strawberry.field(
        description="What the top 20% bring; null without placed customers."
    )
    pareto_curve: list[ParetoPoint] = strawberry.field(description="In steps of 5%.")
    transitions: list[TypeTransition] = strawberry.field(
        description="The transition matrix between `since` and `asOf`, one cell a row."
    )
    total_revenue: float
    total_profit: float


def _portfolio(reply: analysis_pb2.GetPortfolioResponse, names: dict[str, str | None]) -> Portfolio:
    shares = {t.relationship_type: t.share for t in reply.type_mix}
    return Portfolio(
        as_of=_time(reply.as_of),
        since=_time(reply.since),
        window_start=_time(reply.window_start),
        customer_count=reply.customers,
        types=[
            PortfolioType(
                relationship_type=e.relationship_type,
                customers=e.customers,
                share=shares.get(e.relationship_type, 0.0),
                revenue=e.revenue,
                cost_to_serve=e.cost_to_serve,
                refund=e.refund,
                profit=e.profit,
                revenue_ratio=e.revenue_ratio,
                cost_ratio=e.cost_ratio,
            )
            for e in reply.economics
        ],
        baseline_type=reply.baseline_type,
        stages=[
            PortfolioStage(stage=s.stage, customers=s.customers, coming_apart=s.coming_apart)
            for s in reply.stage_mix
        ],
        coming_apart=reply.coming_apart,
        points=[
            PortfolioPoint(
                customer_id=strawberry.ID(p.customer_id),
                name=names.get(p.customer_id),
                relationship_type=p.relationship_type,
                revenue=p.revenue,
                cost_to_serve=p.cost_to_serve,
                profit=p.profit,
            )
            for p in reply.value_map
        ],
        points_total=reply.value_map_total,
        pareto=(
            ParetoPoint(
                top_share=0.2,
                revenue_share=reply.top20_revenue_share,
                profit_share=reply.top20_profit_share,
            )
            if reply.customers
            else None
        ),
        pareto_curve=[
            ParetoPoint(
                top_share=p.customer_share,
                revenue_share=p.revenue_share,
                profit_share=p.profit_share,
            )
            for p in reply.pareto
        ],
        transitions=[
            TypeTransition(from_type=t.from_type, to_type=t.to_type, customers=t.customers)
            for t in reply.transitions
        ],
        total_revenue=reply.total_revenue,
        total_profit=reply.total_profit,
    )


# -------------------------------------------------------------------------- service impact


@strawberry.type(
    description="Loss after a customer's first ticket of the issue type against before it or "
    "without it: a rate ratio over customer-years (the hazard ratio under a constant baseline)."
)
class IssueHazard:
    issue_type: str
    customers_with: int
    lost_after: int
    exposed_years: float
    lost_unexposed: int
    unexposed_years: float
    hazard_ratio: float
    interval: Interval
    foreshadows_loss: bool = strawberry.field(description="The interval lies above 1.")

    @staticmethod
    def of(m: analysis_pb2.IssueHazard) -> IssueHazard:
        return IssueHazard(
            issue_type=m.issue_type,
            customers_with=m.customers_with,
            lost_after=m.lost_after,
            exposed_years=m.exposed_years,
            lost_unexposed=m.lost_unexposed,
            unexposed_years=m.unexposed_years,
            hazard_ratio=m.hazard_ratio,
            interval=Interval.of(m.interval),
            foreshadows_loss=m.foreshadows_loss,
        )


@strawberry.type(
    description="Resolved tickets of the issue type followed by an expansion within the "
    "window, against resolved tickets of every other type."
)
class IssueUpsell:
    issue_type: str
    resolved: int
    followed: int
    share: float
    base_resolved: int
    base_followed: int
    base_rate: float
    lift: float
    interval: Interval
    opens_upsell: bool = strawberry.field(description="The interval lies above 1.")

    @staticmethod
    def of(m: analysis_pb2.IssueUpsell) -> IssueUpsell:
        return IssueUpsell(
            issue_type=m.issue_type,
            resolved=m.resolved,
            followed=m.followed,
            share=m.share,
            base_resolved=m.base_resolved,
            base_followed=m.base_followed,
            base_rate=m.base_rate,
            lift=m.lift,
            interval=Interval.of(m.interval),
            opens_upsell=m.opens_upsell,
        )


def _rows(limit: int) -> int:
    return _within(limit, 1, MAX_ROWS, "limit")


@strawberry.type(
    description="Which service issue types foreshadow loss, and which resolved ones open "
    "the door to an upsell."
)
class ServiceImpact:
    as_of: datetime
    customers: int
    lost: int
    window_days: int
    hazard_count: int
    upsell_count: int
    _hazards: strawberry.Private[list[analysis_pb2.IssueHazard]]
    _upsells: strawberry.Private[list[analysis_pb2.IssueUpsell]]

    @strawberry.field(description="Highest hazard ratio first (at most 100).")
    def hazards(self, limit: int = DEFAULT_ROWS) -> list[IssueHazard]:
        return [IssueHazard.of(h) for h in self._hazards[: _rows(limit)]]

    @strawberry.field(description="Highest lift first (at most 100).")
    def upsells(self, limit: int = DEFAULT_ROWS) -> list[IssueUpsell]:
        return [IssueUpsell.of(u) for u in self._upsells[: _rows(limit)]]


# ------------------------------------------------------------------------- journey endings


@strawberry.type(
    description='An interaction kind, or "issue:<type>", in the window before lost '
    "customers' end, against the same window before `asOf` for retained customers."
)
class EndingCause:
    cause: str
    lost_with: int
    lost: int
    retained_with: int
    retained: int
    lift: float = strawberry.field(description="The risk ratio.")
    interval: Interval
    trend: bool = strawberry.field(
        description="Seen before three losses or more, and more often than among the retained."
    )

    @staticmethod
    def of(m: analysis_pb2.EndingCause) -> EndingCause:
        return EndingCause(
            cause=m.cause,
            lost_with=m.lost_with,
            lost=m.lost,
            retained_with=m.retained_with,
            retained=m.retained,
            lift=m.lift,
            interval=Interval.of(m.interval),
            trend=m.trend,
        )


@strawberry.type(description="Post-mortems of lost customers: what precedes loss.")
class JourneyEndings:
    as_of: datetime
    lost: int
    retained: int
    window_days: int
    cause_count: int
    trend_count: int
    _causes: strawberry.Private[list[analysis_pb2.EndingCause]]

    @strawberry.field(description="Highest lift first (at most 100).")
    def causes(self, limit: int = DEFAULT_ROWS, trends_only: bool = False) -> list[EndingCause]:
        chosen = [c for c in self._causes if c.trend or not trends_only]
        return [EndingCause.of(c) for c in chosen[: _rows(limit)]]


# ----------------------------------------------------------------------------------- stars


@strawberry.type(
    description="An employee's customers in one group, with their outcomes up to `asOf`, raw "
    "and shrunk toward the tenant's mean."
)
class StarCell:
    employee: str
    group: str = strawberry.field(
        description="The relationship type or stage; empty over all the employee's customers."
    )
    customers: int
    retained: int
    retention_raw: float
    retention: float = strawberry.field(description="Shrunk toward the mean.")
    retention_interval: Interval
    expanded: int
    expansion: float
    revenue_per_month_raw: float
    revenue_per_month: float = strawberry.field(description="Shrunk toward the mean.")

    @staticmethod
    def of(m: analysis_pb2.StarCell) -> StarCell:
        return StarCell(
            employee=m.employee,
            group=m.group,
            customers=m.customers,
            retained=m.retained,
            retention_raw=m.retention_raw,
            retention=m.retention,
            retention_interval=Interval.of(m.retention_interval),
            expanded=m.expanded,
            expansion=m.expansion,
            revenue_per_month_raw=m.revenue_per_month_raw,
            revenue_per_month=m.revenue_per_month,
        )


@strawberry.type(description="Which employees do best with which types and stages.")
class Stars:
    as_of: datetime
    mean_retention: float
    mean_expansion: float
    mean_revenue_per_month: float
    employee_count: int
    _employees: strawberry.Private[list[analysis_pb2.StarCell]]
    _by_type: strawberry.Private[list[analysis_pb2.StarCell]]
    _by_stage: strawberry.Private[list[analysis_pb2.StarCell]]

    @strawberry.field(description="Best shrunk retention first (at most 100).")
    def employees(self, limit: int = DEFAULT_ROWS) -> list[StarCell]:
        return [StarCell.of(c) for c in self._employees[: _rows(limit)]]

    @strawberry.field(description="Per employee and relationship type (at most 100).")
    def by_type(self, limit: int = DEFAULT_ROWS) -> list[StarCell]:
        return [StarCell.of(c) for c in self._by_type[: _rows(limit)]]

    @strawberry.field(description="Per employee and stage (at most 100).")
    def by_stage(self, limit: int = DEFAULT_ROWS) -> list[StarCell]:
        return [StarCell.of(c) for c in self._by_stage[: _rows(limit)]]


# ---------------------------------------------------------------------- engagement and sales


@strawberry.type(
    description="The within-customer correlation of a month's engagement with revenue "
    "`lagMonths` later."
)
class LagCorrelation:
    lag_months: int
    pairs: int
    correlation: float
    interval: Interval = strawberry.field(
        description="Fisher's z with a standard error clustered by customer."
    )
    revenue_per_engagement: float


@strawberry.type(
    description="Engagement on a channel (inbound interactions that carry no revenue) and the "
    "revenue that follows."
)
class ChannelEngagement:
    channel: str
    engagements: int
    customers: int
    lags: list[LagCorrelation]
    best_lag_months: int
    leads_revenue: bool = strawberry.field(description="The best lag's interval lies above 0.")


@strawberry.type(description="Does engagement on each channel lead revenue, by how much, when.")
class EngagementSales:
    as_of: datetime
    months: int
    customers: int
    channels: list[ChannelEngagement]


def _engagement(reply: analysis_pb2.GetEngagementSalesResponse) -> EngagementSales:
    return EngagementSales(
        as_of=_time(reply.as_of),
        months=reply.months,
        customers=reply.customers,
        channels=[
            ChannelEngagement(
                channel=c.channel,
                engagements=c.engagements,
                customers=c.customers,
                lags=[
                    LagCorrelation(
                        lag_months=g.lag_months,
                        pairs=g.pairs,
                        correlation=g.correlation,
                        interval=Interval.of(g.interval),
                        revenue_per_engagement=g.revenue_per_engagement,
                    )
                    for g in c.lags
                ],
                best_lag_months=c.best_lag_months,
                leads_revenue=c.leads_revenue,
            )
            for c in reply.channels
        ],
    )


# ------------------------------------------------------------------- Return on Relationship


@strawberry.input(description="The value of one source of Return on Relationship.")
class ReturnWeightInput:
    name: str = strawberry.field(description=", ".join(ROR_WEIGHT_NAMES))
    value: float = strawberry.field(description="At least 0.")


@strawberry.type(description="A source's value as used.")
class ReturnWeight:
    name: str
    value: float


@strawberry.type(
    description="Value over the period: revenue net of refunds beside loyalty, "
    "recommendations and sharing, each count valued by the weights."
)
class ReturnGroup:
    relationship_type: str = strawberry.field(description="Empty for the whole tenant.")
    customers: int
    revenue: float
    loyalty: float
    recommendations: float
    sharing: float
    total: float
    per_customer: float
    beyond_revenue_share: float = strawberry.field(
        description="(loyalty + recommendations + sharing) / total"
    )

    @staticmethod
    def of(m: analysis_pb2.ReturnOnRelationship) -> ReturnGroup:
        return ReturnGroup(
            relationship_type=m.group,
            customers=m.customers,
            revenue=m.revenue,
            loyalty=m.loyalty,
            recommendations=m.recommendations,
            sharing=m.sharing,
            total=m.total,
            per_customer=m.per_customer,
            beyond_revenue_share=m.beyond_revenue_share,
        )


@strawberry.type(description="One customer's Return on Relationship over the period.")
class CustomerReturn:
    customer_id: strawberry.ID = strawberry.field(description="Ingest's id for the account.")
    relationship_type: str
    revenue: float
    loyalty: float
    recommendations: float
    sharing: float
    total: float


@strawberry.type(description="Return on Relationship: loyalty, recommendations and sharing.")
class ReturnOnRelationship:
    as_of: datetime
    period_start: datetime
    weights: list[ReturnWeight] = strawberry.field(description="The defaults with yours on top.")
    tenant: ReturnGroup
    by_type: list[ReturnGroup]
    top: list[CustomerReturn] = strawberry.field(description="Highest total first.")


def _weights(given: list[ReturnWeightInput] | None) -> dict[str, float]:
    weights: dict[str, float] = {}
    for weight in given or []:
        if weight.name not in ROR_WEIGHT_NAMES:
            raise _bad(
                f"weights: unknown name {weight.name[:40]!r}; known: {', '.join(ROR_WEIGHT_NAMES)}"
            )
        if weight.name in weights:
            raise _bad(f"weights: {weight.name} given twice")
        if not math.isfinite(weight.value) or weight.value < 0:
            raise _bad(f"weights: {weight.name} must be a number at least 0")
        weights[weight.name] = weight.value
    return weights


def _return(reply: analysis_pb2.GetReturnOnRelationshipResponse) -> ReturnOnRelationship:
    return ReturnOnRelationship(
        as_of=_time(reply.as_of),
        period_start=_time(reply.period_start),
        weights=[ReturnWeight(name=k, value=v) for k, v in sorted(reply.weights.items())],
        tenant=ReturnGroup.of(reply.tenant),
        by_type=[ReturnGroup.of(g) for g in reply.by_type],
        top=[
            CustomerReturn(
                customer_id=strawberry.ID(c.customer_id),
                relationship_type=c.relationship_type,
                revenue=c.revenue,
                loyalty=c.loyalty,
                recommendations=c.recommendations,
                sharing=c.sharing,
                total=c.total,
            )
            for c in reply.top
        ],
    )


# ------------------------------------------------------------------------------- lookalikes


@strawberry.type(description="A customer like the references, and why.")
class Lookalike:
    customer_id: strawberry.ID = strawberry.field(description="Ingest's id for the account.")
    similarity: float = strawberry.field(description="0 to 1: the blend used for ranking.")
    behaviour_similarity: float
    text_similarity: float
    reasons: list[str]

    @staticmethod
    def of(m: analysis_pb2.Lookalike) -> Lookalike:
        return Lookalike(
            customer_id=strawberry.ID(m.customer_id),
            similarity=m.similarity,
            behaviour_similarity=m.behaviour_similarity,
            text_similarity=m.text_similarity,
            reasons=list(m.reasons),
        )

    @strawberry.field(description="The customer itself; null if ingest no longer has it.")
    async def customer(
        self, info: AnalysisInfo
    ) -> Annotated[Customer, strawberry.lazy("gateway.schema")] | None:
        from gateway.schema import Customer  # schema.py imports this module

        found = await info.context.loaders.customers.load(str(self.customer_id))
        return Customer.of(found) if found is not None else None


@strawberry.type(description="The customers most like the references, most similar first.")
class Lookalikes:
    as_of: datetime
    customers: int = strawberry.field(description="How many customers were compared.")
    lookalikes: list[Lookalike] = strawberry.field(
        description="The references themselves are never in it."
    )


async def _lookalikes(
    info: AnalysisInfo,
    as_of: datetime | None,
    customer_ids: Sequence[str],
    limit: int,
    text_weight: float | None,
) -> Lookalikes:
    if not 1 <= len(customer_ids) <= MAX_REFERENCES:
        raise _bad(f"customerIds: give 1..{MAX_REFERENCES}")
    _within(limit, 1, MAX_LOOKALIKES, "limit")
    if text_weight is not None and not 0 <= text_weight <= 1:
        raise _bad("textWeight must be 0..1")
    references = list(dict.fromkeys(customer_key(str(i)) for i in customer_ids))
    backend, tenant_id = _backend(info)
    reply = await backend.lookalikes(tenant_id, as_of, references, limit, text_weight)
    return Lookalikes(
        as_of=_time(reply.as_of),
        customers=reply.customers,
        lookalikes=[Lookalike.of(m) for m in reply.lookalikes],
    )


# ---------------------------------------------------------------------------- the root


@strawberry.type(
    description="The analysis lenses, each as of one moment (now by default), each with the "
    "counts and intervals behind its figures."
)
class Analysis:
    as_of: strawberry.Private[datetime | None]

    @strawberry.field(
        description="Which service issue types foreshadow loss (hazard ratios), and which "
        "resolved ones are followed by an expansion within `windowDays` (1 to 365)."
    )
    async def service_impact(
        self,
        info: AnalysisInfo,
        window_days: int = 60,
        expansion_kinds: list[str] | None = None,
    ) -> ServiceImpact | None:
        _within(window_days, 1, 365, "windowDays")
        kinds = list(expansion_kinds or [])
        if len(kinds) > MAX_EXPANSION_KINDS:
            raise _bad(f"expansionKinds: at most {MAX_EXPANSION_KINDS} values")
        if any(not k.strip() for k in kinds):
            raise _bad("expansionKinds: a kind cannot be empty")
        backend, tenant_id = _backend(info)
        reply = await backend.service_impact(tenant_id, self.as_of, window_days, kinds)
        return ServiceImpact(
            as_of=_time(reply.as_of),
            customers=reply.customers,
            lost=reply.lost,
            window_days=reply.window_days,
            hazard_count=len(reply.hazards),
            upsell_count=len(reply.upsells),
            _hazards=list(reply.hazards),
            _upsells=list(reply.upsells),
        )

    @strawberry.field(
        description="What precedes loss more often than retention, in the `windowDays` (7 to "
        "365) before each end; a cause seen before 3 losses or more is a trend."
    )
    async def journey_endings(
        self, info: AnalysisInfo, window_days: int = 56
    ) -> JourneyEndings | None:
        _within(window_days, 7, 365, "windowDays")
        backend, tenant_id = _backend(info)
        reply = await backend.journey_endings(tenant_id, self.as_of, window_days)
        return JourneyEndings(
            as_of=_time(reply.as_of),
            lost=reply.lost,
            retained=reply.retained,
            window_days=reply.window_days,
            cause_count=len(reply.causes),
            trend_count=sum(1 for c in reply.causes if c.trend),
            _causes=list(reply.causes),
        )

    @strawberry.field(
        description="Which employees do best with which types and stages, shrunk toward the "
        "mean; cells with fewer than `minCustomers` (1 to 1,000) customers are left out."
    )
    async def stars(self, info: AnalysisInfo, min_customers: int = 1) -> Stars | None:
        _within(min_customers, 1, 1000, "minCustomers")
        backend, tenant_id = _backend(info)
        reply = await backend.stars(tenant_id, self.as_of, min_customers)
        return Stars(
            as_of=_time(reply.as_of),
            mean_retention=reply.mean_retention,
            mean_expansion=reply.mean_expansion,
            mean_revenue_per_month=reply.mean_revenue_per_month,
            employee_count=len(reply.employees),
            _employees=list(reply.employees),
            _by_type=list(reply.by_type),
            _by_stage=list(reply.by_stage),
        )

    @strawberry.field(
        description="Whether engagement on each channel leads revenue: over `months` (4 to "
        "120) 30-day months, at lags 0 to `maxLag` (1 to 12, below months - 1)."
    )
    async def engagement_sales(
        self, info: AnalysisInfo, months: int = 24, max_lag: int = 3
    ) -> EngagementSales | None:
        _within(months, 4, 120, "months")
        _within(max_lag, 1, 12, "maxLag")
        if max_lag >= months - 1:
            raise _bad("maxLag must be below months - 1")
        backend, tenant_id = _backend(info)
        return _engagement(await backend.engagement_sales(tenant_id, self.as_of, months, max_lag))

    @strawberry.field(
        description="Value accrued through loyalty, recommendations and sharing beside "
        "revenue over the `days` (30 to 3,650) before asOf, with the top `limit` (1 to 100) "
        "customers; `weights` override the defaults."
    )
    async def return_on_relationship(
        self,
        info: AnalysisInfo,
        weights: list[ReturnWeightInput] | None = None,
        days: int = 365,
        limit: int = DEFAULT_ROWS,
    ) -> ReturnOnRelationship | None:
        chosen = _weights(weights)
        _within(days, 30, 3650, "days")
        _within(limit, 1, MAX_ROWS, "limit")
        backend, tenant_id = _backend(info)
        reply = await backend.return_on_relationship(tenant_id, self.as_of, chosen, days, limit)
        return _return(reply)

    @strawberry.field(
        description="The customers most like one or a set (1 to 1,000 global ids or "
        "customerIds, compared through their centroid), by behaviour and by their own words; "
        "`textWeight` (0 to 1, default 0.4) is how much the words count."
    )
    async def lookalikes(
        self,
        info: AnalysisInfo,
        customer_ids: list[strawberry.ID],
        limit: int = 10,
        text_weight: float | None = None,
    ) -> Lookalikes | None:
        return await _lookalikes(info, self.as_of, customer_ids, limit, text_weight)


@strawberry.type
class AnalysisQuery:
    """Query fields of the analysis; schema.py's Query inherits them."""

    @strawberry.field(
        description="The portfolio as of `asOf` (now by default): the mix of types and its "
        "movement since `since` (90 days before by default), the Pareto curve, cost to serve "
        "against revenue per type, the stage mix, and the top `limit` (1 to 5,000) customers "
        "on the value map."
    )
    async def portfolio(
        self,
        info: AnalysisInfo,
        as_of: datetime | None = None,
        since: datetime | None = None,
        limit: int = DEFAULT_POINTS,
    ) -> Portfolio | None:
        _within(limit, 1, MAX_POINTS, "limit")
        _aware(as_of, "asOf")
        _aware(since, "since")
        if as_of is not None and since is not None and since >= as_of:
            raise _bad("since must be before asOf")
        backend, tenant_id = _backend(info)
        reply = await backend.portfolio(tenant_id, as_of, since, limit)
        names: dict[str, str | None] = {}
        if reply.value_map and selects(info, ("points", "name")):
            ids = [p.customer_id for p in reply.value_map]
            found = await info.context.loaders.customers.load_many(ids)
            names = {
                i: (c.name if c is not None else None) for i, c in zip(ids, found, strict=True)
            }
        return _portfolio(reply, names)

    @strawberry.field(
        description="The analysis lenses as of `asOf` (now by default): service impact, "
        "journey endings, stars, engagement and sales, Return on Relationship, lookalikes."
    )
    def analysis(self, as_of: datetime | None = None) -> Analysis:
        return Analysis(as_of=_aware(as_of, "asOf"))


async def similar_customers(
    self: _HasCustomerId, info: AnalysisInfo, limit: int = 5
) -> list[Lookalike] | None:
    """The customers most like this one, with similarity and reasons (Customer's
    `similarCustomers`): a page of customers costs one BatchGetLookalikes."""
    _within(limit, 1, MAX_LOOKALIKES, "limit")
    _backend(info)  # the caller's tenant, and a clear error without analysis
    found = await info.context.loaders.similar_customers.load((str(self.customer_id), limit))
    return [Lookalike.of(m) for m in found]


class _HasCustomerId(Protocol):
    @property
    def customer_id(self) -> strawberry.ID: ...
