"""Scoring's analysis routes (GET /v1/analysis/<lens>): parse, call the lens, shape the answer.
Each answer is the lens's result with `as_of` and the counts behind it; the fields are
those of scoring.analysis's dataclasses and of proto/scoring/v1/analysis.proto."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import AwareDatetime

from relint.as_of import AsOf
from relint.auth import SCOPE_GRAPH_READ, Principal, require_scope
from scoring.analysis import InvalidAnalysis
from scoring.analysis_service import MAX_VALUE_MAP, Analysis, AnalysisService

router = APIRouter(prefix="/v1/analysis", tags=["analysis"])
Reader = Annotated[Principal, require_scope(SCOPE_GRAPH_READ)]
T = TypeVar("T")


def _service(request: Request) -> AnalysisService:
    service: AnalysisService = request.app.state.analysis
    return service


def _plain(value: Any) -> Any:
    """JSON-ready: dataclasses as objects, non-finite floats (never expected) as null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


async def _answer(call: Awaitable[Analysis[T]], name: str = "result") -> dict[str, Any]:
    """The lens's fields beside as_of and customers (a list result under `name`)."""
    try:
        found = await call
    except InvalidAnalysis as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from error
    body = _plain(found.result)
    if not isinstance(body, dict):
        body = {name: body}
    return {"as_of": found.as_of.isoformat(), "customers": found.customers, **body}


@router.get(
    "/portfolio",
    summary="Mix of types and its movement, Pareto curve, economics per type (trailing 12 "
    "months), stage mix and the value map",
)
async def portfolio(
    request: Request,
    principal: Reader,
    as_of: AsOf = None,
    since: Annotated[
        AwareDatetime | None, Query(description="Start of the transition period")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_VALUE_MAP)] = 500,
) -> dict[str, Any]:
    return await _answer(_service(request).portfolio(principal.tenant_id, as_of, since, limit))


@router.get(
    "/service-impact",
    summary="Hazard ratio of loss per service issue type; upsell after resolved issues",
)
async def service_impact(
    request: Request,
    principal: Reader,
    as_of: AsOf = None,
    window_days: Annotated[int, Query(ge=1, le=365)] = 60,
    expansion_kind: Annotated[list[str] | None, Query(max_length=20)] = None,
) -> dict[str, Any]:
    return await _answer(
        _service(request).service_impact(
            principal.tenant_id, as_of, window_days, expansion_kind or ()
        )
    )


@router.get(
    "/journey-endings",
    summary="What precedes loss more often than retention, with lift and trends",
)
async def journey_endings(
    request: Request,
    principal: Reader,
    as_of: AsOf = None,
    window_days: Annotated[int, Query(ge=7, le=365)] = 56,
) -> dict[str, Any]:
    return await _answer(_service(request).journey_endings(principal.tenant_id, as_of, window_days))


@router.get(
    "/stars",
    summary="Employees' outcomes per relationship type and stage, shrunk toward the mean",
)
async def stars(
    request: Request,
    principal: Reader,
    as_of: AsOf = None,
    min_customers: Annotated[int, Query(ge=1, le=1000)] = 1,
) -> dict[str, Any]:
    return await _answer(_service(request).stars(principal.tenant_id, as_of, min_customers))


@router.get(
    "/engagement-sales",
    summary="Per channel, lagged correlation of monthly engagement with later revenue",
)
async def engagement_sales(
    request: Request,
    principal: Reader,
    as_of: AsOf = None,
    months: Annotated[int, Query(ge=4, le=120)] = 24,
    max_lag: Annotated[int, Query(ge=0, le=12)] = 3,
) -> dict[str, Any]:
    return await _answer(
        _service(request).engagement_sales(principal.tenant_id, as_of, months, max_lag)
    )


@router.get(
    "/return-on-relationship",
    summary="Loyalty, recommendations and sharing beside revenue, with the tenant's weights",
)
async def return_on_relationship(
    request: Request,
    principal: Reader,
    as_of: AsOf = None,
    weight: Annotated[
        list[str] | None,
        Query(description="name=value, e.g. referral=800 (repeatable)", max_length=20),
    ] = None,
    days: Annotated[int, Query(ge=30, le=3650)] = 365,
    limit: Annotated[int, Query(ge=0, le=1000)] = 20,
) -> dict[str, Any]:
    weights: dict[str, float] = {}
    for item in weight or []:
        name, _, value = item.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"weight {item!r}: expected name=number",
            ) from None
    return await _answer(
        _service(request).return_on_relationship(principal.tenant_id, as_of, weights, days, limit)
    )


@router.get(
    "/lookalikes",
    summary="The customers most like one or a set, by behaviour and their own words, with why",
)
async def lookalikes(
    request: Request,
    principal: Reader,
    customer_id: Annotated[list[str], Query(min_length=1, max_length=1000)],
    as_of: AsOf = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    text_weight: Annotated[float, Query(ge=0, le=1)] = 0.4,
) -> dict[str, Any]:
    return await _answer(
        _service(request).lookalikes(principal.tenant_id, customer_id, as_of, limit, text_weight),
        "lookalikes",
    )
