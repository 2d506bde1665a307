import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Interval(_message.Message):
    __slots__ = ("low", "high")
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    low: float
    high: float
    def __init__(self, low: _Optional[float] = ..., high: _Optional[float] = ...) -> None: ...

class GetPortfolioRequest(_message.Message):
    __slots__ = ("tenant_id", "as_of", "since", "limit")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    as_of: _timestamp_pb2.Timestamp
    since: _timestamp_pb2.Timestamp
    limit: int
    def __init__(self, tenant_id: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., limit: _Optional[int] = ...) -> None: ...

class TypeShare(_message.Message):
    __slots__ = ("relationship_type", "customers", "share")
    RELATIONSHIP_TYPE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    relationship_type: str
    customers: int
    share: float
    def __init__(self, relationship_type: _Optional[str] = ..., customers: _Optional[int] = ..., share: _Optional[float] = ...) -> None: ...

class TypeTransition(_message.Message):
    __slots__ = ("from_type", "to_type", "customers")
    FROM_TYPE_FIELD_NUMBER: _ClassVar[int]
    TO_TYPE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    from_type: str
    to_type: str
    customers: int
    def __init__(self, from_type: _Optional[str] = ..., to_type: _Optional[str] = ..., customers: _Optional[int] = ...) -> None: ...

class ParetoPoint(_message.Message):
    __slots__ = ("customer_share", "revenue_share", "profit_share")
    CUSTOMER_SHARE_FIELD_NUMBER: _ClassVar[int]
    REVENUE_SHARE_FIELD_NUMBER: _ClassVar[int]
    PROFIT_SHARE_FIELD_NUMBER: _ClassVar[int]
    customer_share: float
    revenue_share: float
    profit_share: float
    def __init__(self, customer_share: _Optional[float] = ..., revenue_share: _Optional[float] = ..., profit_share: _Optional[float] = ...) -> None: ...

class TypeEconomics(_message.Message):
    __slots__ = ("relationship_type", "customers", "revenue", "cost_to_serve", "refund", "profit", "revenue_ratio", "cost_ratio")
    RELATIONSHIP_TYPE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    COST_TO_SERVE_FIELD_NUMBER: _ClassVar[int]
    REFUND_FIELD_NUMBER: _ClassVar[int]
    PROFIT_FIELD_NUMBER: _ClassVar[int]
    REVENUE_RATIO_FIELD_NUMBER: _ClassVar[int]
    COST_RATIO_FIELD_NUMBER: _ClassVar[int]
    relationship_type: str
    customers: int
    revenue: float
    cost_to_serve: float
    refund: float
    profit: float
    revenue_ratio: float
    cost_ratio: float
    def __init__(self, relationship_type: _Optional[str] = ..., customers: _Optional[int] = ..., revenue: _Optional[float] = ..., cost_to_serve: _Optional[float] = ..., refund: _Optional[float] = ..., profit: _Optional[float] = ..., revenue_ratio: _Optional[float] = ..., cost_ratio: _Optional[float] = ...) -> None: ...

class StageCount(_message.Message):
    __slots__ = ("stage", "customers", "coming_apart")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    COMING_APART_FIELD_NUMBER: _ClassVar[int]
    stage: str
    customers: int
    coming_apart: bool
    def __init__(self, stage: _Optional[str] = ..., customers: _Optional[int] = ..., coming_apart: _Optional[bool] = ...) -> None: ...

class ValueMapPoint(_message.Message):
    __slots__ = ("customer_id", "relationship_type", "revenue", "cost_to_serve", "profit")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIP_TYPE_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    COST_TO_SERVE_FIELD_NUMBER: _ClassVar[int]
    PROFIT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    relationship_type: str
    revenue: float
    cost_to_serve: float
    profit: float
    def __init__(self, customer_id: _Optional[str] = ..., relationship_type: _Optional[str] = ..., revenue: _Optional[float] = ..., cost_to_serve: _Optional[float] = ..., profit: _Optional[float] = ...) -> None: ...

