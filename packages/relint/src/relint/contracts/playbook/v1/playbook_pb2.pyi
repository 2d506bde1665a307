import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Standard(_message.Message):
    __slots__ = ("key", "title", "team", "relationship_types", "stages", "rule", "description")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIP_TYPES_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    key: str
    title: str
    team: str
    relationship_types: _containers.RepeatedScalarFieldContainer[str]
    stages: _containers.RepeatedScalarFieldContainer[str]
    rule: str
    description: str
    def __init__(self, key: _Optional[str] = ..., title: _Optional[str] = ..., team: _Optional[str] = ..., relationship_types: _Optional[_Iterable[str]] = ..., stages: _Optional[_Iterable[str]] = ..., rule: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class Playbook(_message.Message):
    __slots__ = ("id", "tenant_id", "name", "version", "standards", "created_at", "yaml")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STANDARDS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    YAML_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    name: str
    version: int
    standards: _containers.RepeatedCompositeFieldContainer[Standard]
    created_at: _timestamp_pb2.Timestamp
    yaml: str
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ..., standards: _Optional[_Iterable[_Union[Standard, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., yaml: _Optional[str] = ...) -> None: ...

class ListPlaybookVersionsRequest(_message.Message):
    __slots__ = ("tenant_id", "versions", "newest")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEWEST_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    versions: _containers.RepeatedScalarFieldContainer[int]
    newest: int
    def __init__(self, tenant_id: _Optional[str] = ..., versions: _Optional[_Iterable[int]] = ..., newest: _Optional[int] = ...) -> None: ...

class ListPlaybookVersionsResponse(_message.Message):
    __slots__ = ("playbooks",)
    PLAYBOOKS_FIELD_NUMBER: _ClassVar[int]
    playbooks: _containers.RepeatedCompositeFieldContainer[Playbook]
    def __init__(self, playbooks: _Optional[_Iterable[_Union[Playbook, _Mapping]]] = ...) -> None: ...

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

class PublishPlaybookRequest(_message.Message):
    __slots__ = ("tenant_id", "yaml")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    YAML_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    yaml: str
    def __init__(self, tenant_id: _Optional[str] = ..., yaml: _Optional[str] = ...) -> None: ...

class PlaybookProblem(_message.Message):
    __slots__ = ("path", "reason")
    PATH_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    path: str
    reason: str
    def __init__(self, path: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class PublishPlaybookResponse(_message.Message):
    __slots__ = ("playbook", "problems")
    PLAYBOOK_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    playbook: Playbook
    problems: _containers.RepeatedCompositeFieldContainer[PlaybookProblem]
    def __init__(self, playbook: _Optional[_Union[Playbook, _Mapping]] = ..., problems: _Optional[_Iterable[_Union[PlaybookProblem, _Mapping]]] = ...) -> None: ...

class Obligation(_message.Message):
    __slots__ = ("customer_id", "standard_key", "standard_title", "team", "due_at", "opened_at", "what", "trigger_id", "trigger_reference", "employee", "playbook_version")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STANDARD_KEY_FIELD_NUMBER: _ClassVar[int]
    STANDARD_TITLE_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    WHAT_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_FIELD_NUMBER: _ClassVar[int]
    PLAYBOOK_VERSION_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    standard_key: str
    standard_title: str
    team: str
    due_at: _timestamp_pb2.Timestamp
    opened_at: _timestamp_pb2.Timestamp
    what: str
    trigger_id: str
    trigger_reference: str
    employee: str
    playbook_version: int
    def __init__(self, customer_id: _Optional[str] = ..., standard_key: _Optional[str] = ..., standard_title: _Optional[str] = ..., team: _Optional[str] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., opened_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., what: _Optional[str] = ..., trigger_id: _Optional[str] = ..., trigger_reference: _Optional[str] = ..., employee: _Optional[str] = ..., playbook_version: _Optional[int] = ...) -> None: ...

class Violation(_message.Message):
    __slots__ = ("id", "customer_id", "standard_key", "standard_title", "team", "due_at", "detected_at", "interaction_ids", "employee", "reason", "playbook_version")
    ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STANDARD_KEY_FIELD_NUMBER: _ClassVar[int]
    STANDARD_TITLE_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    DETECTED_AT_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_IDS_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PLAYBOOK_VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    customer_id: str
    standard_key: str
    standard_title: str
    team: str
    due_at: _timestamp_pb2.Timestamp
    detected_at: _timestamp_pb2.Timestamp
    interaction_ids: _containers.RepeatedScalarFieldContainer[str]
    employee: str
    reason: str
    playbook_version: int
    def __init__(self, id: _Optional[str] = ..., customer_id: _Optional[str] = ..., standard_key: _Optional[str] = ..., standard_title: _Optional[str] = ..., team: _Optional[str] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., detected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., interaction_ids: _Optional[_Iterable[str]] = ..., employee: _Optional[str] = ..., reason: _Optional[str] = ..., playbook_version: _Optional[int] = ...) -> None: ...

class Action(_message.Message):
    __slots__ = ("customer_id", "kind", "title", "reason", "urgency", "due_at", "standard_key", "employee")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    STANDARD_KEY_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    kind: str
    title: str
    reason: str
    urgency: float
    due_at: _timestamp_pb2.Timestamp
    standard_key: str
    employee: str
    def __init__(self, customer_id: _Optional[str] = ..., kind: _Optional[str] = ..., title: _Optional[str] = ..., reason: _Optional[str] = ..., urgency: _Optional[float] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., standard_key: _Optional[str] = ..., employee: _Optional[str] = ...) -> None: ...

class CustomerPlaybook(_message.Message):
    __slots__ = ("customer_id", "obligations", "violations", "next_best_actions", "applicable_standard_keys", "playbook_version", "judged_interactions")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    OBLIGATIONS_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_BEST_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    APPLICABLE_STANDARD_KEYS_FIELD_NUMBER: _ClassVar[int]
    PLAYBOOK_VERSION_FIELD_NUMBER: _ClassVar[int]
    JUDGED_INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    obligations: _containers.RepeatedCompositeFieldContainer[Obligation]
    violations: _containers.RepeatedCompositeFieldContainer[Violation]
    next_best_actions: _containers.RepeatedCompositeFieldContainer[Action]
    applicable_standard_keys: _containers.RepeatedScalarFieldContainer[str]
    playbook_version: int
    judged_interactions: int
    def __init__(self, customer_id: _Optional[str] = ..., obligations: _Optional[_Iterable[_Union[Obligation, _Mapping]]] = ..., violations: _Optional[_Iterable[_Union[Violation, _Mapping]]] = ..., next_best_actions: _Optional[_Iterable[_Union[Action, _Mapping]]] = ..., applicable_standard_keys: _Optional[_Iterable[str]] = ..., playbook_version: _Optional[int] = ..., judged_interactions: _Optional[int] = ...) -> None: ...

class CustomerOutlook(_message.Message):
    __slots__ = ("customer_id", "relationship_type", "type_since", "stage", "stage_since", "value", "risk", "risk_reasons", "potential", "potential_reason")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIP_TYPE_FIELD_NUMBER: _ClassVar[int]
    TYPE_SINCE_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    STAGE_SINCE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    RISK_REASONS_FIELD_NUMBER: _ClassVar[int]
    POTENTIAL_FIELD_NUMBER: _ClassVar[int]
    POTENTIAL_REASON_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    relationship_type: str
    type_since: _timestamp_pb2.Timestamp
    stage: str
    stage_since: _timestamp_pb2.Timestamp
    value: float
    risk: float
    risk_reasons: _containers.RepeatedScalarFieldContainer[str]
    potential: float
    potential_reason: str
    def __init__(self, customer_id: _Optional[str] = ..., relationship_type: _Optional[str] = ..., type_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stage: _Optional[str] = ..., stage_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., value: _Optional[float] = ..., risk: _Optional[float] = ..., risk_reasons: _Optional[_Iterable[str]] = ..., potential: _Optional[float] = ..., potential_reason: _Optional[str] = ...) -> None: ...

class BatchGetCustomerPlaybooksRequest(_message.Message):
    __slots__ = ("tenant_id", "customer_ids", "actions_limit", "outlooks", "outlooks_given")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    OUTLOOKS_FIELD_NUMBER: _ClassVar[int]
    OUTLOOKS_GIVEN_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    customer_ids: _containers.RepeatedScalarFieldContainer[str]
    actions_limit: int
    outlooks: _containers.RepeatedCompositeFieldContainer[CustomerOutlook]
    outlooks_given: bool
    def __init__(self, tenant_id: _Optional[str] = ..., customer_ids: _Optional[_Iterable[str]] = ..., actions_limit: _Optional[int] = ..., outlooks: _Optional[_Iterable[_Union[CustomerOutlook, _Mapping]]] = ..., outlooks_given: _Optional[bool] = ...) -> None: ...

class BatchGetCustomerPlaybooksResponse(_message.Message):
    __slots__ = ("customers", "standards")
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    STANDARDS_FIELD_NUMBER: _ClassVar[int]
    customers: _containers.RepeatedCompositeFieldContainer[CustomerPlaybook]
    standards: _containers.RepeatedCompositeFieldContainer[Standard]
    def __init__(self, customers: _Optional[_Iterable[_Union[CustomerPlaybook, _Mapping]]] = ..., standards: _Optional[_Iterable[_Union[Standard, _Mapping]]] = ...) -> None: ...

class ListWorklistRequest(_message.Message):
    __slots__ = ("tenant_id", "team", "employee", "limit")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    team: str
    employee: str
    limit: int
    def __init__(self, tenant_id: _Optional[str] = ..., team: _Optional[str] = ..., employee: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListWorklistResponse(_message.Message):
    __slots__ = ("actions",)
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    actions: _containers.RepeatedCompositeFieldContainer[Action]
    def __init__(self, actions: _Optional[_Iterable[_Union[Action, _Mapping]]] = ...) -> None: ...

class BatchGetActivePlaybooksRequest(_message.Message):
    __slots__ = ("tenant_ids",)
    TENANT_IDS_FIELD_NUMBER: _ClassVar[int]
    tenant_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tenant_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchGetActivePlaybooksResponse(_message.Message):
    __slots__ = ("playbooks",)
    PLAYBOOKS_FIELD_NUMBER: _ClassVar[int]
    playbooks: _containers.RepeatedCompositeFieldContainer[Playbook]
    def __init__(self, playbooks: _Optional[_Iterable[_Union[Playbook, _Mapping]]] = ...) -> None: ...

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
