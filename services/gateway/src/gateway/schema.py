"""The customer-relationship graph: types, and the root fields that reach the services.

Resolvers only shape data; fetching goes through the request's DataLoaders.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncGenerator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types import ExecutionContext, Info

from gateway.analysis import AnalysisQuery, Lookalike
from gateway.analysis import similar_customers as _similar_customers
from gateway.backends import AlertMessage
from gateway.context import GatewayContext
from gateway.cost import cost_limit_rule
from gateway.events import Topic, decode_alert
from gateway.execution import leaf_executor
from gateway.ids import customer_key, from_global, to_global
from gateway.loaders import Ready, ready
from gateway.selection import child_arguments
from relint.auth import SCOPE_ADMIN, SCOPE_GRAPH_WRITE
from relint.contracts.ingest.v1 import ingest_pb2
from relint.contracts.playbook.v1 import playbook_pb2
from relint.contracts.scoring.v1 import scoring_pb2
from relint.taxonomy import COMING_APART, COMING_TOGETHER

log = logging.getLogger(__name__)

MAX_PAGE = 100
MAX_RECENT = 100
DEFAULT_RECENT = 10
MAX_FILTER_VALUES = 20
MAX_TYPES = 10

GatewayInfo = Info[GatewayContext, None]
T = TypeVar("T")


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise GraphQLError(f"{name}: give a time zone", extensions={"code": "BAD_INPUT"})
    return moment


def _time(stamp: object, present: bool = True) -> datetime | None:
    if not present:
        return None
    return stamp.ToDatetime(tzinfo=UTC)  # type: ignore[attr-defined, no-any-return]


@strawberry.type(description="One interaction's share of a change of the value.")
class Driver:
    interaction_id: str
    occurred_at: datetime
    reason: str
    effect: float


@strawberry.type(description="Why the value moved over a period.")
class Explanation:
    start_value: float
    end_value: float
    change: float
    sentence: str = strawberry.field(
        description='In words, e.g. "It fell 18.2 points: a complaint on 3 Mar 2026 (-8.1)."'
    )
    drivers: list[Driver] = strawberry.field(
        description="The period's interactions, strongest first"
    )
    fading: float = strawberry.field(description="What fading of older interactions did")
    top_contributions: list[Driver] = strawberry.field(
        description="What the value at the end of the period is made of"
    )


@strawberry.type(description="The relationship at one moment of a timeline.")
class TimelinePoint:
    at: datetime
    value: float
    relationship_type: str
    stage: str
    risk: float | None = strawberry.field(
        description="The risk of loss (0 to 1) from the interactions up to then: the "
        "purchase model's chance of being active on the purchases up to then, moved by "
        "silence against the customer's own cadence, value drops, complaints, violations, "
        "the stage; null before the first interaction."
    )


@strawberry.type(
    description="Something a manager should look at: raised by scoring (at risk, stage "
    "change, out of pattern) or by the playbook (a standard missed, a deadline approaching)."
)
class Alert:
    id: strawberry.ID
    customer_id: strawberry.ID
    kind: str = strawberry.field(
        description="stage_change, at_risk or out_of_pattern (scoring's); violation, "
        "deadline_approaching or violation_withdrawn (the playbook's)"
    )
    source: str = strawberry.field(description="The service that raised it: scoring or playbook")
    severity: str = strawberry.field(description="info, warning or critical")
    reason: str
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None

    @staticmethod
    def of(message: AlertMessage) -> Alert:
        return Alert(
            id=strawberry.ID(message.id),
            customer_id=strawberry.ID(message.customer_id),
            kind=message.kind,
            source="playbook" if isinstance(message, playbook_pb2.Alert) else "scoring",
            severity=message.severity,
            reason=message.reason,
            raised_at=_time(message.raised_at) or datetime.now(UTC),
            acknowledged_at=_time(message.acknowledged_at, message.HasField("acknowledged_at")),
            acknowledged_by=message.acknowledged_by or None,
        )


MAX_TIMELINE_POINTS = 500
MAX_ALERTS = 100
MAX_VERSIONS = 100


@strawberry.type(description="The state of one customer's relationship, now or as of a moment.")
class Relationship:
    customer_id: strawberry.Private[str]
    as_of: datetime = strawberry.field(description="The moment this state describes.")
    value: float = strawberry.field(
        description="The Relationship Value: the cumulative, asymmetric, fading effect of "
        "every interaction."
    )
    trend: float = strawberry.field(
        description="How much the value moved over the 30 days up to `asOf` (positive: "
        "rising); `explanation` tells why, over any period."
    )
    interaction_count: int
    first_interaction_at: datetime | None
    last_interaction_at: datetime | None
    last_contribution: float = strawberry.field(
        description="How much the most recent interaction moved the value."
    )
    relationship_type: str = strawberry.field(
        description="Acquaintance, Fair-Weather Friend, BFF, Partner (or the tenant's own); "
        "empty until first placed."
    )
    type_reason: str
    stage: str = strawberry.field(description="One of Knapp's ten stages; empty until evaluated.")
    stage_since: datetime | None
    stage_reason: str
    coming_apart: bool = strawberry.field(
        description="Whether the stage is in the coming-apart half."
    )
    risk: float = strawberry.field(description="How likely the relationship is to end, 0 to 1.")
    risk_reasons: list[str] = strawberry.field(description="Why, strongest first.")
    p_alive: float | None = strawberry.field(
        description="Probability the customer still buys (the tenant's retention model)."
    )
    expected_purchases: float | None = strawberry.field(description="Expected in 90 days.")
    lifetime_value: float | None = strawberry.field(
        description="Value over the next year, discounted 10% a year."
    )
    potential: float | None = strawberry.field(
        description="Revenue a year it could bring: it behaves like the best customers."
    )
    potential_reason: str
    revenue: float = strawberry.field(
        description="Revenue net of refunds over the relationship, up to `asOf`."
    )
    updated_at: datetime

    @staticmethod
    def of(message: scoring_pb2.Relationship) -> Relationship:
        return Relationship(
            revenue=message.revenue,
            customer_id=message.customer_id,
            as_of=_time(message.as_of, message.HasField("as_of")) or datetime.now(UTC),
            value=message.value,
            trend=message.trend,
            interaction_count=message.interaction_count,
            first_interaction_at=_time(
                message.first_interaction_at, message.HasField("first_interaction_at")
            ),
            last_interaction_at=_time(
                message.last_interaction_at, message.HasField("last_interaction_at")
            ),
            last_contribution=message.last_contribution,
            relationship_type=message.relationship_type,
            type_reason=message.type_reason,
            stage=message.stage,
            stage_since=_time(message.stage_since, message.HasField("stage_since")),
            stage_reason=message.stage_reason,
            coming_apart=message.coming_apart,
            risk=message.risk,
            risk_reasons=list(message.risk_reasons),
            p_alive=message.p_alive if message.HasField("p_alive") else None,
            expected_purchases=(
                message.expected_purchases if message.HasField("expected_purchases") else None
            ),
            lifetime_value=message.lifetime_value if message.HasField("lifetime_value") else None,
            potential=message.potential if message.HasField("potential") else None,
            potential_reason=message.potential_reason,
            updated_at=_time(message.updated_at) or datetime.now(UTC),
        )

    @strawberry.field(
        description="Why the value moved from `start` (default: 30 days before "
        "`end`) to `end` (default: this state's moment)."
    )
    async def explanation(
        self,
        info: GatewayInfo,
        start: datetime | None = None,
        end: datetime | None = None,
        top: int = 5,
    ) -> Explanation:
        if not 1 <= top <= 20:
            raise GraphQLError("top must be 1..20", extensions={"code": "BAD_INPUT"})
        end = end or self.as_of
        start = start or end - timedelta(days=30)
        if start >= end:
            raise GraphQLError("start must be before end", extensions={"code": "BAD_INPUT"})
        context = info.context
        found = await context.backends.explain(context.tenant_id, self.customer_id, start, end, top)

        def drivers(items: list[scoring_pb2.Driver]) -> list[Driver]:
            return [
                Driver(
                    interaction_id=d.interaction_id,
                    occurred_at=_time(d.occurred_at) or end,
                    reason=d.reason,
                    effect=d.effect,
                )
                for d in items
            ]

        return Explanation(
            start_value=found.start_value,
            end_value=found.end_value,
            change=found.change,
            sentence=found.sentence,
            drivers=drivers(list(found.drivers)),
            fading=found.fading,
            top_contributions=drivers(list(found.top_contributions)),
        )

    @strawberry.field(
        description="Value, type and stage at evenly spaced moments from `start` "
        "(default: a year before `end`) to `end` (default: this state's moment), 2 to 500 points."
    )
    async def timeline(
        self,
        info: GatewayInfo,
        start: datetime | None = None,
        end: datetime | None = None,
        points: int = 60,
    ) -> list[TimelinePoint]:
        if not 2 <= points <= MAX_TIMELINE_POINTS:
            raise GraphQLError(
                f"points must be 2..{MAX_TIMELINE_POINTS}", extensions={"code": "BAD_INPUT"}
            )
        end = end or self.as_of
        start = start or end - timedelta(days=365)
        if start >= end:
            raise GraphQLError("start must be before end", extensions={"code": "BAD_INPUT"})
        context = info.context
        found = await context.backends.timeline(
            context.tenant_id, self.customer_id, start, end, points
        )
        return [
            TimelinePoint(
                at=_time(p.at) or end,
                value=p.value,
                relationship_type=p.relationship_type,
                stage=p.stage,
                risk=p.risk if p.HasField("risk") else None,
            )
            for p in found
        ]


_DIRECTIONS = {ingest_pb2.DIRECTION_INBOUND: "inbound", ingest_pb2.DIRECTION_OUTBOUND: "outbound"}
_AMOUNT_TYPES = {
    ingest_pb2.AMOUNT_TYPE_REVENUE: "revenue",
    ingest_pb2.AMOUNT_TYPE_COST_TO_SERVE: "cost_to_serve",
    ingest_pb2.AMOUNT_TYPE_REFUND: "refund",
}


@strawberry.type(description="One touch between the company and the customer.")
class Interaction:
    id: strawberry.ID
    occurred_at: datetime
    channel: str
    kind: str
    direction: str | None
    sentiment: float | None
    amount: str | None = strawberry.field(description='Decimal string, e.g. "120.5".')
    amount_type: str | None
    currency: str | None
    employee: str | None
    text: str | None
    source: str

    @staticmethod
    def of(message: ingest_pb2.Interaction) -> Interaction:
        return Interaction(
            id=strawberry.ID(message.id),
            occurred_at=_time(message.occurred_at) or datetime.now(UTC),
            channel=message.channel,
            kind=message.kind,
            direction=_DIRECTIONS.get(message.direction),
            sentiment=message.sentiment if message.HasField("sentiment") else None,
            amount=message.amount or None,
            amount_type=_AMOUNT_TYPES.get(message.amount_type),
            currency=message.currency or None,
            employee=message.employee or None,
            text=message.text or None,
            source=message.source,
        )


MAX_ACTIONS = 50
# A customer-360 page of 100 customers with their relationship and 20 interactions costs
# about 12,000.
DEFAULT_MAX_COST = 25_000
MAX_PLAYBOOK_BYTES = 1024 * 1024
MAX_WORKLIST = 100


@strawberry.type(description="Something owed to a customer under a standard, and by when.")
class Obligation:
    standard_key: str
    standard_title: str
    team: str
    what: str
    due_at: datetime = strawberry.field(description="Missed one second later.")
    opened_at: datetime
    trigger_reference: str | None = strawberry.field(
        description="The source's id of the interaction that made it due (a ticket number)."
    )
    employee: str | None

    @staticmethod
    def of(message: playbook_pb2.Obligation) -> Obligation:
        return Obligation(
            standard_key=message.standard_key,
            standard_title=message.standard_title,
            team=message.team,
            what=message.what,
            due_at=_time(message.due_at) or datetime.now(UTC),
            opened_at=_time(message.opened_at) or datetime.now(UTC),
            trigger_reference=message.trigger_reference or None,
            employee=message.employee or None,
        )


@strawberry.type(description="A standard of the playbook missed.")
class Violation:
    id: strawberry.ID
    standard_key: str
    standard_title: str
    team: str
    reason: str
    due_at: datetime
    detected_at: datetime
    interaction_ids: list[strawberry.ID]
    employee: str | None
    playbook_version: int

    @staticmethod
    def of(message: playbook_pb2.Violation) -> Violation:
        return Violation(
            id=strawberry.ID(message.id),
            standard_key=message.standard_key,
            standard_title=message.standard_title,
            team=message.team,
            reason=message.reason,
            due_at=_time(message.due_at) or datetime.now(UTC),
            detected_at=_time(message.detected_at) or datetime.now(UTC),
            interaction_ids=[strawberry.ID(i) for i in message.interaction_ids],
            employee=message.employee or None,
            playbook_version=message.playbook_version,
        )


@strawberry.type(description="What to do for a customer now, and why.")
class Action:
    customer_id: strawberry.ID
    kind: str = strawberry.field(description="obligation, amends, look_into, save, repair or grow")
    title: str
    reason: str
    urgency: float = strawberry.field(description="0 to 1; actions are ordered by it")
    due_at: datetime | None
    standard_key: str | None
    employee: str | None

    @staticmethod
    def of(message: playbook_pb2.Action) -> Action:
        return Action(
            customer_id=strawberry.ID(message.customer_id),
            kind=message.kind,
            title=message.title,
            reason=message.reason,
            urgency=message.urgency,
            due_at=_time(message.due_at, message.HasField("due_at")),
            standard_key=message.standard_key or None,
            employee=message.employee or None,
        )


@strawberry.interface(description="An object with a global ID, fetched again with node(id).")
class Node:
    id: strawberry.ID = strawberry.field(description="Global: opaque, unique across types.")


@strawberry.federation.type(
    keys=["id"], description="A customer account and its relationship with the company."
)
class Customer(Node):
    customer_id: strawberry.ID = strawberry.field(
        description="Ingest's id for the account, as other types' customerId fields give it."
    )
    external_id: str = strawberry.field(description="The tenant's own id for the account.")
    name: str
    first_seen_at: datetime
    last_seen_at: datetime
    interaction_count: int

    @classmethod
    async def resolve_reference(cls, info: GatewayInfo, id: strawberry.ID) -> Customer | None:
        """A federation router asks for customers by their global ID (a Relay node)."""
        kind, raw = from_global(str(id))
        if kind != "Customer":
            return None
        found = await info.context.loaders.customers.load(raw)
        return Customer.of(found) if found is not None else None

    @staticmethod
    def of(message: ingest_pb2.Customer) -> Customer:
        return Customer(
            id=strawberry.ID(to_global("Customer", message.id)),
            customer_id=strawberry.ID(message.id),
            external_id=message.external_id,
            name=message.name,
            first_seen_at=_time(message.first_seen_at) or datetime.now(UTC),
            last_seen_at=_time(message.last_seen_at) or datetime.now(UTC),
            interaction_count=message.interaction_count,
        )

    @strawberry.field(
        graphql_type=Relationship | None,
        description="Now, or as it stood at `asOf`; null until scoring has applied an "
        "interaction (by then).",
    )
    def relationship(
        self,
        info: GatewayInfo,
        as_of: Annotated[datetime | None, strawberry.argument(name="asOf")] = None,
    ) -> Ready[Relationship | None]:
        return ready(
            info.context.loaders.relationships.load((str(self.customer_id), as_of)),
            lambda found: Relationship.of(found) if found is not None else None,
        )

    @strawberry.field(
        graphql_type=list[Alert] | None,
        description="The customer's alerts, newest first (at most 100): now, or as of a past "
        "moment, those raised by then as they stood then (one acknowledged later was open).",
    )
    def alerts(
        self,
        info: GatewayInfo,
        open_only: bool = False,
        limit: int = 20,
        as_of: Annotated[datetime | None, strawberry.argument(name="asOf")] = None,
    ) -> Ready[list[Alert] | None]:
        if not 1 <= limit <= MAX_ALERTS:
            raise GraphQLError(f"limit must be 1..{MAX_ALERTS}", extensions={"code": "BAD_INPUT"})
        if as_of is not None:
            as_of = _aware(as_of, "asOf")
        return ready(
            info.context.loaders.alerts.load((str(self.customer_id), open_only, as_of)),
            lambda found: [Alert.of(a) for a in found[:limit]],
        )

    @strawberry.field(
        description="The playbook's view of the customer: the standards that bind it, "
        "obligations and violations."
    )
    async def playbook(self, info: GatewayInfo) -> CustomerPlaybook | None:
        loaders = info.context.loaders
        found = await loaders.customer_playbooks.load(str(self.customer_id))
        if found is None:
            return None
        return CustomerPlaybook(
            version=found.playbook_version,
            standards=[Standard.of(loaders.standards[k]) for k in found.applicable_standard_keys],
            obligations=[Obligation.of(o) for o in found.obligations],
            violations=[Violation.of(v) for v in found.violations],
        )

    @strawberry.field(
        graphql_type=list[Obligation] | None,
        description="What the playbook says is owed to the customer, by when.",
    )
    def obligations(self, info: GatewayInfo) -> Ready[list[Obligation] | None]:
        return self._playbook_part(
            info, lambda found: [Obligation.of(o) for o in found.obligations]
        )

    @strawberry.field(
        graphql_type=list[Violation] | None,
        description="Standards of the playbook missed with this customer.",
    )
    def violations(self, info: GatewayInfo) -> Ready[list[Violation] | None]:
        return self._playbook_part(info, lambda found: [Violation.of(v) for v in found.violations])

    @strawberry.field(
        graphql_type=list[Action] | None,
        description="What to do for the customer now, most urgent first (at most 50).",
    )
    def next_best_actions(self, info: GatewayInfo, limit: int = 3) -> Ready[list[Action] | None]:
        if not 1 <= limit <= MAX_ACTIONS:
            raise GraphQLError(f"limit must be 1..{MAX_ACTIONS}", extensions={"code": "BAD_INPUT"})
        return self._playbook_part(
            info, lambda found: [Action.of(a) for a in found.next_best_actions[:limit]]
        )

    def _playbook_part(
        self, info: GatewayInfo, part: Callable[[playbook_pb2.CustomerPlaybook], list[T]]
    ) -> Ready[list[T] | None]:
        """A part of the playbook's view of the customer (none without a view)."""
        return ready(
            info.context.loaders.customer_playbooks.load(str(self.customer_id)),
            lambda found: part(found) if found else [],
        )

    @strawberry.field(
        description="The interaction record, newest first, a page at a time (at most 100), "
        "filtered by channels, kinds, employee and time (`from` inclusive, `to` exclusive)."
    )
    async def interactions(
        self,
        info: GatewayInfo,
        first: int = 20,
        after: str | None = None,
        channels: list[str] | None = None,
        kinds: list[str] | None = None,
        employee: str | None = None,
        occurred_from: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        occurred_to: Annotated[datetime | None, strawberry.argument(name="to")] = None,
    ) -> InteractionConnection | None:
        if not 1 <= first <= MAX_PAGE:
            raise GraphQLError(f"first must be 1..{MAX_PAGE}", extensions={"code": "BAD_INPUT"})
        for name, values in (("channels", channels or []), ("kinds", kinds or [])):
            if len(values) > MAX_FILTER_VALUES:
                raise GraphQLError(
                    f"{name}: at most {MAX_FILTER_VALUES} values", extensions={"code": "BAD_INPUT"}
                )
        if occurred_from and occurred_to and occurred_from >= occurred_to:
            raise GraphQLError("from must be before to", extensions={"code": "BAD_INPUT"})
        query = ingest_pb2.InteractionQuery(
            customer_id=str(self.customer_id),
            channels=channels or [],
            kinds=kinds or [],
            employee=employee or "",
            page_size=first,
            page_token=after or "",
        )
        for field, moment in (("occurred_from", occurred_from), ("occurred_to", occurred_to)):
            if moment is not None:
                getattr(query, field).FromDatetime(_aware(moment, field))
        page = await info.context.loaders.interaction_pages.load(query.SerializeToString())
        return InteractionConnection(
            edges=[
                InteractionEdge(cursor=cursor, node=Interaction.of(item))
                for cursor, item in zip(page.cursors, page.interactions, strict=True)
            ],
            page_info=PageInfo(
                has_next_page=bool(page.next_page_token),
                end_cursor=page.next_page_token or None,
            ),
        )

    @strawberry.field(
        description="The company's employees involved with the customer, most involved first."
    )
    async def employees(
        self, info: GatewayInfo, limit: int = 10
    ) -> list[EmployeeInvolvement] | None:
        if not 1 <= limit <= MAX_RECENT:
            raise GraphQLError(f"limit must be 1..{MAX_RECENT}", extensions={"code": "BAD_INPUT"})
        found = await info.context.loaders.employees.load((str(self.customer_id), limit))
        return [
            EmployeeInvolvement(
                employee=e.employee,
                interaction_count=e.interaction_count,
                first_interaction_at=e.first_interaction_at.ToDatetime(tzinfo=UTC),
                last_interaction_at=e.last_interaction_at.ToDatetime(tzinfo=UTC),
            )
            for e in found
        ]

    similar_customers: list[Lookalike] | None = strawberry.field(
        resolver=_similar_customers,
        description="The customers most like this one (1 to 100), by behaviour and their own "
        "words, with similarity and why.",
    )

    @strawberry.field(
        graphql_type=list[Interaction] | None,
        description="The most recent interactions, newest first (at most 100).",
    )
    def recent_interactions(
        self, info: GatewayInfo, limit: int = DEFAULT_RECENT
    ) -> Ready[list[Interaction] | None]:
        if not 1 <= limit <= MAX_RECENT:
            raise GraphQLError(f"limit must be 1..{MAX_RECENT}", extensions={"code": "BAD_INPUT"})
        return ready(
            info.context.loaders.recent_interactions.load((str(self.customer_id), limit)),
            lambda found: [Interaction.of(m) for m in found],
        )


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class InteractionEdge:
    cursor: str
    node: Interaction