class GetPortfolioResponse(_message.Message):
    __slots__ = ("as_of", "since", "window_start", "customers", "type_mix", "transitions", "pareto", "top20_revenue_share", "top20_profit_share", "total_revenue", "total_profit", "economics", "baseline_type", "stage_mix", "coming_apart", "value_map", "value_map_total")
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    TYPE_MIX_FIELD_NUMBER: _ClassVar[int]
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    PARETO_FIELD_NUMBER: _ClassVar[int]
    TOP20_REVENUE_SHARE_FIELD_NUMBER: _ClassVar[int]
    TOP20_PROFIT_SHARE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_REVENUE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PROFIT_FIELD_NUMBER: _ClassVar[int]
    ECONOMICS_FIELD_NUMBER: _ClassVar[int]
    BASELINE_TYPE_FIELD_NUMBER: _ClassVar[int]
    STAGE_MIX_FIELD_NUMBER: _ClassVar[int]
    COMING_APART_FIELD_NUMBER: _ClassVar[int]
    VALUE_MAP_FIELD_NUMBER: _ClassVar[int]
    VALUE_MAP_TOTAL_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    since: _timestamp_pb2.Timestamp
    window_start: _timestamp_pb2.Timestamp
    customers: int
    type_mix: _containers.RepeatedCompositeFieldContainer[TypeShare]
    transitions: _containers.RepeatedCompositeFieldContainer[TypeTransition]
    pareto: _containers.RepeatedCompositeFieldContainer[ParetoPoint]
    top20_revenue_share: float
    top20_profit_share: float
    total_revenue: float
    total_profit: float
    economics: _containers.RepeatedCompositeFieldContainer[TypeEconomics]
    baseline_type: str
    stage_mix: _containers.RepeatedCompositeFieldContainer[StageCount]
    coming_apart: int
    value_map: _containers.RepeatedCompositeFieldContainer[ValueMapPoint]
    value_map_total: int
    def __init__(self, as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., customers: _Optional[int] = ..., type_mix: _Optional[_Iterable[_Union[TypeShare, _Mapping]]] = ..., transitions: _Optional[_Iterable[_Union[TypeTransition, _Mapping]]] = ..., pareto: _Optional[_Iterable[_Union[ParetoPoint, _Mapping]]] = ..., top20_revenue_share: _Optional[float] = ..., top20_profit_share: _Optional[float] = ..., total_revenue: _Optional[float] = ..., total_profit: _Optional[float] = ..., economics: _Optional[_Iterable[_Union[TypeEconomics, _Mapping]]] = ..., baseline_type: _Optional[str] = ..., stage_mix: _Optional[_Iterable[_Union[StageCount, _Mapping]]] = ..., coming_apart: _Optional[int] = ..., value_map: _Optional[_Iterable[_Union[ValueMapPoint, _Mapping]]] = ..., value_map_total: _Optional[int] = ...) -> None: ...

class GetServiceImpactRequest(_message.Message):
    __slots__ = ("tenant_id", "as_of", "window_days", "expansion_kinds")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    EXPANSION_KINDS_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    as_of: _timestamp_pb2.Timestamp
    window_days: int
    expansion_kinds: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tenant_id: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_days: _Optional[int] = ..., expansion_kinds: _Optional[_Iterable[str]] = ...) -> None: ...

