import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_UNSPECIFIED: _ClassVar[Direction]
    DIRECTION_INBOUND: _ClassVar[Direction]
    DIRECTION_OUTBOUND: _ClassVar[Direction]

class AmountType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AMOUNT_TYPE_UNSPECIFIED: _ClassVar[AmountType]
    AMOUNT_TYPE_REVENUE: _ClassVar[AmountType]
    AMOUNT_TYPE_COST_TO_SERVE: _ClassVar[AmountType]
    AMOUNT_TYPE_REFUND: _ClassVar[AmountType]
DIRECTION_UNSPECIFIED: Direction
DIRECTION_INBOUND: Direction
DIRECTION_OUTBOUND: Direction
AMOUNT_TYPE_UNSPECIFIED: AmountType
AMOUNT_TYPE_REVENUE: AmountType
AMOUNT_TYPE_COST_TO_SERVE: AmountType
AMOUNT_TYPE_REFUND: AmountType

class Interaction(_message.Message):
    __slots__ = ("id", "tenant_id", "customer_id", "occurred_at", "channel", "kind", "direction", "sentiment", "amount", "amount_type", "currency", "employee", "text", "source", "source_id", "attributes", "received_at", "traceparent", "sequence")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    customer_id: str
    occurred_at: _timestamp_pb2.Timestamp
    channel: str
    kind: str
    direction: Direction
    sentiment: float
    amount: str
    amount_type: AmountType
    currency: str
    employee: str
    text: str
    source: str
    source_id: str
    attributes: _struct_pb2.Struct
    received_at: _timestamp_pb2.Timestamp
    traceparent: str
    sequence: int
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., channel: _Optional[str] = ..., kind: _Optional[str] = ..., direction: _Optional[_Union[Direction, str]] = ..., sentiment: _Optional[float] = ..., amount: _Optional[str] = ..., amount_type: _Optional[_Union[AmountType, str]] = ..., currency: _Optional[str] = ..., employee: _Optional[str] = ..., text: _Optional[str] = ..., source: _Optional[str] = ..., source_id: _Optional[str] = ..., attributes: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., traceparent: _Optional[str] = ..., sequence: _Optional[int] = ...) -> None: ...

class Customer(_message.Message):
    __slots__ = ("id", "tenant_id", "external_id", "name", "created_at", "first_seen_at", "last_seen_at", "interaction_count")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    external_id: str
    name: str
    created_at: _timestamp_pb2.Timestamp
    first_seen_at: _timestamp_pb2.Timestamp
    last_seen_at: _timestamp_pb2.Timestamp
    interaction_count: int
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., external_id: _Optional[str] = ..., name: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., first_seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., interaction_count: _Optional[int] = ...) -> None: ...

class DeliverInteractionsRequest(_message.Message):
    __slots__ = ("interactions",)
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    interactions: _containers.RepeatedCompositeFieldContainer[Interaction]
    def __init__(self, interactions: _Optional[_Iterable[_Union[Interaction, _Mapping]]] = ...) -> None: ...

class DeliverInteractionsResponse(_message.Message):
    __slots__ = ("applied", "duplicates")
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    applied: int
    duplicates: int
    def __init__(self, applied: _Optional[int] = ..., duplicates: _Optional[int] = ...) -> None: ...

class BatchGetCustomersRequest(_message.Message):
    __slots__ = ("tenant_id", "customer_ids", "recent_per_customer")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    RECENT_PER_CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    customer_ids: _containers.RepeatedScalarFieldContainer[str]
    recent_per_customer: int
    def __init__(self, tenant_id: _Optional[str] = ..., customer_ids: _Optional[_Iterable[str]] = ..., recent_per_customer: _Optional[int] = ...) -> None: ...

class BatchGetCustomersResponse(_message.Message):
    __slots__ = ("customers", "recent_interactions")
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    RECENT_INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    customers: _containers.RepeatedCompositeFieldContainer[Customer]
    recent_interactions: _containers.RepeatedCompositeFieldContainer[Interaction]
    def __init__(self, customers: _Optional[_Iterable[_Union[Customer, _Mapping]]] = ..., recent_interactions: _Optional[_Iterable[_Union[Interaction, _Mapping]]] = ...) -> None: ...

class LookupCustomersRequest(_message.Message):
    __slots__ = ("tenant_id", "external_ids", "recent_per_customer")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_IDS_FIELD_NUMBER: _ClassVar[int]
    RECENT_PER_CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    external_ids: _containers.RepeatedScalarFieldContainer[str]
    recent_per_customer: int
    def __init__(self, tenant_id: _Optional[str] = ..., external_ids: _Optional[_Iterable[str]] = ..., recent_per_customer: _Optional[int] = ...) -> None: ...

class LookupCustomersResponse(_message.Message):
    __slots__ = ("customers", "recent_interactions")
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    RECENT_INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    customers: _containers.RepeatedCompositeFieldContainer[Customer]
    recent_interactions: _containers.RepeatedCompositeFieldContainer[Interaction]
    def __init__(self, customers: _Optional[_Iterable[_Union[Customer, _Mapping]]] = ..., recent_interactions: _Optional[_Iterable[_Union[Interaction, _Mapping]]] = ...) -> None: ...

class ListCustomersRequest(_message.Message):
    __slots__ = ("tenant_id", "page_size", "page_token", "query")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    page_size: int
    page_token: str
    query: str
    def __init__(self, tenant_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., query: _Optional[str] = ...) -> None: ...