@strawberry.type(description="A page of a customer's interaction record, newest first.")
class InteractionConnection:
    edges: list[InteractionEdge]
    page_info: PageInfo


@strawberry.type(description="An employee of the company involved with a customer.")
class EmployeeInvolvement:
    employee: str
    interaction_count: int
    first_interaction_at: datetime
    last_interaction_at: datetime


@strawberry.type
class CustomerEdge:
    cursor: str
    node: Customer


@strawberry.type
class CustomerConnection:
    edges: list[CustomerEdge]
    page_info: PageInfo


@strawberry.type(description="A machine-checkable service standard.")
class Standard:
    key: str
    title: str
    team: str
    relationship_types: list[str]
    stages: list[str]
    rule: str
    description: str

    @staticmethod
    def of(message: playbook_pb2.Standard) -> Standard:
        return Standard(
            key=message.key,
            title=message.title,
            team=message.team,
            relationship_types=list(message.relationship_types),
            stages=list(message.stages),
            rule=message.rule,
            description=message.description,
        )


@strawberry.type(
    description="What the playbook says of one customer: the standards that bind it now, "
    "what is owed to it and what was missed."
)
class CustomerPlaybook:
    version: int = strawberry.field(description="The active playbook version, judged under.")
    standards: list[Standard] = strawberry.field(
        description="The standards that bind the customer now, by its relationship type and "
        "stage (while scoring cannot be reached, those that bind every customer)."
    )
    obligations: list[Obligation] = strawberry.field(
        description="What is owed to the customer, by when."
    )
    violations: list[Violation] = strawberry.field(
        description="Standards missed with the customer, newest due first."
    )