class IssueHazard(_message.Message):
    __slots__ = ("issue_type", "customers_with", "lost_after", "exposed_years", "lost_unexposed", "unexposed_years", "hazard_ratio", "interval", "foreshadows_loss")
    ISSUE_TYPE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_WITH_FIELD_NUMBER: _ClassVar[int]
    LOST_AFTER_FIELD_NUMBER: _ClassVar[int]
    EXPOSED_YEARS_FIELD_NUMBER: _ClassVar[int]
    LOST_UNEXPOSED_FIELD_NUMBER: _ClassVar[int]
    UNEXPOSED_YEARS_FIELD_NUMBER: _ClassVar[int]
    HAZARD_RATIO_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    FORESHADOWS_LOSS_FIELD_NUMBER: _ClassVar[int]
    issue_type: str
    customers_with: int
    lost_after: int
    exposed_years: float
    lost_unexposed: int
    unexposed_years: float
    hazard_ratio: float
    interval: Interval
    foreshadows_loss: bool
    def __init__(self, issue_type: _Optional[str] = ..., customers_with: _Optional[int] = ..., lost_after: _Optional[int] = ..., exposed_years: _Optional[float] = ..., lost_unexposed: _Optional[int] = ..., unexposed_years: _Optional[float] = ..., hazard_ratio: _Optional[float] = ..., interval: _Optional[_Union[Interval, _Mapping]] = ..., foreshadows_loss: _Optional[bool] = ...) -> None: ...

class IssueUpsell(_message.Message):
    __slots__ = ("issue_type", "resolved", "followed", "share", "base_resolved", "base_followed", "base_rate", "lift", "interval", "opens_upsell")
    ISSUE_TYPE_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    FOLLOWED_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    BASE_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    BASE_FOLLOWED_FIELD_NUMBER: _ClassVar[int]
    BASE_RATE_FIELD_NUMBER: _ClassVar[int]
    LIFT_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    OPENS_UPSELL_FIELD_NUMBER: _ClassVar[int]
    issue_type: str
    resolved: int
    followed: int
    share: float
    base_resolved: int
    base_followed: int
    base_rate: float
    lift: float
    interval: Interval
    opens_upsell: bool
    def __init__(self, issue_type: _Optional[str] = ..., resolved: _Optional[int] = ..., followed: _Optional[int] = ..., share: _Optional[float] = ..., base_resolved: _Optional[int] = ..., base_followed: _Optional[int] = ..., base_rate: _Optional[float] = ..., lift: _Optional[float] = ..., interval: _Optional[_Union[Interval, _Mapping]] = ..., opens_upsell: _Optional[bool] = ...) -> None: ...

class GetServiceImpactResponse(_message.Message):
    __slots__ = ("as_of", "customers", "lost", "hazards", "upsells", "window_days")
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    LOST_FIELD_NUMBER: _ClassVar[int]
    HAZARDS_FIELD_NUMBER: _ClassVar[int]
    UPSELLS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    customers: int
    lost: int
    hazards: _containers.RepeatedCompositeFieldContainer[IssueHazard]
    upsells: _containers.RepeatedCompositeFieldContainer[IssueUpsell]
    window_days: int
    def __init__(self, as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., customers: _Optional[int] = ..., lost: _Optional[int] = ..., hazards: _Optional[_Iterable[_Union[IssueHazard, _Mapping]]] = ..., upsells: _Optional[_Iterable[_Union[IssueUpsell, _Mapping]]] = ..., window_days: _Optional[int] = ...) -> None: ...

class GetJourneyEndingsRequest(_message.Message):
    __slots__ = ("tenant_id", "as_of", "window_days")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    as_of: _timestamp_pb2.Timestamp
    window_days: int
    def __init__(self, tenant_id: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_days: _Optional[int] = ...) -> None: ...

class EndingCause(_message.Message):
    __slots__ = ("cause", "lost_with", "lost", "retained_with", "retained", "lift", "interval", "trend")
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    LOST_WITH_FIELD_NUMBER: _ClassVar[int]
    LOST_FIELD_NUMBER: _ClassVar[int]
    RETAINED_WITH_FIELD_NUMBER: _ClassVar[int]
    RETAINED_FIELD_NUMBER: _ClassVar[int]
    LIFT_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    TREND_FIELD_NUMBER: _ClassVar[int]
    cause: str
    lost_with: int
    lost: int
    retained_with: int
    retained: int
    lift: float
    interval: Interval
    trend: bool
    def __init__(self, cause: _Optional[str] = ..., lost_with: _Optional[int] = ..., lost: _Optional[int] = ..., retained_with: _Optional[int] = ..., retained: _Optional[int] = ..., lift: _Optional[float] = ..., interval: _Optional[_Union[Interval, _Mapping]] = ..., trend: _Optional[bool] = ...) -> None: ...

