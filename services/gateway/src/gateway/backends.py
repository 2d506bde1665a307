"""The gateway's gRPC clients of ingest, scoring and playbook: one batch call per method,
each with a deadline; a failed call becomes a typed GraphQL error for the fields it feeds."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import grpc
from graphql import GraphQLError

from relint.contracts.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from relint.contracts.playbook.v1 import playbook_pb2, playbook_pb2_grpc
from relint.contracts.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from relint.grpc_client import (
    BACKGROUND_READ_DEADLINE,
    READ_DEADLINE,
    RECKONING_DEADLINE,
    WRITE_DEADLINE,
    open_channel,
)

T = TypeVar("T")


class UpstreamError(GraphQLError):
    """A backing service failed; the rest of the answer stands."""

    def __init__(self, service: str, error: grpc.aio.AioRpcError) -> None:
        super().__init__(
            f"{service} is unavailable for this part of the answer",
            extensions={
                "code": "UPSTREAM_UNAVAILABLE",
                "service": service,
                "status": error.code().name,
            },
        )


async def _call(service: str, call: Awaitable[T]) -> T:
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.INVALID_ARGUMENT:  # the caller's argument, say
            raise GraphQLError(  # a cursor from another listing
                error.details() or "invalid argument", extensions={"code": "BAD_INPUT"}
            ) from error
        raise UpstreamError(service, error) from error


# An alert as scoring or the playbook raised it (the two messages have the same fields).
AlertMessage = scoring_pb2.Alert | playbook_pb2.Alert


class AlertsFound(NamedTuple):
    """Both services' alerts; when one of them did not answer, the other's alone and the
    error of the one missing."""

    alerts: list[AlertMessage]
    missing: UpstreamError | None


def newest_first(alerts: Sequence[AlertMessage], limit: int) -> list[AlertMessage]:
    """Two services' alerts as one list, newest first (ties by id), cut to `limit`."""
    ordered = sorted(alerts, key=lambda a: (-a.raised_at.seconds, -a.raised_at.nanos, a.id))
    return ordered[:limit]


class CustomersFound(NamedTuple):
    """Customers, and each one's newest interactions when they were asked for with them
    (by customer, newest first within each)."""

    customers: list[ingest_pb2.Customer]
    recent_interactions: list[ingest_pb2.Interaction]