@strawberry.type(description="A version of the tenant's playbook.")
class Playbook:
    name: str
    version: int = strawberry.field(
        description="0 for the default playbook a tenant follows until it publishes its own."
    )
    created_at: datetime | None = strawberry.field(
        description="When it was published; null for the default (version 0)."
    )
    standards: list[Standard]
    yaml: str = strawberry.field(
        description="The whole playbook as a YAML file, rules with their parameters: edit it "
        "and send it to publishPlaybook."
    )

    @staticmethod
    def of(message: playbook_pb2.Playbook) -> Playbook:
        return Playbook(
            name=message.name,
            version=message.version,
            created_at=_time(message.created_at, message.HasField("created_at")),
            yaml=message.yaml,
            standards=[Standard.of(s) for s in message.standards],
        )


@strawberry.type(description="What is wrong with a playbook, and where.")
class PlaybookProblem:
    path: str = strawberry.field(description="e.g. standards[2].rule.within_hours")
    reason: str = strawberry.field(description='Starts with "line L, column C: " when known.')


@strawberry.type(description="The playbook was refused; nothing was published.")
class InvalidPlaybook:
    problems: list[PlaybookProblem]


@strawberry.type(description="The caller's key may not do this.")
class NotAllowed:
    message: str


@strawberry.input(description="An interaction recorded from a front end: a call note, a meeting.")
class InteractionInput:
    customer_id: strawberry.ID | None = strawberry.field(
        default=None, description="Our id for the customer; or give externalId."
    )
    external_id: str | None = strawberry.field(
        default=None, description="The tenant's own id for the customer."
    )
    occurred_at: datetime = strawberry.field(description="When it happened, with its zone.")
    channel: str = strawberry.field(description="sales, service, marketing, ... (the taxonomy)")
    kind: str = strawberry.field(description="e.g. call, meeting, check_in")
    direction: str = strawberry.field(description="inbound (from the customer) or outbound")
    sentiment: float | None = None
    employee: str | None = None
    text: str | None = None
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Sent again with the same key, the interaction is stored once.",
    )