class GetJourneyEndingsResponse(_message.Message):
    __slots__ = ("as_of", "lost", "retained", "window_days", "causes")
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    LOST_FIELD_NUMBER: _ClassVar[int]
    RETAINED_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    CAUSES_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    lost: int
    retained: int
    window_days: int
    causes: _containers.RepeatedCompositeFieldContainer[EndingCause]
    def __init__(self, as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lost: _Optional[int] = ..., retained: _Optional[int] = ..., window_days: _Optional[int] = ..., causes: _Optional[_Iterable[_Union[EndingCause, _Mapping]]] = ...) -> None: ...

class GetStarsRequest(_message.Message):
    __slots__ = ("tenant_id", "as_of", "min_customers")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    MIN_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    as_of: _timestamp_pb2.Timestamp
    min_customers: int
    def __init__(self, tenant_id: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., min_customers: _Optional[int] = ...) -> None: ...

class StarCell(_message.Message):
    __slots__ = ("employee", "group", "customers", "retained", "retention_raw", "retention", "retention_interval", "expanded", "expansion", "revenue_per_month_raw", "revenue_per_month")
    EMPLOYEE_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    RETAINED_FIELD_NUMBER: _ClassVar[int]
    RETENTION_RAW_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    RETENTION_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    EXPANDED_FIELD_NUMBER: _ClassVar[int]
    EXPANSION_FIELD_NUMBER: _ClassVar[int]
    REVENUE_PER_MONTH_RAW_FIELD_NUMBER: _ClassVar[int]
    REVENUE_PER_MONTH_FIELD_NUMBER: _ClassVar[int]
    employee: str
    group: str
    customers: int
    retained: int
    retention_raw: float
    retention: float
    retention_interval: Interval
    expanded: int
    expansion: float
    revenue_per_month_raw: float
    revenue_per_month: float
    def __init__(self, employee: _Optional[str] = ..., group: _Optional[str] = ..., customers: _Optional[int] = ..., retained: _Optional[int] = ..., retention_raw: _Optional[float] = ..., retention: _Optional[float] = ..., retention_interval: _Optional[_Union[Interval, _Mapping]] = ..., expanded: _Optional[int] = ..., expansion: _Optional[float] = ..., revenue_per_month_raw: _Optional[float] = ..., revenue_per_month: _Optional[float] = ...) -> None: ...

class GetStarsResponse(_message.Message):
    __slots__ = ("as_of", "employees", "by_type", "by_stage", "mean_retention", "mean_expansion", "mean_revenue_per_month")
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEES_FIELD_NUMBER: _ClassVar[int]
    BY_TYPE_FIELD_NUMBER: _ClassVar[int]
    BY_STAGE_FIELD_NUMBER: _ClassVar[int]
    MEAN_RETENTION_FIELD_NUMBER: _ClassVar[int]
    MEAN_EXPANSION_FIELD_NUMBER: _ClassVar[int]
    MEAN_REVENUE_PER_MONTH_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    employees: _containers.RepeatedCompositeFieldContainer[StarCell]
    by_type: _containers.RepeatedCompositeFieldContainer[StarCell]
    by_stage: _containers.RepeatedCompositeFieldContainer[StarCell]
    mean_retention: float
    mean_expansion: float
    mean_revenue_per_month: float
    def __init__(self, as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., employees: _Optional[_Iterable[_Union[StarCell, _Mapping]]] = ..., by_type: _Optional[_Iterable[_Union[StarCell, _Mapping]]] = ..., by_stage: _Optional[_Iterable[_Union[StarCell, _Mapping]]] = ..., mean_retention: _Optional[float] = ..., mean_expansion: _Optional[float] = ..., mean_revenue_per_month: _Optional[float] = ...) -> None: ...

