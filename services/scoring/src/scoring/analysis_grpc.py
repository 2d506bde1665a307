"""Scoring's analysis servicer: parse the request, run the lens, shape the reply."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from relint.as_of import grpc_as_of
from relint.contracts.scoring.v1 import analysis_pb2, analysis_pb2_grpc
from relint.grpc_server import GrpcServer
from scoring import analysis, lookalikes
from scoring.analysis import InvalidAnalysis
from scoring.analysis_service import DEFAULT_VALUE_MAP, AnalysisService

M = TypeVar("M", bound=Message)
T = TypeVar("T")


def _time(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def _stamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _seconds_stamp(seconds: float) -> Timestamp:
    return _stamp(datetime.fromtimestamp(seconds, tz=UTC))


def _number(value: float) -> float:
    """A float fit for a reply: infinities and NaN (never expected) become 0."""
    return round(value, 6) if math.isfinite(value) else 0.0


def _message(cls: type[M], value: Any) -> M:
    """`cls` filled from the dataclass `value`'s same-named fields (intervals nested)."""
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(value):
        item = getattr(value, field.name)
        if isinstance(item, analysis.Interval):
            kwargs[field.name] = analysis_pb2.Interval(
                low=_number(item.low), high=_number(item.high)
            )
        elif isinstance(item, float):
            kwargs[field.name] = _number(item)
        else:
            kwargs[field.name] = item
    return cls(**kwargs)


async def _answer(context: grpc.aio.ServicerContext, call: Awaitable[T]) -> T:
    try:
        return await call
    except InvalidAnalysis as error:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        raise  # abort raises; this line is for the type checker