@strawberry.type(description="One thing wrong with an input, and where.")
class FieldProblem:
    path: str
    message: str


@strawberry.type(description="The interaction was stored (or had been, under the same key).")
class InteractionRecorded:
    interaction_id: strawberry.ID
    duplicate: bool


@strawberry.type(description="The interaction was refused; nothing was stored.")
class InvalidInteraction:
    problems: list[FieldProblem]


@strawberry.type(description="The alert was acknowledged.")
class AlertAcknowledged:
    alert_id: strawberry.ID


@strawberry.type(description="Nothing of the caller's tenant has this id (or it was done).")
class NotFound:
    message: str


RecordInteractionResult = Annotated[
    InteractionRecorded | InvalidInteraction | NotAllowed,
    strawberry.union("RecordInteractionResult"),
]
AcknowledgeAlertResult = Annotated[
    AlertAcknowledged | NotFound | NotAllowed, strawberry.union("AcknowledgeAlertResult")
]


@strawberry.type(
    description="A condition of a relationship type: the customer's feature is at least or "
    "below a value, or a percentile of the tenant's customers."
)
class TypeCondition:
    feature: str = strawberry.field(
        description="engagement, revenue, cost_to_serve, profit or advocacy."
    )
    op: str = strawberry.field(
        description="at_least, below, at_least_percentile or below_percentile."
    )
    value: float