class GetEngagementSalesRequest(_message.Message):
    __slots__ = ("tenant_id", "as_of", "months", "max_lag")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    MONTHS_FIELD_NUMBER: _ClassVar[int]
    MAX_LAG_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    as_of: _timestamp_pb2.Timestamp
    months: int
    max_lag: int
    def __init__(self, tenant_id: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., months: _Optional[int] = ..., max_lag: _Optional[int] = ...) -> None: ...

class LagCorrelation(_message.Message):
    __slots__ = ("lag_months", "pairs", "correlation", "interval", "revenue_per_engagement")
    LAG_MONTHS_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    REVENUE_PER_ENGAGEMENT_FIELD_NUMBER: _ClassVar[int]
    lag_months: int
    pairs: int
    correlation: float
    interval: Interval
    revenue_per_engagement: float
    def __init__(self, lag_months: _Optional[int] = ..., pairs: _Optional[int] = ..., correlation: _Optional[float] = ..., interval: _Optional[_Union[Interval, _Mapping]] = ..., revenue_per_engagement: _Optional[float] = ...) -> None: ...

class ChannelEngagement(_message.Message):
    __slots__ = ("channel", "engagements", "customers", "lags", "best_lag_months", "leads_revenue")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ENGAGEMENTS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    LAGS_FIELD_NUMBER: _ClassVar[int]
    BEST_LAG_MONTHS_FIELD_NUMBER: _ClassVar[int]
    LEADS_REVENUE_FIELD_NUMBER: _ClassVar[int]
    channel: str
    engagements: int
    customers: int
    lags: _containers.RepeatedCompositeFieldContainer[LagCorrelation]
    best_lag_months: int
    leads_revenue: bool
    def __init__(self, channel: _Optional[str] = ..., engagements: _Optional[int] = ..., customers: _Optional[int] = ..., lags: _Optional[_Iterable[_Union[LagCorrelation, _Mapping]]] = ..., best_lag_months: _Optional[int] = ..., leads_revenue: _Optional[bool] = ...) -> None: ...

class GetEngagementSalesResponse(_message.Message):
    __slots__ = ("as_of", "months", "customers", "channels")
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    MONTHS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    months: int
    customers: int
    channels: _containers.RepeatedCompositeFieldContainer[ChannelEngagement]
    def __init__(self, as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., months: _Optional[int] = ..., customers: _Optional[int] = ..., channels: _Optional[_Iterable[_Union[ChannelEngagement, _Mapping]]] = ...) -> None: ...