class Backends:
    def __init__(self, ingest: str, scoring: str, playbook: str) -> None:
        self._channels = [open_channel(t) for t in (ingest, scoring, playbook)]
        ingest_channel, scoring_channel, playbook_channel = self._channels
        self.customers = ingest_pb2_grpc.CustomerServiceStub(ingest_channel)
        self.interactions = ingest_pb2_grpc.InteractionServiceStub(ingest_channel)
        self.relationships = scoring_pb2_grpc.RelationshipServiceStub(scoring_channel)
        self.playbooks = playbook_pb2_grpc.PlaybookServiceStub(playbook_channel)
        self.ingest_channel = ingest_channel
        self.scoring_channel = scoring_channel
        # Subscriptions' feed reader polls scoring and the playbook from the moment the
        # gateway starts, maybe before they listen: on connections of their own, so that
        # queries are not failed fast while those connections back off.
        feed_channels = [open_channel(t, own_connection=True) for t in (scoring, playbook)]
        self._channels.extend(feed_channels)
        self.feeds = scoring_pb2_grpc.RelationshipServiceStub(feed_channels[0])
        self.playbook_feeds = playbook_pb2_grpc.PlaybookServiceStub(feed_channels[1])

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()

    async def customers_by_id(
        self, tenant_id: str, ids: Sequence[str], recent: int = 0
    ) -> CustomersFound:
        request = ingest_pb2.BatchGetCustomersRequest(
            tenant_id=tenant_id, customer_ids=ids, recent_per_customer=recent
        )
        reply = await _call(
            "ingest", self.customers.BatchGetCustomers(request, timeout=READ_DEADLINE)
        )
        return CustomersFound(list(reply.customers), list(reply.recent_interactions))

    async def customers_by_external_id(
        self, tenant_id: str, external_ids: Sequence[str], recent: int = 0
    ) -> CustomersFound:
        request = ingest_pb2.LookupCustomersRequest(
            tenant_id=tenant_id, external_ids=external_ids, recent_per_customer=recent
        )
        reply = await _call(
            "ingest", self.customers.LookupCustomers(request, timeout=READ_DEADLINE)
        )
        return CustomersFound(list(reply.customers), list(reply.recent_interactions))

    async def list_customers(
        self, tenant_id: str, page_size: int, page_token: str, query: str = ""
    ) -> ingest_pb2.ListCustomersResponse:
        request = ingest_pb2.ListCustomersRequest(
            tenant_id=tenant_id, page_size=page_size, page_token=page_token, query=query
        )
        return await _call("ingest", self.customers.ListCustomers(request, timeout=READ_DEADLINE))

    async def recent_interactions(
        self, tenant_id: str, customer_ids: Sequence[str], limit: int
    ) -> list[ingest_pb2.Interaction]:
        request = ingest_pb2.BatchListRecentInteractionsRequest(
            tenant_id=tenant_id, customer_ids=customer_ids, limit_per_customer=limit
        )
        reply = await _call(
            "ingest", self.interactions.BatchListRecentInteractions(request, timeout=READ_DEADLINE)
        )
        return list(reply.interactions)

    async def interaction_pages(
        self, tenant_id: str, queries: Sequence[ingest_pb2.InteractionQuery]
    ) -> list[ingest_pb2.InteractionPage]:
        request = ingest_pb2.BatchListInteractionsRequest(tenant_id=tenant_id, queries=queries)
        reply = await _call(
            "ingest", self.interactions.BatchListInteractions(request, timeout=READ_DEADLINE)
        )
        return list(reply.pages)

    async def employees_of(
        self, tenant_id: str, customer_ids: Sequence[str], limit: int
    ) -> list[ingest_pb2.EmployeeInvolvement]:
        request = ingest_pb2.BatchListEmployeesRequest(
            tenant_id=tenant_id, customer_ids=customer_ids, limit_per_customer=limit
        )
        reply = await _call(
            "ingest", self.interactions.BatchListEmployees(request, timeout=READ_DEADLINE)
        )
        return list(reply.employees)

    async def relationships_of(
        self, tenant_id: str, customer_ids: Sequence[str], as_of: datetime | None = None
    ) -> list[scoring_pb2.Relationship]:
        request = scoring_pb2.BatchGetRelationshipsRequest(
            tenant_id=tenant_id, customer_ids=customer_ids
        )
        if as_of is not None:
            request.as_of.FromDatetime(as_of)
        reply = await _call(
            "scoring", self.relationships.BatchGetRelationships(request, timeout=READ_DEADLINE)
        )
        return list(reply.relationships)

    async def timeline(
        self, tenant_id: str, customer_id: str, start: datetime, end: datetime, points: int
    ) -> list[scoring_pb2.TimelinePoint]:
        request = scoring_pb2.GetRelationshipTimelineRequest(
            tenant_id=tenant_id, customer_id=customer_id, points=points
        )
        request.start.FromDatetime(start)
        request.end.FromDatetime(end)
        reply = await _call(
            "scoring", self.relationships.GetRelationshipTimeline(request, timeout=READ_DEADLINE)
        )
        return list(reply.points)

    async def explain(
        self, tenant_id: str, customer_id: str, start: datetime, end: datetime, top: int
    ) -> scoring_pb2.ExplainRelationshipResponse:
        request = scoring_pb2.ExplainRelationshipRequest(
            tenant_id=tenant_id, customer_id=customer_id, top=top
        )
        request.start.FromDatetime(start)
        request.end.FromDatetime(end)
        return await _call(
            "scoring", self.relationships.ExplainRelationship(request, timeout=READ_DEADLINE)
        )

    async def alerts(
        self,
        tenant_id: str,
        customer_ids: Sequence[str],
        open_only: bool,
        limit: int,
        as_of: datetime | None = None,
    ) -> AlertsFound:
        """Scoring's alerts and the playbook's (violations, deadlines approaching), asked of
        both at once, newest first, at most `limit` in all. When one service does not
        answer, the other's alerts stand (with the error of the one missing); when neither
        does, the first's error is raised. As of a moment, both answer for then: the alerts
        raised by then, each as it stood (one acknowledged later was open)."""
        asked: dict[str, Any] = {
            "tenant_id": tenant_id,
            "customer_ids": customer_ids,
            "open_only": open_only,
            "limit": limit,
        }
        scoring_request = scoring_pb2.ListAlertsRequest(**asked)
        playbook_request = playbook_pb2.ListAlertsRequest(**asked)
        if as_of is not None:
            scoring_request.as_of.FromDatetime(as_of)
            playbook_request.as_of.FromDatetime(as_of)
        answers = await asyncio.gather(
            _call(
                "scoring",
                self.relationships.ListAlerts(scoring_request, timeout=READ_DEADLINE),
            ),
            _call(
                "playbook",
                self.playbooks.ListAlerts(playbook_request, timeout=READ_DEADLINE),
            ),
            return_exceptions=True,
        )
        found: list[AlertMessage] = []
        missing: list[UpstreamError] = []
        for answer in answers:
            if isinstance(answer, UpstreamError):
                missing.append(answer)
            elif isinstance(answer, BaseException):  # a refused argument, a fault
                raise answer
            else:
                found.extend(answer.alerts)
        if len(missing) == len(answers):
            raise missing[0]
        return AlertsFound(newest_first(found, limit), missing[0] if missing else None)

    async def list_relationships(
        self, request: scoring_pb2.ListRelationshipsRequest
    ) -> scoring_pb2.ListRelationshipsResponse:
        return await _call(
            "scoring", self.relationships.ListRelationships(request, timeout=READ_DEADLINE)
        )

    async def relationship_types(self, tenant_id: str) -> scoring_pb2.GetRelationshipTypesResponse:
        request = scoring_pb2.GetRelationshipTypesRequest(tenant_id=tenant_id)
        return await _call(
            "scoring", self.relationships.GetRelationshipTypes(request, timeout=READ_DEADLINE)
        )

    async def set_relationship_types(
        self, tenant_id: str, types: Sequence[scoring_pb2.RelationshipTypeRule]
    ) -> scoring_pb2.SetRelationshipTypesResponse:
        request = scoring_pb2.SetRelationshipTypesRequest(tenant_id=tenant_id, types=types)
        return await _call(
            "scoring", self.relationships.SetRelationshipTypes(request, timeout=WRITE_DEADLINE)
        )

    async def at_risk(
        self, tenant_id: str, limit: int, as_of: datetime | None = None
    ) -> list[scoring_pb2.Relationship]:
        request = scoring_pb2.ListAtRiskRequest(tenant_id=tenant_id, limit=limit)
        if as_of is not None:
            request.as_of.FromDatetime(as_of)
        # As of a past moment, scoring reckons every customer's risk then: seconds.
        deadline = READ_DEADLINE if as_of is None else RECKONING_DEADLINE
        reply = await _call("scoring", self.relationships.ListAtRisk(request, timeout=deadline))
        return list(reply.relationships)

    async def active_playbooks(self, tenant_ids: Sequence[str]) -> list[playbook_pb2.Playbook]:
        request = playbook_pb2.BatchGetActivePlaybooksRequest(tenant_ids=tenant_ids)
        reply = await _call(
            "playbook", self.playbooks.BatchGetActivePlaybooks(request, timeout=READ_DEADLINE)
        )
        return list(reply.playbooks)

    async def playbook_versions(
        self, tenant_id: str, versions: Sequence[int] = (), newest: int = 0
    ) -> list[playbook_pb2.Playbook]:
        """The tenant's versions asked, or its `newest`, oldest first."""
        request = playbook_pb2.ListPlaybookVersionsRequest(
            tenant_id=tenant_id, versions=versions, newest=newest
        )
        reply = await _call(
            "playbook", self.playbooks.ListPlaybookVersions(request, timeout=READ_DEADLINE)
        )
        return list(reply.playbooks)

    async def customer_playbooks(
        self,
        tenant_id: str,
        customer_ids: Sequence[str],
        actions_limit: int,
        outlooks: Sequence[playbook_pb2.CustomerOutlook] | None = None,
    ) -> playbook_pb2.BatchGetCustomerPlaybooksResponse:
        """The customers' playbooks; with `outlooks` (scoring's view of them, which the
        caller holds), the playbook does not ask scoring for it again."""
        request = playbook_pb2.BatchGetCustomerPlaybooksRequest(
            tenant_id=tenant_id,
            customer_ids=customer_ids,
            actions_limit=actions_limit,
            outlooks=outlooks or (),
            outlooks_given=outlooks is not None,
        )
        return await _call(
            "playbook", self.playbooks.BatchGetCustomerPlaybooks(request, timeout=READ_DEADLINE)
        )

    async def worklist(
        self, tenant_id: str, team: str, employee: str, limit: int
    ) -> list[playbook_pb2.Action]:
        request = playbook_pb2.ListWorklistRequest(
            tenant_id=tenant_id, team=team, employee=employee, limit=limit
        )
        reply = await _call("playbook", self.playbooks.ListWorklist(request, timeout=READ_DEADLINE))
        return list(reply.actions)

    async def publish_playbook(
        self, tenant_id: str, yaml: str
    ) -> playbook_pb2.PublishPlaybookResponse:
        request = playbook_pb2.PublishPlaybookRequest(tenant_id=tenant_id, yaml=yaml)
        return await _call(
            "playbook", self.playbooks.PublishPlaybook(request, timeout=WRITE_DEADLINE)
        )

    async def record_interaction(
        self, tenant_id: str, interaction: dict[str, object]
    ) -> ingest_pb2.RecordInteractionResponse:
        request = ingest_pb2.RecordInteractionRequest(
            tenant_id=tenant_id, interaction_json=json.dumps(interaction, default=str)
        )
        return await _call(
            "ingest", self.interactions.RecordInteraction(request, timeout=WRITE_DEADLINE)
        )

    async def acknowledge_alert(self, tenant_id: str, alert_id: str, who: str) -> bool:
        """Acknowledges the alert in the service that raised it: scoring, or else the
        playbook (ids are UUIDs, so no alert is open in both)."""
        asked = {"tenant_id": tenant_id, "alert_id": alert_id, "acknowledged_by": who}
        scored = await _call(
            "scoring",
            self.relationships.AcknowledgeAlert(
                scoring_pb2.AcknowledgeAlertRequest(**asked), timeout=WRITE_DEADLINE
            ),
        )
        if scored.acknowledged:
            return True
        judged = await _call(
            "playbook",
            self.playbooks.AcknowledgeAlert(
                playbook_pb2.AcknowledgeAlertRequest(**asked), timeout=WRITE_DEADLINE
            ),
        )
        return bool(judged.acknowledged)

    async def alert_feed(
        self, since: datetime, after_id: str, limit: int
    ) -> list[scoring_pb2.Alert]:
        request = scoring_pb2.ListAlertFeedRequest(limit=limit, after_id=after_id)
        request.since.FromDatetime(since)
        reply = await _call(
            "scoring", self.feeds.ListAlertFeed(request, timeout=BACKGROUND_READ_DEADLINE)
        )
        return list(reply.alerts)

    async def playbook_alert_feed(
        self, since: datetime, after_id: str, limit: int
    ) -> list[playbook_pb2.Alert]:
        request = playbook_pb2.ListAlertFeedRequest(limit=limit, after_id=after_id)
        request.since.FromDatetime(since)
        reply = await _call(
            "playbook",
            self.playbook_feeds.ListAlertFeed(request, timeout=BACKGROUND_READ_DEADLINE),
        )
        return list(reply.alerts)

    async def relationship_feed(
        self, since: datetime, after: tuple[str, str], limit: int
    ) -> list[scoring_pb2.Relationship]:
        request = scoring_pb2.ListRelationshipFeedRequest(
            limit=limit, after_tenant_id=after[0], after_customer_id=after[1]
        )
        request.since.FromDatetime(since)
        reply = await _call(
            "scoring", self.feeds.ListRelationshipFeed(request, timeout=BACKGROUND_READ_DEADLINE)
        )
        return list(reply.relationships)