@strawberry.type(description="A relationship type: customers meeting all its conditions.")
class RelationshipTypeDefinition:
    name: str
    description: str
    conditions: list[TypeCondition] = strawberry.field(
        description="All must hold; the last type has none and takes everyone else."
    )

    @staticmethod
    def of(message: scoring_pb2.RelationshipTypeRule) -> RelationshipTypeDefinition:
        return RelationshipTypeDefinition(
            name=message.name,
            description=message.description,
            conditions=[
                TypeCondition(feature=c.feature, op=c.op, value=c.value) for c in message.conditions
            ],
        )


@strawberry.input
class TypeConditionInput:
    feature: str
    op: str
    value: float


@strawberry.input(description="A relationship type, in the order types are tried.")
class RelationshipTypeInput:
    name: str
    description: str = ""
    conditions: list[TypeConditionInput] = strawberry.field(default_factory=list)


@strawberry.type(description="The tenant's relationship types now; customers are placed again.")
class RelationshipTypesConfigured:
    types: list[RelationshipTypeDefinition]


@strawberry.type(description="A problem with a setting, by its path.")
class SettingProblem:
    path: str = strawberry.field(description="e.g. types[1].when[0].feature")
    reason: str


@strawberry.type(description="The types were refused; nothing changed.")
class InvalidRelationshipTypes:
    problems: list[SettingProblem]


ConfigureRelationshipTypesResult = Annotated[
    RelationshipTypesConfigured | InvalidRelationshipTypes | NotAllowed,
    strawberry.union("ConfigureRelationshipTypesResult"),
]