class GetReturnOnRelationshipRequest(_message.Message):
    __slots__ = ("tenant_id", "as_of", "weights", "days", "limit")
    class WeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    as_of: _timestamp_pb2.Timestamp
    weights: _containers.ScalarMap[str, float]
    days: int
    limit: int
    def __init__(self, tenant_id: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., weights: _Optional[_Mapping[str, float]] = ..., days: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ReturnOnRelationship(_message.Message):
    __slots__ = ("group", "customers", "revenue", "loyalty", "recommendations", "sharing", "total", "per_customer", "beyond_revenue_share")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    LOYALTY_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATIONS_FIELD_NUMBER: _ClassVar[int]
    SHARING_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PER_CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    BEYOND_REVENUE_SHARE_FIELD_NUMBER: _ClassVar[int]
    group: str
    customers: int
    revenue: float
    loyalty: float
    recommendations: float
    sharing: float
    total: float
    per_customer: float
    beyond_revenue_share: float
    def __init__(self, group: _Optional[str] = ..., customers: _Optional[int] = ..., revenue: _Optional[float] = ..., loyalty: _Optional[float] = ..., recommendations: _Optional[float] = ..., sharing: _Optional[float] = ..., total: _Optional[float] = ..., per_customer: _Optional[float] = ..., beyond_revenue_share: _Optional[float] = ...) -> None: ...

class CustomerReturn(_message.Message):
    __slots__ = ("customer_id", "relationship_type", "revenue", "loyalty", "recommendations", "sharing", "total")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIP_TYPE_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    LOYALTY_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATIONS_FIELD_NUMBER: _ClassVar[int]
    SHARING_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    relationship_type: str
    revenue: float
    loyalty: float
    recommendations: float
    sharing: float
    total: float
    def __init__(self, customer_id: _Optional[str] = ..., relationship_type: _Optional[str] = ..., revenue: _Optional[float] = ..., loyalty: _Optional[float] = ..., recommendations: _Optional[float] = ..., sharing: _Optional[float] = ..., total: _Optional[float] = ...) -> None: ...

class GetReturnOnRelationshipResponse(_message.Message):
    __slots__ = ("as_of", "period_start", "weights", "tenant", "by_type", "top")
    class WeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    BY_TYPE_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    period_start: _timestamp_pb2.Timestamp
    weights: _containers.ScalarMap[str, float]
    tenant: ReturnOnRelationship
    by_type: _containers.RepeatedCompositeFieldContainer[ReturnOnRelationship]
    top: _containers.RepeatedCompositeFieldContainer[CustomerReturn]
    def __init__(self, as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., weights: _Optional[_Mapping[str, float]] = ..., tenant: _Optional[_Union[ReturnOnRelationship, _Mapping]] = ..., by_type: _Optional[_Iterable[_Union[ReturnOnRelationship, _Mapping]]] = ..., top: _Optional[_Iterable[_Union[CustomerReturn, _Mapping]]] = ...) -> None: ...

class GetLookalikesRequest(_message.Message):
    __slots__ = ("tenant_id", "as_of", "customer_ids", "limit", "text_weight")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    TEXT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    as_of: _timestamp_pb2.Timestamp
    customer_ids: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    text_weight: float
    def __init__(self, tenant_id: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., customer_ids: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., text_weight: _Optional[float] = ...) -> None: ...

class Lookalike(_message.Message):
    __slots__ = ("customer_id", "similarity", "behaviour_similarity", "text_similarity", "reasons")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    BEHAVIOUR_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    TEXT_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    similarity: float
    behaviour_similarity: float
    text_similarity: float
    reasons: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, customer_id: _Optional[str] = ..., similarity: _Optional[float] = ..., behaviour_similarity: _Optional[float] = ..., text_similarity: _Optional[float] = ..., reasons: _Optional[_Iterable[str]] = ...) -> None: ...

class GetLookalikesResponse(_message.Message):
    __slots__ = ("as_of", "customers", "lookalikes")
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    LOOKALIKES_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    customers: int
    lookalikes: _containers.RepeatedCompositeFieldContainer[Lookalike]
    def __init__(self, as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., customers: _Optional[int] = ..., lookalikes: _Optional[_Iterable[_Union[Lookalike, _Mapping]]] = ...) -> None: ...

class BatchGetLookalikesRequest(_message.Message):
    __slots__ = ("tenant_id", "as_of", "customer_ids", "limit", "text_weight")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    TEXT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    as_of: _timestamp_pb2.Timestamp
    customer_ids: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    text_weight: float
    def __init__(self, tenant_id: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., customer_ids: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., text_weight: _Optional[float] = ...) -> None: ...

class LookalikesOf(_message.Message):
    __slots__ = ("customer_id", "lookalikes")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    LOOKALIKES_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    lookalikes: _containers.RepeatedCompositeFieldContainer[Lookalike]
    def __init__(self, customer_id: _Optional[str] = ..., lookalikes: _Optional[_Iterable[_Union[Lookalike, _Mapping]]] = ...) -> None: ...

class BatchGetLookalikesResponse(_message.Message):
    __slots__ = ("as_of", "customers", "results")
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    customers: int
    results: _containers.RepeatedCompositeFieldContainer[LookalikesOf]
    def __init__(self, as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., customers: _Optional[int] = ..., results: _Optional[_Iterable[_Union[LookalikesOf, _Mapping]]] = ...) -> None: ...