class ListCustomersResponse(_message.Message):
    __slots__ = ("customers", "next_page_token")
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customers: _containers.RepeatedCompositeFieldContainer[Customer]
    next_page_token: str
    def __init__(self, customers: _Optional[_Iterable[_Union[Customer, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RecordInteractionRequest(_message.Message):
    __slots__ = ("tenant_id", "interaction_json")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_JSON_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    interaction_json: str
    def __init__(self, tenant_id: _Optional[str] = ..., interaction_json: _Optional[str] = ...) -> None: ...

class FieldError(_message.Message):
    __slots__ = ("path", "message")
    PATH_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    path: str
    message: str
    def __init__(self, path: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class RecordInteractionResponse(_message.Message):
    __slots__ = ("status", "id", "errors", "customer_id")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    status: str
    id: str
    errors: _containers.RepeatedCompositeFieldContainer[FieldError]
    customer_id: str
    def __init__(self, status: _Optional[str] = ..., id: _Optional[str] = ..., errors: _Optional[_Iterable[_Union[FieldError, _Mapping]]] = ..., customer_id: _Optional[str] = ...) -> None: ...

class BatchListRecentInteractionsRequest(_message.Message):
    __slots__ = ("tenant_id", "customer_ids", "limit_per_customer")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_PER_CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    customer_ids: _containers.RepeatedScalarFieldContainer[str]
    limit_per_customer: int
    def __init__(self, tenant_id: _Optional[str] = ..., customer_ids: _Optional[_Iterable[str]] = ..., limit_per_customer: _Optional[int] = ...) -> None: ...

class InteractionQuery(_message.Message):
    __slots__ = ("customer_id", "channels", "kinds", "employee", "occurred_from", "occurred_to", "page_size", "page_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_FROM_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_TO_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    channels: _containers.RepeatedScalarFieldContainer[str]
    kinds: _containers.RepeatedScalarFieldContainer[str]
    employee: str
    occurred_from: _timestamp_pb2.Timestamp
    occurred_to: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, customer_id: _Optional[str] = ..., channels: _Optional[_Iterable[str]] = ..., kinds: _Optional[_Iterable[str]] = ..., employee: _Optional[str] = ..., occurred_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., occurred_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class BatchListInteractionsRequest(_message.Message):
    __slots__ = ("tenant_id", "queries")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    queries: _containers.RepeatedCompositeFieldContainer[InteractionQuery]
    def __init__(self, tenant_id: _Optional[str] = ..., queries: _Optional[_Iterable[_Union[InteractionQuery, _Mapping]]] = ...) -> None: ...

class InteractionPage(_message.Message):
    __slots__ = ("interactions", "next_page_token", "cursors")
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CURSORS_FIELD_NUMBER: _ClassVar[int]
    interactions: _containers.RepeatedCompositeFieldContainer[Interaction]
    next_page_token: str
    cursors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, interactions: _Optional[_Iterable[_Union[Interaction, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., cursors: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchListInteractionsResponse(_message.Message):
    __slots__ = ("pages",)
    PAGES_FIELD_NUMBER: _ClassVar[int]
    pages: _containers.RepeatedCompositeFieldContainer[InteractionPage]
    def __init__(self, pages: _Optional[_Iterable[_Union[InteractionPage, _Mapping]]] = ...) -> None: ...

class BatchListEmployeesRequest(_message.Message):
    __slots__ = ("tenant_id", "customer_ids", "limit_per_customer")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_PER_CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    customer_ids: _containers.RepeatedScalarFieldContainer[str]
    limit_per_customer: int
    def __init__(self, tenant_id: _Optional[str] = ..., customer_ids: _Optional[_Iterable[str]] = ..., limit_per_customer: _Optional[int] = ...) -> None: ...

class EmployeeInvolvement(_message.Message):
    __slots__ = ("customer_id", "employee", "interaction_count", "first_interaction_at", "last_interaction_at")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    FIRST_INTERACTION_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_INTERACTION_AT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    employee: str
    interaction_count: int
    first_interaction_at: _timestamp_pb2.Timestamp
    last_interaction_at: _timestamp_pb2.Timestamp
    def __init__(self, customer_id: _Optional[str] = ..., employee: _Optional[str] = ..., interaction_count: _Optional[int] = ..., first_interaction_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_interaction_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BatchListEmployeesResponse(_message.Message):
    __slots__ = ("employees",)
    EMPLOYEES_FIELD_NUMBER: _ClassVar[int]
    employees: _containers.RepeatedCompositeFieldContainer[EmployeeInvolvement]
    def __init__(self, employees: _Optional[_Iterable[_Union[EmployeeInvolvement, _Mapping]]] = ...) -> None: ...

class BatchListRecentInteractionsResponse(_message.Message):
    __slots__ = ("interactions",)
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    interactions: _containers.RepeatedCompositeFieldContainer[Interaction]
    def __init__(self, interactions: _Optional[_Iterable[_Union[Interaction, _Mapping]]] = ...) -> None: ...

class VerifyApiKeyRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class VerifyApiKeyResponse(_message.Message):
    __slots__ = ("valid", "tenant_id", "partner_id", "scopes")
    VALID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    tenant_id: str
    partner_id: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, valid: _Optional[bool] = ..., tenant_id: _Optional[str] = ..., partner_id: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ...) -> None: ...
