"""Playbook's gRPC servicer: the active playbooks of many tenants in one call."""

from __future__ import annotations

import grpc

from playbook.messages import playbook_message
from playbook.service import PlaybookService
from relint.contracts.playbook.v1 import playbook_pb2, playbook_pb2_grpc
from relint.grpc_server import GrpcServer

MAX_BATCH = 1000


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


def register(server: GrpcServer, service: PlaybookService) -> None:
    server.add(
        lambda s: playbook_pb2_grpc.add_PlaybookServiceServicer_to_server(
            PlaybookServicer(service), s
        ),
        [playbook_pb2.DESCRIPTOR.services_by_name["PlaybookService"].full_name],
    )