class AnalysisServicer(analysis_pb2_grpc.AnalysisServiceServicer):
    def __init__(self, service: AnalysisService) -> None:
        self.service = service

    async def GetPortfolio(
        self, request: analysis_pb2.GetPortfolioRequest, context: grpc.aio.ServicerContext
    ) -> analysis_pb2.GetPortfolioResponse:
        since = _time(request.since) if request.HasField("since") else None
        found = await _answer(
            context,
            self.service.portfolio(
                request.tenant_id,
                await grpc_as_of(context, request),
                since,
                request.limit if request.limit else DEFAULT_VALUE_MAP,
            ),
        )
        result = found.result.portfolio
        return analysis_pb2.GetPortfolioResponse(
            as_of=_stamp(found.as_of),
            since=_stamp(found.result.since),
            window_start=_stamp(found.result.window_start),
            customers=result.customers,
            type_mix=[_message(analysis_pb2.TypeShare, t) for t in result.type_mix],
            transitions=[_message(analysis_pb2.TypeTransition, t) for t in result.transitions],
            pareto=[_message(analysis_pb2.ParetoPoint, p) for p in result.pareto],
            top20_revenue_share=_number(result.top20_revenue_share),
            top20_profit_share=_number(result.top20_profit_share),
            total_revenue=_number(result.total_revenue),
            total_profit=_number(result.total_profit),
            economics=[_message(analysis_pb2.TypeEconomics, e) for e in result.economics],
            baseline_type=result.baseline_type,
            stage_mix=[_message(analysis_pb2.StageCount, s) for s in result.stage_mix],
            coming_apart=result.coming_apart,
            value_map=[_message(analysis_pb2.ValueMapPoint, v) for v in result.value_map],
            value_map_total=result.value_map_total,
        )

    async def GetServiceImpact(
        self, request: analysis_pb2.GetServiceImpactRequest, context: grpc.aio.ServicerContext
    ) -> analysis_pb2.GetServiceImpactResponse:
        found = await _answer(
            context,
            self.service.service_impact(
                request.tenant_id,
                await grpc_as_of(context, request),
                request.window_days or 60,
                list(request.expansion_kinds),
            ),
        )
        result = found.result
        return analysis_pb2.GetServiceImpactResponse(
            as_of=_stamp(found.as_of),
            customers=result.customers,
            lost=result.lost,
            hazards=[_message(analysis_pb2.IssueHazard, h) for h in result.hazards],
            upsells=[_message(analysis_pb2.IssueUpsell, u) for u in result.upsells],
            window_days=result.window_days,
        )

    async def GetJourneyEndings(
        self, request: analysis_pb2.GetJourneyEndingsRequest, context: grpc.aio.ServicerContext
    ) -> analysis_pb2.GetJourneyEndingsResponse:
        found = await _answer(
            context,
            self.service.journey_endings(
                request.tenant_id, await grpc_as_of(context, request), request.window_days or 56
            ),
        )
        result = found.result
        return analysis_pb2.GetJourneyEndingsResponse(
            as_of=_stamp(found.as_of),
            lost=result.lost,
            retained=result.retained,
            window_days=result.window_days,
            causes=[_message(analysis_pb2.EndingCause, c) for c in result.causes],
        )

    async def GetStars(
        self, request: analysis_pb2.GetStarsRequest, context: grpc.aio.ServicerContext
    ) -> analysis_pb2.GetStarsResponse:
        found = await _answer(
            context,
            self.service.stars(
                request.tenant_id, await grpc_as_of(context, request), request.min_customers or 1
            ),
        )
        result = found.result
        return analysis_pb2.GetStarsResponse(
            as_of=_stamp(found.as_of),
            employees=[_message(analysis_pb2.StarCell, c) for c in result.employees],
            by_type=[_message(analysis_pb2.StarCell, c) for c in result.by_type],
            by_stage=[_message(analysis_pb2.StarCell, c) for c in result.by_stage],
            mean_retention=_number(result.mean_retention),
            mean_expansion=_number(result.mean_expansion),
            mean_revenue_per_month=_number(result.mean_revenue_per_month),
        )

    async def GetEngagementSales(
        self, request: analysis_pb2.GetEngagementSalesRequest, context: grpc.aio.ServicerContext
    ) -> analysis_pb2.GetEngagementSalesResponse:
        found = await _answer(
            context,
            self.service.engagement_sales(
                request.tenant_id,
                await grpc_as_of(context, request),
                request.months or 24,
                request.max_lag if request.max_lag else 3,
            ),
        )
        result = found.result
        return analysis_pb2.GetEngagementSalesResponse(
            as_of=_stamp(found.as_of),
            months=result.months,
            customers=result.customers,
            channels=[
                analysis_pb2.ChannelEngagement(
                    channel=c.channel,
                    engagements=c.engagements,
                    customers=c.customers,
                    lags=[_message(analysis_pb2.LagCorrelation, lag) for lag in c.lags],
                    best_lag_months=c.best_lag_months,
                    leads_revenue=c.leads_revenue,
                )
                for c in result.channels
            ],
        )

    async def GetReturnOnRelationship(
        self,
        request: analysis_pb2.GetReturnOnRelationshipRequest,
        context: grpc.aio.ServicerContext,
    ) -> analysis_pb2.GetReturnOnRelationshipResponse:
        found = await _answer(
            context,
            self.service.return_on_relationship(
                request.tenant_id,
                await grpc_as_of(context, request),
                dict(request.weights),
                request.days or 365,
                request.limit or 20,
            ),
        )
        result = found.result
        return analysis_pb2.GetReturnOnRelationshipResponse(
            as_of=_stamp(found.as_of),
            period_start=_seconds_stamp(result.period_start),
            weights=result.weights,
            tenant=_message(analysis_pb2.ReturnOnRelationship, result.tenant),
            by_type=[_message(analysis_pb2.ReturnOnRelationship, r) for r in result.by_type],
            top=[_message(analysis_pb2.CustomerReturn, c) for c in result.top],
        )

    async def GetLookalikes(
        self, request: analysis_pb2.GetLookalikesRequest, context: grpc.aio.ServicerContext
    ) -> analysis_pb2.GetLookalikesResponse:
        found = await _answer(
            context,
            self.service.lookalikes(
                request.tenant_id,
                list(request.customer_ids),
                await grpc_as_of(context, request),
                request.limit or 10,
                request.text_weight if request.HasField("text_weight") else 0.4,
            ),
        )
        return analysis_pb2.GetLookalikesResponse(
            as_of=_stamp(found.as_of),
            customers=found.customers,
            lookalikes=_lookalike_messages(found.result),
        )

    async def BatchGetLookalikes(
        self, request: analysis_pb2.BatchGetLookalikesRequest, context: grpc.aio.ServicerContext
    ) -> analysis_pb2.BatchGetLookalikesResponse:
        found = await _answer(
            context,
            self.service.lookalikes_each(
                request.tenant_id,
                list(request.customer_ids),
                await grpc_as_of(context, request),
                request.limit or 10,
                request.text_weight if request.HasField("text_weight") else 0.4,
            ),
        )
        return analysis_pb2.BatchGetLookalikesResponse(
            as_of=_stamp(found.as_of),
            customers=found.customers,
            results=[
                analysis_pb2.LookalikesOf(customer_id=c, lookalikes=_lookalike_messages(items))
                for c, items in zip(request.customer_ids, found.result, strict=True)
            ],
        )


def _lookalike_messages(
    found: Sequence[lookalikes.Lookalike],
) -> list[analysis_pb2.Lookalike]:
    return [
        analysis_pb2.Lookalike(
            customer_id=item.customer_id,
            similarity=_number(item.similarity),
            behaviour_similarity=_number(item.behaviour_similarity),
            text_similarity=_number(item.text_similarity),
            reasons=list(item.reasons),
        )
        for item in found
    ]


def register(server: GrpcServer, service: AnalysisService) -> None:
    server.add(
        lambda s: analysis_pb2_grpc.add_AnalysisServiceServicer_to_server(
            AnalysisServicer(service), s
        ),
        [analysis_pb2.DESCRIPTOR.services_by_name["AnalysisService"].full_name],
    )
