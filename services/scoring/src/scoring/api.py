"""Scoring's REST routes: parse, call the service, shape the response."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import AwareDatetime, BaseModel, Field

from relint.as_of import AsOf
from relint.auth import SCOPE_ADMIN, SCOPE_GRAPH_READ, SCOPE_GRAPH_WRITE, Principal, require_scope
from scoring import relationship_types
from scoring.domain import InvalidPeriod, period
from scoring.service import InvalidSettings, RelationshipView, ScoringService
from scoring.stages import is_coming_apart

router = APIRouter(prefix="/v1", tags=["relationships"])
Reader = Annotated[Principal, require_scope(SCOPE_GRAPH_READ)]
Writer = Annotated[Principal, require_scope(SCOPE_GRAPH_WRITE)]
Admin = Annotated[Principal, require_scope(SCOPE_ADMIN)]
CustomerId = Annotated[str, Path(min_length=1, max_length=36)]


def _period(start: datetime | None, end: datetime | None, days: int) -> tuple[datetime, datetime]:
    try:
        return period(start, end, days, datetime.now(UTC))
    except InvalidPeriod as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from error


def _service(request: Request) -> ScoringService:
    service: ScoringService = request.app.state.scoring
    return service


class RelationshipOut(BaseModel):
    customer_id: str
    as_of: datetime
    value: float
    trend: float = Field(description="How much the value moved over the 30 days up to as_of")
    interaction_count: int
    first_interaction_at: datetime | None
    last_interaction_at: datetime | None
    last_contribution: float
    relationship_type: str = Field(description="Empty until the customer is first placed")
    type_reason: str
    stage: str = Field(description="One of Knapp's ten stages; empty until first evaluated")
    stage_since: datetime | None
    stage_reason: str
    coming_apart: bool
    risk: float = Field(description="How likely the relationship is to end, 0 to 1")
    risk_reasons: list[str] = Field(description="Why, strongest first")
    p_alive: float | None = Field(description="Probability the customer still buys (model)")
    expected_purchases: float | None = Field(description="Expected purchases in 90 days")
    lifetime_value: float | None = Field(description="Value over the next year, discounted")
    potential: float | None = Field(description="Revenue a year it could bring, like the best")
    potential_reason: str
    updated_at: datetime


def _relationship(view: RelationshipView) -> RelationshipOut:
    return RelationshipOut(
        customer_id=view.customer_id,
        as_of=view.as_of,
        value=round(view.value, 6),
        trend=round(view.trend, 6),
        interaction_count=view.interaction_count,
        first_interaction_at=view.first_interaction_at,
        last_interaction_at=view.last_interaction_at,
        last_contribution=view.last_contribution,
        relationship_type=view.relationship_type,
        type_reason=view.type_reason,
        stage=view.stage,
        stage_since=view.stage_since,
        stage_reason=view.stage_reason,
        coming_apart=is_coming_apart(view.stage),
        risk=round(view.risk, 6),
        risk_reasons=list(view.risk_reasons),
        p_alive=view.p_alive,
        expected_purchases=view.expected_purchases,
        lifetime_value=view.lifetime_value,
        potential=view.potential,
        potential_reason=view.potential_reason,
        updated_at=view.updated_at,
    )


@router.get(
    "/customers/{customer_id}/relationship",
    summary="A customer's Relationship Value, type and stage, now or as of a past moment",
    responses={404: {"description": "No interaction of this customer applied (by then)"}},
)
async def relationship(
    customer_id: CustomerId, request: Request, principal: Reader, as_of: AsOf = None
) -> RelationshipOut:
    views = await _service(request).relationships(principal.tenant_id, [customer_id], as_of)
    if not views:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no relationship for {customer_id}")
    return _relationship(views[0])


@router.get(
    "/at-risk",
    summary="The customers most likely to end, riskiest first, with reasons; now or as of a "
    "past moment",
    description="As of a past moment, each risk is the one the relationship read as of then "
    "gives (its interactions up to then and its stage then), among the customers with an "
    "interaction by then.",
)
async def at_risk(
    request: Request,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    as_of: AsOf = None,
) -> list[RelationshipOut]:
    found = await _service(request).at_risk(principal.tenant_id, limit, as_of)
    return [_relationship(v) for v in found]


@router.get(
    "/potential",
    summary="Customers who behave like the best ones but bring less, most potential first",
)
async def with_potential(
    request: Request,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    as_of: AsOf = None,
) -> list[RelationshipOut]:
    found = await _service(request).with_potential(principal.tenant_id, limit, as_of)
    return [_relationship(v) for v in found]


class DriverOut(BaseModel):
    interaction_id: str
    occurred_at: datetime
    reason: str
    effect: float


class ExplanationOut(BaseModel):
    start: datetime
    end: datetime
    start_value: float
    end_value: float
    change: float
    sentence: str = Field(description='e.g. "It fell 18.2 points: a complaint on 3 Mar (-8.1)"')
    drivers: list[DriverOut] = Field(description="The interactions in the period, strongest first")
    fading: float = Field(description="What fading of older interactions did in the period")
    top_contributions: list[DriverOut] = Field(description="What the value at `end` is made of")


@router.get(
    "/customers/{customer_id}/explanation",
    summary="Why the value moved over a period, in words",
    responses={422: {"description": "start not before end"}},
)
async def explanation(
    customer_id: CustomerId,
    request: Request,
    principal: Reader,
    start: Annotated[AwareDatetime | None, Query(description="Default: 30 days before end")] = None,
    end: Annotated[AwareDatetime | None, Query(description="Default: now")] = None,
    top: Annotated[int, Query(ge=1, le=20)] = 5,
) -> ExplanationOut:
    start, end = _period(start, end, 30)
    service = _service(request)
    found = await service.explanation(principal.tenant_id, customer_id, start, end, top)
    made_of = await service.top_contributions(principal.tenant_id, customer_id, end, top)
    return ExplanationOut(
        start=start,
        end=end,
        start_value=round(found.start, 6),
        end_value=round(found.end, 6),
        change=round(found.change, 6),
        sentence=found.sentence(),
        drivers=[DriverOut(**vars(d)) for d in found.drivers],
        fading=round(found.fading, 6),
        top_contributions=[DriverOut(**vars(d)) for d in made_of],
    )


class TimelinePointOut(BaseModel):
    at: datetime
    value: float
    relationship_type: str
    stage: str
    risk: float | None = Field(
        default=None,
        description="The risk of loss (0 to 1) from the interactions up to `at`, the "
        "purchase model's chance of being active on the purchases up to then among its "
        "signals; null before the first interaction",
    )


@router.get(
    "/customers/{customer_id}/timeline",
    summary="Value, type, stage and risk at evenly spaced moments of a period",
)
async def timeline(
    customer_id: CustomerId,
    request: Request,
    principal: Reader,
    start: Annotated[AwareDatetime | None, Query(description="Default: a year before end")] = None,
    end: Annotated[AwareDatetime | None, Query(description="Default: now")] = None,
    points: Annotated[int, Query(ge=2, le=500)] = 60,
) -> list[TimelinePointOut]:
    start, end = _period(start, end, 365)
    found = await _service(request).timeline(principal.tenant_id, customer_id, start, end, points)
    return [
        TimelinePointOut(
            at=p.at,
            value=round(p.value, 6),
            relationship_type=p.relationship_type,
            stage=p.stage,
            risk=p.risk,
        )
        for p in found
    ]


class AlertOut(BaseModel):
    id: str
    customer_id: str
    kind: str
    severity: str
    reason: str
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None


@router.get(
    "/alerts",
    summary="The tenant's alerts, newest first; now or as of a past moment",
    description="As of a moment: the alerts raised by then, each as it stood then (one "
    "acknowledged later was open, and `open_only` keeps it).",
)
async def alerts(
    request: Request,
    principal: Reader,
    customer_id: Annotated[str | None, Query(max_length=36)] = None,
    open_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    as_of: AsOf = None,
) -> list[AlertOut]:
    rows = await _service(request).alerts(
        principal.tenant_id, [customer_id] if customer_id else None, open_only, limit, as_of
    )
    return [
        AlertOut(
            id=a.id,
            customer_id=a.customer_id,
            kind=a.kind,
            severity=a.severity,
            reason=a.reason,
            raised_at=a.raised_at,
            acknowledged_at=a.acknowledged_at,
            acknowledged_by=a.acknowledged_by,
        )
        for a in rows
    ]


@router.post(
    "/alerts/{alert_id}:acknowledge",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Acknowledge an alert",
    responses={404: {"description": "No open alert with this id in the tenant"}},
)
async def acknowledge(
    request: Request, principal: Writer, alert_id: Annotated[str, Path(max_length=36)]
) -> None:
    if not await _service(request).acknowledge(principal.tenant_id, alert_id, principal.partner_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no open alert {alert_id}")


class SettingsIn(BaseModel):
    weights: dict[str, Any] | None = Field(
        default=None,
        description="Overrides of the weight table: {'weights': {'complaint': -5, "
        "'sales.purchase': 3}, 'outcomes': {'won': 3, 'lost': -3}, 'negativity': 2, "
        "'sentiment_weight': 2, 'revenue_weight': 0.5, 'half_life_good_days': 180, "
        "'half_life_bad_days': 365}; null: the defaults",
        json_schema_extra={"example": {"weights": {"complaint": -5}, "negativity": 2.5}},
    )
    types: Annotated[list[dict[str, Any]], Field(max_length=10)] | None = Field(
        default=None,
        description="The relationship types in order, the last a catch-all: [{'name', "
        "'description', 'when': [{'feature': 'revenue', 'at_least_percentile': 75}]}]; "
        "null: the default four",
    )


class SettingsOut(BaseModel):
    weights: dict[str, float]
    outcomes: dict[str, float]
    negativity: float
    sentiment_weight: float
    revenue_weight: float
    half_life_good_days: float
    half_life_bad_days: float
    types: list[dict[str, Any]]


@router.get("/settings", summary="The tenant's weight table and relationship types")
async def get_settings(request: Request, principal: Reader) -> SettingsOut:
    return _settings(await _service(request).rules(principal.tenant_id))


@router.put(
    "/settings",
    summary="Replace the tenant's weights and types; its history is weighed again",
    responses={422: {"description": "Every problem, each with its path; nothing changed"}},
)
async def put_settings(request: Request, principal: Admin, body: SettingsIn) -> SettingsOut:
    try:
        rules = await _service(request).put_settings(principal.tenant_id, body.weights, body.types)
    except InvalidSettings as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, error.problems) from error
    return _settings(rules)


def _settings(rules: Any) -> SettingsOut:
    table = rules.weights
    return SettingsOut(
        weights=dict(table.weights),
        outcomes=dict(table.outcomes),
        negativity=table.negativity,
        sentiment_weight=table.sentiment_weight,
        revenue_weight=table.revenue_weight,
        half_life_good_days=table.half_life_good_days,
        half_life_bad_days=table.half_life_bad_days,
        types=relationship_types.rules_to_config(rules.types),
    )
