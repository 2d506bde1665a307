"""Playbook's gRPC servicer: the active playbooks of many tenants in one call."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

import grpc

from playbook.alerts import PLAYBOOK_KINDS
from playbook.domain import InvalidPlaybook
from playbook.messages import (
    action_message,
    alert_message,
    customer_playbooks_message,
    delivered,
    playbook_message,
)
from playbook.scoring_client import outlook
from playbook.service import MAX_LISTED_VERSIONS, PlaybookService
from playbook.yaml_io import MAX_YAML_BYTES, load_draft
from relint.as_of import grpc_as_of
from relint.contracts.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from relint.contracts.playbook.v1 import playbook_pb2, playbook_pb2_grpc
from relint.grpc_server import GrpcServer
from relint.subscriber import refuse_bad_delivery

MAX_BATCH = 1000
DEFAULT_VERSIONS = 20


class SubscriberServicer(ingest_pb2_grpc.InteractionSubscriberServiceServicer):
    """Ingest's stream: every interaction is kept and its customer judged again."""

    def __init__(self, service: PlaybookService, on_received: Callable[[], None]) -> None:
        self.service = service
        self.on_received = on_received

    async def DeliverInteractions(
        self, request: ingest_pb2.DeliverInteractionsRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.DeliverInteractionsResponse:
        await refuse_bad_delivery(request, context)
        result = await self.service.receive([delivered(item) for item in request.interactions])
        if result.applied or result.moved:
            self.on_received()
        return ingest_pb2.DeliverInteractionsResponse(
            applied=result.applied, duplicates=result.duplicates
        )


class PlaybookServicer(playbook_pb2_grpc.PlaybookServiceServicer):
    def __init__(self, service: PlaybookService) -> None:
        self.service = service

    async def BatchGetActivePlaybooks(
        self,
        request: playbook_pb2.BatchGetActivePlaybooksRequest,
        context: grpc.aio.ServicerContext,
    ) -> playbook_pb2.BatchGetActivePlaybooksResponse:
        if not request.tenant_ids:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tenant_ids is required")
        if len(request.tenant_ids) > MAX_BATCH:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"at most {MAX_BATCH} ids")
        for position, tenant_id in enumerate(request.tenant_ids):
            if not tenant_id:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"tenant_ids[{position}] is empty"
                )
        playbooks = await self.service.active_playbooks(list(request.tenant_ids))
        return playbook_pb2.BatchGetActivePlaybooksResponse(
            playbooks=[playbook_message(p) for p in playbooks]
        )

    async def ListPlaybookVersions(
        self,
        request: playbook_pb2.ListPlaybookVersionsRequest,
        context: grpc.aio.ServicerContext,
    ) -> playbook_pb2.ListPlaybookVersionsResponse:
        if not request.tenant_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tenant_id is required")
        if len(request.versions) > MAX_LISTED_VERSIONS:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"at most {MAX_LISTED_VERSIONS} versions"
            )
        if any(version < 0 for version in request.versions):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "versions start at 0")
        newest = request.newest or DEFAULT_VERSIONS
        if not 1 <= newest <= MAX_LISTED_VERSIONS:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"newest must be 1..{MAX_LISTED_VERSIONS}"
            )
        if request.versions:
            playbooks = await self.service.versions(request.tenant_id, set(request.versions))
        else:
            playbooks = await self.service.versions(request.tenant_id, newest=newest)
        return playbook_pb2.ListPlaybookVersionsResponse(
            playbooks=[playbook_message(p) for p in playbooks]
        )

    async def BatchGetCustomerPlaybooks(
        self,
        request: playbook_pb2.BatchGetCustomerPlaybooksRequest,
        context: grpc.aio.ServicerContext,
    ) -> playbook_pb2.BatchGetCustomerPlaybooksResponse:
        if not request.tenant_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tenant_id is required")
        if len(request.customer_ids) > MAX_BATCH:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"at most {MAX_BATCH} ids")
        limit = request.actions_limit or 10
        if not 1 <= limit <= MAX_ACTIONS:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"actions_limit must be 1..{MAX_ACTIONS}"
            )
        outlooks = None
        if request.outlooks_given:
            asked = set(request.customer_ids)
            strays = [o.customer_id for o in request.outlooks if o.customer_id not in asked]
            if strays:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"outlooks: customer {strays[0]} is not among customer_ids",
                )
            outlooks = {o.customer_id: outlook(o) for o in request.outlooks}
        found = await self.service.customer_playbooks(
            request.tenant_id, list(request.customer_ids), limit, outlooks=outlooks
        )
        return customer_playbooks_message(found)

    async def PublishPlaybook(
        self, request: playbook_pb2.PublishPlaybookRequest, context: grpc.aio.ServicerContext
    ) -> playbook_pb2.PublishPlaybookResponse:
        if not request.tenant_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tenant_id is required")
        if len(request.yaml.encode()) > MAX_YAML_BYTES:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"at most {MAX_YAML_BYTES} bytes of YAML"
            )
        try:
            types = await self.service.relationship_types(request.tenant_id)
            draft = load_draft(request.yaml, types)
            published = await self.service.publish(request.tenant_id, draft, types)
        except InvalidPlaybook as error:
            return playbook_pb2.PublishPlaybookResponse(
                problems=[
                    playbook_pb2.PlaybookProblem(path=p.path, reason=p.reason)
                    for p in error.problems
                ]
            )
        return playbook_pb2.PublishPlaybookResponse(playbook=playbook_message(published.playbook))

    async def ListWorklist(
        self, request: playbook_pb2.ListWorklistRequest, context: grpc.aio.ServicerContext
    ) -> playbook_pb2.ListWorklistResponse:
        if not request.tenant_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tenant_id is required")
        limit = request.limit or 100
        if not 1 <= limit <= MAX_WORKLIST:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"limit must be 1..{MAX_WORKLIST}"
            )
        found = await self.service.worklist(
            request.tenant_id,
            team=request.team or None,
            employee=request.employee or None,
            limit=limit,
        )
        return playbook_pb2.ListWorklistResponse(actions=[action_message(a) for a in found])

    async def ListAlerts(
        self, request: playbook_pb2.ListAlertsRequest, context: grpc.aio.ServicerContext
    ) -> playbook_pb2.ListAlertsResponse:
        if not request.tenant_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tenant_id is required")
        if len(request.customer_ids) > MAX_BATCH:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"at most {MAX_BATCH} ids")
        limit = request.limit or 100
        if not 1 <= limit <= MAX_ALERTS:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"limit must be 1..{MAX_ALERTS}")
        as_of = await grpc_as_of(context, request)
        found = await self.service.alerts(
            request.tenant_id,
            kinds=PLAYBOOK_KINDS,
            customer_ids=list(request.customer_ids) or None,
            open_only=request.open_only,
            limit=limit,
            as_of=as_of,
        )
        return playbook_pb2.ListAlertsResponse(alerts=[alert_message(a) for a in found])

    async def AcknowledgeAlert(
        self, request: playbook_pb2.AcknowledgeAlertRequest, context: grpc.aio.ServicerContext
    ) -> playbook_pb2.AcknowledgeAlertResponse:
        if not request.tenant_id or not request.alert_id:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "tenant_id and alert_id are required"
            )
        done = await self.service.acknowledge(
            request.tenant_id, request.alert_id, request.acknowledged_by[:200]
        )
        return playbook_pb2.AcknowledgeAlertResponse(acknowledged=done)

    async def ListAlertFeed(
        self, request: playbook_pb2.ListAlertFeedRequest, context: grpc.aio.ServicerContext
    ) -> playbook_pb2.ListAlertFeedResponse:
        if not request.HasField("since"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "since is required")
        if not 0 <= request.limit <= MAX_ALERTS:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"limit: 1 to {MAX_ALERTS}")
        found = await self.service.alert_feed(
            request.since.ToDatetime(tzinfo=UTC), request.limit or 500, request.after_id
        )
        return playbook_pb2.ListAlertFeedResponse(alerts=[alert_message(a) for a in found])


MAX_ACTIONS = 50
MAX_WORKLIST = 500
MAX_ALERTS = 1000


def register(
    server: GrpcServer, service: PlaybookService, on_received: Callable[[], None] = lambda: None
) -> None:
    server.add(
        lambda s: playbook_pb2_grpc.add_PlaybookServiceServicer_to_server(
            PlaybookServicer(service), s
        ),
        [playbook_pb2.DESCRIPTOR.services_by_name["PlaybookService"].full_name],
    )
    server.add(
        lambda s: ingest_pb2_grpc.add_InteractionSubscriberServiceServicer_to_server(
            SubscriberServicer(service, on_received), s
        ),
        [ingest_pb2.DESCRIPTOR.services_by_name["InteractionSubscriberService"].full_name],
    )