PublishPlaybookResult = Annotated[
    Playbook | InvalidPlaybook | NotAllowed, strawberry.union("PublishPlaybookResult")
]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Replace the tenant's relationship types (an empty list: the default "
        "four), tried in order, the last without conditions. Needs the admin scope; every "
        "problem comes back as InvalidRelationshipTypes and nothing changes."
    )
    async def configure_relationship_types(
        self, info: GatewayInfo, types: list[RelationshipTypeInput]
    ) -> ConfigureRelationshipTypesResult:
        context = info.context
        if not context.allows(SCOPE_ADMIN):
            return NotAllowed(message=f"configuring types needs the {SCOPE_ADMIN} scope")
        if len(types) > MAX_TYPES or any(len(t.conditions) > MAX_TYPES for t in types):
            return InvalidRelationshipTypes(
                problems=[
                    SettingProblem(
                        path="types",
                        reason=f"at most {MAX_TYPES} types, "
                        f"each with at most {MAX_TYPES} conditions",
                    )
                ]
            )
        reply = await context.backends.set_relationship_types(
            context.tenant_id,
            [
                scoring_pb2.RelationshipTypeRule(
                    name=t.name,
                    description=t.description,
                    conditions=[
                        scoring_pb2.TypeCondition(feature=c.feature, op=c.op, value=c.value)
                        for c in t.conditions
                    ],
                )
                for t in types
            ],
        )
        if reply.problems:
            return InvalidRelationshipTypes(
                problems=[SettingProblem(path=p.path, reason=p.reason) for p in reply.problems]
            )
        await context.forgetting.tenant(context.tenant_id)
        return RelationshipTypesConfigured(
            types=[RelationshipTypeDefinition.of(t) for t in reply.types]
        )

    @strawberry.mutation(
        description="Publish a YAML playbook (as Playbook.yaml gives it) as the tenant's next "
        "version. Needs a key with the admin scope. Problems come back as InvalidPlaybook."
    )
    async def publish_playbook(self, info: GatewayInfo, yaml: str) -> PublishPlaybookResult:
        context = info.context
        if not context.allows(SCOPE_ADMIN):
            return NotAllowed(message=f"publishing a playbook needs the {SCOPE_ADMIN} scope")
        if len(yaml.encode()) > MAX_PLAYBOOK_BYTES:
            return InvalidPlaybook(
                problems=[PlaybookProblem(path="(yaml)", reason="at most 1 MiB")]
            )
        reply = await context.backends.publish_playbook(context.tenant_id, yaml)
        if reply.problems:
            return InvalidPlaybook(
                problems=[PlaybookProblem(path=p.path, reason=p.reason) for p in reply.problems]
            )
        await context.forgetting.tenant(context.tenant_id)
        return Playbook.of(reply.playbook)

    @strawberry.mutation(
        description="Record an interaction from a front end (graph:write). Bad input comes "
        "back as InvalidInteraction with each field's problem."
    )
    async def record_interaction(
        self, info: GatewayInfo, interaction: InteractionInput
    ) -> RecordInteractionResult:
        context = info.context
        if not context.allows(SCOPE_GRAPH_WRITE):
            return NotAllowed(message=f"recording needs the {SCOPE_GRAPH_WRITE} scope")
        reply = await context.backends.record_interaction(
            context.tenant_id, _interaction_body(interaction)
        )
        if reply.status == "rejected":
            return InvalidInteraction(
                problems=[FieldProblem(path=e.path, message=e.message) for e in reply.errors]
            )
        if reply.customer_id:  # its customer has a new newest interaction
            await context.forgetting.customer(context.tenant_id, reply.customer_id)
        return InteractionRecorded(
            interaction_id=strawberry.ID(reply.id), duplicate=reply.status == "duplicate"
        )

    @strawberry.mutation(description="Acknowledge an alert (graph:write).")
    async def acknowledge_alert(
        self, info: GatewayInfo, alert_id: strawberry.ID
    ) -> AcknowledgeAlertResult:
        context = info.context
        if not context.allows(SCOPE_GRAPH_WRITE):
            return NotAllowed(message=f"acknowledging needs the {SCOPE_GRAPH_WRITE} scope")
        principal = context.principal
        who = principal.partner_id if principal is not None else ""
        if not await context.backends.acknowledge_alert(context.tenant_id, str(alert_id), who):
            return NotFound(message=f"no open alert {alert_id}")
        return AlertAcknowledged(alert_id=alert_id)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Alerts as they are raised, by scoring (at risk, stage change, out of "
        "pattern) and the playbook (violation, deadline approaching): the caller's tenant's, "
        "or one customer's (its global id or customerId)."
    )
    async def alert_raised(
        self, info: GatewayInfo, customer_id: strawberry.ID | None = None
    ) -> AsyncGenerator[Alert, None]:
        context = info.context
        wanted = customer_key(str(customer_id)) if customer_id is not None else None
        async for payload in context.broker.listen(Topic.ALERTS, context.tenant_id):
            alert = decode_alert(payload)
            if wanted is None or alert.customer_id == wanted:
                yield Alert.of(alert)

    @strawberry.subscription(
        description="Relationships as they change (a new interaction, stage, type or risk), "
        "each as it now stands: the caller's tenant's, or one customer's."
    )
    async def relationship_changed(
        self, info: GatewayInfo, customer_id: strawberry.ID | None = None
    ) -> AsyncGenerator[RelationshipChange, None]:
        context = info.context
        wanted = customer_key(str(customer_id)) if customer_id is not None else None
        async for payload in context.broker.listen(Topic.RELATIONSHIPS, context.tenant_id):
            message = scoring_pb2.Relationship.FromString(payload)
            if wanted is None or message.customer_id == wanted:
                yield RelationshipChange(
                    customer_id=strawberry.ID(message.customer_id),
                    relationship=Relationship.of(message),
                )


@strawberry.type(description="A customer's relationship after a change.")
class RelationshipChange:
    customer_id: strawberry.ID = strawberry.field(description="Ingest's id for the account.")
    relationship: Relationship


def _interaction_body(given: InteractionInput) -> dict[str, object]:
    """The interaction as ingest's REST API takes it; ingest judges it."""
    customer = {"id": given.customer_id, "external_id": given.external_id}
    body: dict[str, object] = {
        "customer": {k: v for k, v in customer.items() if v is not None},
        "occurred_at": given.occurred_at.isoformat(),
        "channel": given.channel,
        "kind": given.kind,
        "direction": given.direction,
        "sentiment": given.sentiment,
        "employee": given.employee,
        "text": given.text,
        "source": "graph",
        "source_id": given.idempotency_key,
    }
    return {k: v for k, v in body.items() if v is not None}


def _cursor(token: str) -> str | None:
    return token or None


@strawberry.input(description="Which customers a list shows; every given condition must hold.")
class CustomerFilter:
    relationship_types: list[str] | None = None
    stages: list[str] | None = strawberry.field(default=None, description="Knapp stages.")
    coming_apart: bool | None = strawberry.field(
        default=None,
        description="Only customers in (true) or out of (false) the coming-apart half.",
    )
    min_risk: float | None = strawberry.field(default=None, description="0 to 1.")
    search: str | None = strawberry.field(
        default=None,
        description="Name or external id contains this, in any case (up to 200 characters; "
        "combined with other conditions or an order, it may match at most 500 customers).",
    )


@strawberry.enum
class CustomerOrderField(Enum):
    VALUE = "value"
    RISK = "risk"
    REVENUE = "revenue"


