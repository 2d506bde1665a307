import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Relationship(_message.Message):
    __slots__ = ("tenant_id", "customer_id", "value", "interaction_count", "last_interaction_at", "updated_at", "last_contribution", "as_of", "first_interaction_at", "relationship_type", "type_reason", "stage", "stage_since", "stage_reason", "coming_apart", "risk", "risk_reasons", "p_alive", "expected_purchases", "lifetime_value", "potential", "potential_reason", "type_since", "revenue", "trend", "standing_changed_at")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_INTERACTION_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_CONTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    FIRST_INTERACTION_AT_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIP_TYPE_FIELD_NUMBER: _ClassVar[int]
    TYPE_REASON_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    STAGE_SINCE_FIELD_NUMBER: _ClassVar[int]
    STAGE_REASON_FIELD_NUMBER: _ClassVar[int]
    COMING_APART_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    RISK_REASONS_FIELD_NUMBER: _ClassVar[int]
    P_ALIVE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_PURCHASES_FIELD_NUMBER: _ClassVar[int]
    LIFETIME_VALUE_FIELD_NUMBER: _ClassVar[int]
    POTENTIAL_FIELD_NUMBER: _ClassVar[int]
    POTENTIAL_REASON_FIELD_NUMBER: _ClassVar[int]
    TYPE_SINCE_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    TREND_FIELD_NUMBER: _ClassVar[int]
    STANDING_CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    customer_id: str
    value: float
    interaction_count: int
    last_interaction_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    last_contribution: float
    as_of: _timestamp_pb2.Timestamp
    first_interaction_at: _timestamp_pb2.Timestamp
    relationship_type: str
    type_reason: str
    stage: str
    stage_since: _timestamp_pb2.Timestamp
    stage_reason: str
    coming_apart: bool
    risk: float
    risk_reasons: _containers.RepeatedScalarFieldContainer[str]
    p_alive: float
    expected_purchases: float
    lifetime_value: float
    potential: float
    potential_reason: str
    type_since: _timestamp_pb2.Timestamp
    revenue: float
    trend: float
    standing_changed_at: _timestamp_pb2.Timestamp
    def __init__(self, tenant_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., value: _Optional[float] = ..., interaction_count: _Optional[int] = ..., last_interaction_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_contribution: _Optional[float] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., first_interaction_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., relationship_type: _Optional[str] = ..., type_reason: _Optional[str] = ..., stage: _Optional[str] = ..., stage_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stage_reason: _Optional[str] = ..., coming_apart: _Optional[bool] = ..., risk: _Optional[float] = ..., risk_reasons: _Optional[_Iterable[str]] = ..., p_alive: _Optional[float] = ..., expected_purchases: _Optional[float] = ..., lifetime_value: _Optional[float] = ..., potential: _Optional[float] = ..., potential_reason: _Optional[str] = ..., type_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revenue: _Optional[float] = ..., trend: _Optional[float] = ..., standing_changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TypeCondition(_message.Message):
    __slots__ = ("feature", "op", "value")
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    feature: str
    op: str
    value: float
    def __init__(self, feature: _Optional[str] = ..., op: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class RelationshipTypeRule(_message.Message):
    __slots__ = ("name", "description", "conditions")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    conditions: _containers.RepeatedCompositeFieldContainer[TypeCondition]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., conditions: _Optional[_Iterable[_Union[TypeCondition, _Mapping]]] = ...) -> None: ...

class GetRelationshipTypesRequest(_message.Message):
    __slots__ = ("tenant_id",)
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    def __init__(self, tenant_id: _Optional[str] = ...) -> None: ...

class GetRelationshipTypesResponse(_message.Message):
    __slots__ = ("types", "features")
    TYPES_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    types: _containers.RepeatedCompositeFieldContainer[RelationshipTypeRule]
    features: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, types: _Optional[_Iterable[_Union[RelationshipTypeRule, _Mapping]]] = ..., features: _Optional[_Iterable[str]] = ...) -> None: ...

class SetRelationshipTypesRequest(_message.Message):
    __slots__ = ("tenant_id", "types")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    types: _containers.RepeatedCompositeFieldContainer[RelationshipTypeRule]
    def __init__(self, tenant_id: _Optional[str] = ..., types: _Optional[_Iterable[_Union[RelationshipTypeRule, _Mapping]]] = ...) -> None: ...

