import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Relationship(_message.Message):
    __slots__ = ("tenant_id", "customer_id", "value", "interaction_count", "last_interaction_at", "updated_at", "last_contribution")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_INTERACTION_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_CONTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    customer_id: str
    value: float
    interaction_count: int
    last_interaction_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    last_contribution: float
    def __init__(self, tenant_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., value: _Optional[float] = ..., interaction_count: _Optional[int] = ..., last_interaction_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_contribution: _Optional[float] = ...) -> None: ...

class BatchGetRelationshipsRequest(_message.Message):
    __slots__ = ("tenant_id", "customer_ids")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    customer_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tenant_id: _Optional[str] = ..., customer_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchGetRelationshipsResponse(_message.Message):
    __slots__ = ("relationships",)
    RELATIONSHIPS_FIELD_NUMBER: _ClassVar[int]
    relationships: _containers.RepeatedCompositeFieldContainer[Relationship]
    def __init__(self, relationships: _Optional[_Iterable[_Union[Relationship, _Mapping]]] = ...) -> None: ...