@strawberry.enum
class OrderDirection(Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.input(description="How a list of customers is ordered.")
class CustomerOrder:
    field: CustomerOrderField
    direction: OrderDirection = OrderDirection.DESC


# A name search combined with scoring's filters is resolved to at most this many customers.
MAX_SEARCH_MATCHES = 500


async def _list_customers(
    context: GatewayContext,
    first: int,
    after: str | None,
    wanted: CustomerFilter,
    order: CustomerOrder | None,
) -> CustomerConnection:
    """Ingest lists (and searches) customers by id; scoring filters and orders them by their
    relationship. With both, the search's matches are handed to scoring."""
    search = (wanted.search or "").strip()
    if len(search) > 200:
        raise GraphQLError("search: at most 200 characters", extensions={"code": "BAD_INPUT"})
    if wanted.min_risk is not None and not 0 <= wanted.min_risk <= 1:
        raise GraphQLError("minRisk must be 0..1", extensions={"code": "BAD_INPUT"})
    stages = list(wanted.stages or [])
    if wanted.coming_apart is not None:
        half = COMING_APART if wanted.coming_apart else COMING_TOGETHER
        stages = [s for s in stages if s in half] if stages else list(half)
        if not stages:  # stages asked for that the half excludes: nobody
            return CustomerConnection(
                edges=[], page_info=PageInfo(has_next_page=False, end_cursor=None)
            )
    by_relationship = bool(
        wanted.relationship_types or stages or wanted.min_risk is not None or order
    )
    tenant_id = context.tenant_id
    if not by_relationship:
        page = await context.backends.list_customers(tenant_id, first, after or "", search)
        context.loaders.prime(page.customers)
        edges = [
            CustomerEdge(
                cursor=base64.urlsafe_b64encode(c.id.encode()).decode(), node=Customer.of(c)
            )
            for c in page.customers
        ]
        return CustomerConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=bool(page.next_page_token),
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )
    only: list[str] = []
    if search:
        matches = await context.backends.list_customers(tenant_id, MAX_SEARCH_MATCHES, "", search)
        if matches.next_page_token:
            raise GraphQLError(
                f"search matches more than {MAX_SEARCH_MATCHES} customers: narrow it to "
                "combine it with filters or an order",
                extensions={"code": "BAD_INPUT"},
            )
        if not matches.customers:
            return CustomerConnection(
                edges=[], page_info=PageInfo(has_next_page=False, end_cursor=None)
            )
        context.loaders.prime(matches.customers)
        only = [c.id for c in matches.customers]
    request = scoring_pb2.ListRelationshipsRequest(
        tenant_id=tenant_id,
        relationship_types=wanted.relationship_types or [],
        stages=stages,
        customer_ids=only,
        order_by=order.field.value if order else "value",
        ascending=order is not None and order.direction == OrderDirection.ASC,
        page_size=first,
        page_token=after or "",
    )
    if wanted.min_risk is not None:
        request.min_risk = wanted.min_risk
    listed = await context.backends.list_relationships(request)
    for relationship in listed.relationships:  # their relationship needs no second call
        context.loaders.relationships.prime((relationship.customer_id, None), relationship)
    found = await context.loaders.customers.load_many([r.customer_id for r in listed.relationships])
    edges = [
        CustomerEdge(cursor=cursor, node=Customer.of(customer))
        for cursor, customer in zip(listed.cursors, found, strict=True)
        if customer is not None
    ]
    return CustomerConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=bool(listed.next_page_token),
            end_cursor=listed.cursors[-1] if listed.cursors else None,
        ),
    )


def _recent_asked(info: GatewayInfo) -> int:
    """How many newest interactions the selection asks of the customer this resolver
    gives (its `recentInteractions(limit)`), so that they come in the same call; 0 when it
    asks none, several different numbers, or one out of range (the field answers that)."""
    given = child_arguments(info, "recentInteractions", "limit")
    asked = {DEFAULT_RECENT if limit is None else limit for limit in given}
    if len(asked) != 1:
        return 0
    [limit] = asked
    return limit if isinstance(limit, int) and 1 <= limit <= MAX_RECENT else 0


async def _customer_by_id(info: GatewayInfo, customer_id: str) -> ingest_pb2.Customer | None:
    loaders = info.context.loaders
    recent = _recent_asked(info)
    if recent:
        return await loaders.customers_with_recent.load((customer_id, recent))
    return await loaders.customers.load(customer_id)