class SettingProblem(_message.Message):
    __slots__ = ("path", "reason")
    PATH_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    path: str
    reason: str
    def __init__(self, path: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SetRelationshipTypesResponse(_message.Message):
    __slots__ = ("types", "problems")
    TYPES_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    types: _containers.RepeatedCompositeFieldContainer[RelationshipTypeRule]
    problems: _containers.RepeatedCompositeFieldContainer[SettingProblem]
    def __init__(self, types: _Optional[_Iterable[_Union[RelationshipTypeRule, _Mapping]]] = ..., problems: _Optional[_Iterable[_Union[SettingProblem, _Mapping]]] = ...) -> None: ...

class ListRelationshipsRequest(_message.Message):
    __slots__ = ("tenant_id", "relationship_types", "stages", "min_risk", "customer_ids", "order_by", "ascending", "page_size", "page_token")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIP_TYPES_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    MIN_RISK_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    ASCENDING_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    relationship_types: _containers.RepeatedScalarFieldContainer[str]
    stages: _containers.RepeatedScalarFieldContainer[str]
    min_risk: float
    customer_ids: _containers.RepeatedScalarFieldContainer[str]
    order_by: str
    ascending: bool
    page_size: int
    page_token: str
    def __init__(self, tenant_id: _Optional[str] = ..., relationship_types: _Optional[_Iterable[str]] = ..., stages: _Optional[_Iterable[str]] = ..., min_risk: _Optional[float] = ..., customer_ids: _Optional[_Iterable[str]] = ..., order_by: _Optional[str] = ..., ascending: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRelationshipsResponse(_message.Message):
    __slots__ = ("relationships", "next_page_token", "cursors")
    RELATIONSHIPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CURSORS_FIELD_NUMBER: _ClassVar[int]
    relationships: _containers.RepeatedCompositeFieldContainer[Relationship]
    next_page_token: str
    cursors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, relationships: _Optional[_Iterable[_Union[Relationship, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., cursors: _Optional[_Iterable[str]] = ...) -> None: ...

class ListAtRiskRequest(_message.Message):
    __slots__ = ("tenant_id", "limit", "as_of")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    limit: int
    as_of: _timestamp_pb2.Timestamp
    def __init__(self, tenant_id: _Optional[str] = ..., limit: _Optional[int] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListAtRiskResponse(_message.Message):
    __slots__ = ("relationships",)
    RELATIONSHIPS_FIELD_NUMBER: _ClassVar[int]
    relationships: _containers.RepeatedCompositeFieldContainer[Relationship]
    def __init__(self, relationships: _Optional[_Iterable[_Union[Relationship, _Mapping]]] = ...) -> None: ...

class BatchGetRelationshipsRequest(_message.Message):
    __slots__ = ("tenant_id", "customer_ids", "as_of")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    customer_ids: _containers.RepeatedScalarFieldContainer[str]
    as_of: _timestamp_pb2.Timestamp
    def __init__(self, tenant_id: _Optional[str] = ..., customer_ids: _Optional[_Iterable[str]] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BatchGetRelationshipsResponse(_message.Message):
    __slots__ = ("relationships",)
    RELATIONSHIPS_FIELD_NUMBER: _ClassVar[int]
    relationships: _containers.RepeatedCompositeFieldContainer[Relationship]
    def __init__(self, relationships: _Optional[_Iterable[_Union[Relationship, _Mapping]]] = ...) -> None: ...

class GetRelationshipTimelineRequest(_message.Message):
    __slots__ = ("tenant_id", "customer_id", "start", "end", "points")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    customer_id: str
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    points: int
    def __init__(self, tenant_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., points: _Optional[int] = ...) -> None: ...

class TimelinePoint(_message.Message):
    __slots__ = ("at", "value", "relationship_type", "stage", "risk")
    AT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIP_TYPE_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    value: float
    relationship_type: str
    stage: str
    risk: float
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., value: _Optional[float] = ..., relationship_type: _Optional[str] = ..., stage: _Optional[str] = ..., risk: _Optional[float] = ...) -> None: ...

class GetRelationshipTimelineResponse(_message.Message):
    __slots__ = ("points",)
    POINTS_FIELD_NUMBER: _ClassVar[int]
    points: _containers.RepeatedCompositeFieldContainer[TimelinePoint]
    def __init__(self, points: _Optional[_Iterable[_Union[TimelinePoint, _Mapping]]] = ...) -> None: ...

class ExplainRelationshipRequest(_message.Message):
    __slots__ = ("tenant_id", "customer_id", "start", "end", "top")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    customer_id: str
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    top: int
    def __init__(self, tenant_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., top: _Optional[int] = ...) -> None: ...

class Driver(_message.Message):
    __slots__ = ("interaction_id", "occurred_at", "reason", "effect")
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    interaction_id: str
    occurred_at: _timestamp_pb2.Timestamp
    reason: str
    effect: float
    def __init__(self, interaction_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., effect: _Optional[float] = ...) -> None: ...

class ExplainRelationshipResponse(_message.Message):
    __slots__ = ("start_value", "end_value", "change", "drivers", "fading", "sentence", "top_contributions")
    START_VALUE_FIELD_NUMBER: _ClassVar[int]
    END_VALUE_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    DRIVERS_FIELD_NUMBER: _ClassVar[int]
    FADING_FIELD_NUMBER: _ClassVar[int]
    SENTENCE_FIELD_NUMBER: _ClassVar[int]
    TOP_CONTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    start_value: float
    end_value: float
    change: float
    drivers: _containers.RepeatedCompositeFieldContainer[Driver]
    fading: float
    sentence: str
    top_contributions: _containers.RepeatedCompositeFieldContainer[Driver]
    def __init__(self, start_value: _Optional[float] = ..., end_value: _Optional[float] = ..., change: _Optional[float] = ..., drivers: _Optional[_Iterable[_Union[Driver, _Mapping]]] = ..., fading: _Optional[float] = ..., sentence: _Optional[str] = ..., top_contributions: _Optional[_Iterable[_Union[Driver, _Mapping]]] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("id", "tenant_id", "customer_id", "kind", "severity", "reason", "raised_at", "acknowledged_at", "acknowledged_by")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RAISED_AT_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_AT_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_BY_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    customer_id: str
    kind: str
    severity: str
    reason: str
    raised_at: _timestamp_pb2.Timestamp
    acknowledged_at: _timestamp_pb2.Timestamp
    acknowledged_by: str
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., kind: _Optional[str] = ..., severity: _Optional[str] = ..., reason: _Optional[str] = ..., raised_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., acknowledged_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., acknowledged_by: _Optional[str] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("tenant_id", "customer_ids", "open_only", "limit", "as_of")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    OPEN_ONLY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    customer_ids: _containers.RepeatedScalarFieldContainer[str]
    open_only: bool
    limit: int
    as_of: _timestamp_pb2.Timestamp
    def __init__(self, tenant_id: _Optional[str] = ..., customer_ids: _Optional[_Iterable[str]] = ..., open_only: _Optional[bool] = ..., limit: _Optional[int] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts",)
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    def __init__(self, alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ...) -> None: ...

class AcknowledgeAlertRequest(_message.Message):
    __slots__ = ("tenant_id", "alert_id", "acknowledged_by")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_BY_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    alert_id: str
    acknowledged_by: str
    def __init__(self, tenant_id: _Optional[str] = ..., alert_id: _Optional[str] = ..., acknowledged_by: _Optional[str] = ...) -> None: ...

class AcknowledgeAlertResponse(_message.Message):
    __slots__ = ("acknowledged",)
    ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    acknowledged: bool
    def __init__(self, acknowledged: _Optional[bool] = ...) -> None: ...

class ListAlertFeedRequest(_message.Message):
    __slots__ = ("since", "limit", "after_id")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    since: _timestamp_pb2.Timestamp
    limit: int
    after_id: str
    def __init__(self, since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., limit: _Optional[int] = ..., after_id: _Optional[str] = ...) -> None: ...

class ListAlertFeedResponse(_message.Message):
    __slots__ = ("alerts",)
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    def __init__(self, alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ...) -> None: ...

class ListRelationshipFeedRequest(_message.Message):
    __slots__ = ("since", "limit", "after_tenant_id", "after_customer_id", "standing_only")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AFTER_TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STANDING_ONLY_FIELD_NUMBER: _ClassVar[int]
    since: _timestamp_pb2.Timestamp
    limit: int
    after_tenant_id: str
    after_customer_id: str
    standing_only: bool
    def __init__(self, since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., limit: _Optional[int] = ..., after_tenant_id: _Optional[str] = ..., after_customer_id: _Optional[str] = ..., standing_only: _Optional[bool] = ...) -> None: ...

class ListRelationshipFeedResponse(_message.Message):
    __slots__ = ("relationships",)
    RELATIONSHIPS_FIELD_NUMBER: _ClassVar[int]
    relationships: _containers.RepeatedCompositeFieldContainer[Relationship]
    def __init__(self, relationships: _Optional[_Iterable[_Union[Relationship, _Mapping]]] = ...) -> None: ...
