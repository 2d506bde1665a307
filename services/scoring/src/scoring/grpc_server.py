"""Scoring's gRPC servicers: the interaction subscriber and relationship reads."""

from __future__ import annotations

import grpc

from relint.contracts.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from relint.contracts.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from relint.grpc_server import GrpcServer
from scoring.messages import delivered, relationship_message
from scoring.service import ScoringService

MAX_BATCH = 1000


class SubscriberServicer(ingest_pb2_grpc.InteractionSubscriberServiceServicer):
    def __init__(self, service: ScoringService) -> None:
        self.service = service

    async def DeliverInteractions(
        self, request: ingest_pb2.DeliverInteractionsRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.DeliverInteractionsResponse:
        if len(request.interactions) > MAX_BATCH:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"at most {MAX_BATCH} a batch")
        for position, item in enumerate(request.interactions):
            if not (
                item.id and item.tenant_id and item.customer_id and item.HasField("occurred_at")
            ):
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"interactions[{position}] needs id, tenant_id, customer_id and occurred_at",
                )
        result = await self.service.apply([delivered(item) for item in request.interactions])
        return ingest_pb2.DeliverInteractionsResponse(
            applied=result.applied, duplicates=result.duplicates
        )


class RelationshipServicer(scoring_pb2_grpc.RelationshipServiceServicer):
    def __init__(self, service: ScoringService) -> None:
        self.service = service

    async def BatchGetRelationships(
        self, request: scoring_pb2.BatchGetRelationshipsRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.BatchGetRelationshipsResponse:
        if not request.tenant_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tenant_id is required")
        if len(request.customer_ids) > MAX_BATCH:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"at most {MAX_BATCH} ids")
        rows = await self.service.relationships(request.tenant_id, list(request.customer_ids))
        return scoring_pb2.BatchGetRelationshipsResponse(
            relationships=[relationship_message(r) for r in rows]
        )


def register(server: GrpcServer, service: ScoringService) -> None:
    server.add(
        lambda s: ingest_pb2_grpc.add_InteractionSubscriberServiceServicer_to_server(
            SubscriberServicer(service), s
        ),
        [ingest_pb2.DESCRIPTOR.services_by_name["InteractionSubscriberService"].full_name],
    )
    server.add(
        lambda s: scoring_pb2_grpc.add_RelationshipServiceServicer_to_server(
            RelationshipServicer(service), s
        ),
        [scoring_pb2.DESCRIPTOR.services_by_name["RelationshipService"].full_name],
    )