@strawberry.type
class Query(AnalysisQuery):
    @strawberry.field(
        description="Any object by its global ID; null if the caller's tenant has none."
    )
    async def node(self, info: GatewayInfo, id: strawberry.ID) -> Node | None:
        kind, raw = from_global(str(id))
        if kind == "Customer":
            found = await _customer_by_id(info, raw)
            return Customer.of(found) if found is not None else None
        return None

    @strawberry.field(
        description="One customer, by its global id, its customerId, or the tenant's external id."
    )
    async def customer(
        self,
        info: GatewayInfo,
        id: strawberry.ID | None = None,
        external_id: Annotated[str | None, strawberry.argument(name="externalId")] = None,
    ) -> Customer | None:
        if (id is None) == (external_id is None):
            raise GraphQLError(
                "give exactly one of id and externalId", extensions={"code": "BAD_INPUT"}
            )
        if id is not None:
            found = await _customer_by_id(info, customer_key(str(id)))
        else:
            recent = _recent_asked(info)
            found = await info.context.loaders.customers_by_external_id.load(
                (str(external_id), recent)
            )
        return Customer.of(found) if found is not None else None

    @strawberry.field(description="The tenant's customers, a page at a time (at most 100).")
    async def customers(
        self,
        info: GatewayInfo,
        first: int = 20,
        after: str | None = None,
        filter: CustomerFilter | None = None,
        order_by: CustomerOrder | None = None,
    ) -> CustomerConnection | None:
        if not 1 <= first <= MAX_PAGE:
            raise GraphQLError(f"first must be 1..{MAX_PAGE}", extensions={"code": "BAD_INPUT"})
        return await _list_customers(
            info.context, first, after, filter or CustomerFilter(), order_by
        )

    @strawberry.field(
        description="The tenant's alerts, newest first (at most 100): now, or as of a past "
        "moment, those raised by then as they stood then (one acknowledged later was open)."
    )
    async def alerts(
        self,
        info: GatewayInfo,
        open_only: bool = False,
        limit: int = 20,
        as_of: Annotated[datetime | None, strawberry.argument(name="asOf")] = None,
    ) -> list[Alert] | None:
        if not 1 <= limit <= MAX_ALERTS:
            raise GraphQLError(f"limit must be 1..{MAX_ALERTS}", extensions={"code": "BAD_INPUT"})
        if as_of is not None:
            as_of = _aware(as_of, "asOf")
        context = info.context
        found, missing = await context.backends.alerts(
            context.tenant_id, [], open_only, limit, as_of
        )
        if missing is not None:
            context.answered_partly(missing, "alerts")
        return [Alert.of(a) for a in found]

    @strawberry.field(
        description="The customers most likely to end, riskiest first (at most 100): now, or "
        "as the risk stood at a past `asOf` (from the interactions up to then and the stage "
        "then), among the customers with an interaction by then; their "
        "`relationship(asOf:)` at the same moment shows it."
    )
    async def at_risk(
        self,
        info: GatewayInfo,
        limit: int = 20,
        as_of: Annotated[datetime | None, strawberry.argument(name="asOf")] = None,
    ) -> list[Customer] | None:
        if not 1 <= limit <= MAX_PAGE:
            raise GraphQLError(f"limit must be 1..{MAX_PAGE}", extensions={"code": "BAD_INPUT"})
        if as_of is not None:
            as_of = _aware(as_of, "asOf")
        context = info.context
        ranked = await context.backends.at_risk(context.tenant_id, limit, as_of)
        # Their relationship at the moment ranked needs no second call (scoring ranks as of
        # a moment not yet past as now, and so they are primed).
        primed = as_of if as_of is not None and as_of < datetime.now(UTC) else None
        for relationship in ranked:
            context.loaders.relationships.prime((relationship.customer_id, primed), relationship)
        found = await context.loaders.customers.load_many([r.customer_id for r in ranked])
        return [Customer.of(c) for c in found if c is not None]

    @strawberry.field(
        description="A team's or an employee's open obligations across customers, by "
        "urgency then value (at most 100)."
    )
    async def worklist(
        self,
        info: GatewayInfo,
        team: str | None = None,
        employee: str | None = None,
        limit: int = 20,
    ) -> list[Action] | None:
        if not 1 <= limit <= MAX_WORKLIST:
            raise GraphQLError(f"limit must be 1..{MAX_WORKLIST}", extensions={"code": "BAD_INPUT"})
        context = info.context
        found = await context.backends.worklist(
            context.tenant_id, team or "", employee or "", limit
        )
        return [Action.of(a) for a in found]

    @strawberry.field(description="The tenant's relationship types, in the order they are tried.")
    async def relationship_types(
        self, info: GatewayInfo
    ) -> list[RelationshipTypeDefinition] | None:
        context = info.context
        reply = await context.backends.relationship_types(context.tenant_id)
        return [RelationshipTypeDefinition.of(t) for t in reply.types]

    @strawberry.field(
        description="The tenant's active playbook, or an earlier version by its number "
        "(null when the tenant has no such version)."
    )
    async def playbook(self, info: GatewayInfo, version: int | None = None) -> Playbook | None:
        context = info.context
        if version is None:
            found = await context.backends.active_playbooks([context.tenant_id])
        elif version >= 0:
            found = await context.backends.playbook_versions(context.tenant_id, [version])
        else:
            raise GraphQLError("version must be 0 or more", extensions={"code": "BAD_INPUT"})
        return Playbook.of(found[0]) if found else None

    @strawberry.field(
        description="The tenant's newest playbook versions, oldest first (at most 100; the "
        "default, version 0, while it is among them)."
    )
    async def playbook_versions(self, info: GatewayInfo, limit: int = 20) -> list[Playbook] | None:
        if not 1 <= limit <= MAX_VERSIONS:
            raise GraphQLError(f"limit must be 1..{MAX_VERSIONS}", extensions={"code": "BAD_INPUT"})
        context = info.context
        found = await context.backends.playbook_versions(context.tenant_id, newest=limit)
        return [Playbook.of(p) for p in found]


def _is_unexpected(error: GraphQLError) -> bool:
    """An exception a resolver did not mean to show: anything but a GraphQLError. Query
    validation and limit errors (no original error) and typed errors pass unmasked."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


class _Schema(strawberry.federation.Schema):
    """Logs with their traceback only the errors nobody meant (a fault to look into); a
    refused argument, limit or credential is the client's, answered in full, and logged
    at debug level, so that a client's mistakes cannot flood the error log."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        unexpected = []
        for error in errors:
            if _is_unexpected(error):
                unexpected.append(error)
            else:
                log.debug("refused: %s", error.message)
        super().process_errors(unexpected, execution_context)


class PartialAnswers(SchemaExtension):
    """Adds to the response's errors what was answered without a service's part (noted on
    the context by `answered_partly`): the data stands, and the client learns what it
    lacks."""

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        context = self.execution_context.context
        partial = context.partial if isinstance(context, GatewayContext) else []
        if partial and result is not None:
            result.errors = [*(result.errors or []), *partial]


def build_schema(
    *,
    max_depth: int,
    max_tokens: int,
    max_aliases: int,
    mask_errors: bool,
    max_cost: int = DEFAULT_MAX_COST,
) -> strawberry.Schema:
    # Factories, not instances: Strawberry builds fresh extensions for every request, so no
    # state leaks between concurrent requests. The validation rules, though, are built once:
    # the validation cache keys on them, and rules made anew per request never hit it.
    rules = (
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
        cost_limit_rule(max_cost),
    )
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: AddValidationRules(list(rules)),
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
        PartialAnswers,
    ]
    if mask_errors:
        extensions.append(lambda: MaskErrors(should_mask_error=_is_unexpected))
    # A federation schema: usable on its own, and as an Apollo Federation 2 subgraph
    # (Customer is an entity keyed by its global ID) for a company with a router.
    built = _Schema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions
    )
    built.execution_context_class = leaf_executor(built._schema)
    return built


# The schema as published; its SDL is committed in services/gateway/schema.graphql.
schema = build_schema(max_depth=10, max_tokens=2000, max_aliases=30, mask_errors=False)
