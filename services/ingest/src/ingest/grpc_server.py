"""Ingest's gRPC servicers: parse the request, call the service, shape the reply."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import grpc
from pydantic import ValidationError

from ingest.api import MAX_ITEM_BYTES
from ingest.messages import customer_message, interaction_message
from ingest.repository import InteractionFilter
from ingest.schemas import FieldError, InteractionIn, field_errors
from ingest.service import IngestService
from relint.contracts.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from relint.grpc_server import GrpcServer
from relint.pages import page_position, page_token

MAX_BATCH = 1000
MAX_PAGE = 500
MAX_RECENT = 100


def _moment(query: ingest_pb2.InteractionQuery, name: str) -> datetime | None:
    return getattr(query, name).ToDatetime(tzinfo=UTC) if query.HasField(name) else None  # type: ignore[arg-type]


async def _require(context: grpc.aio.ServicerContext, ok: bool, message: str) -> None:
    if not ok:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)


class CustomerServicer(ingest_pb2_grpc.CustomerServiceServicer):
    def __init__(self, service: IngestService) -> None:
        self.service = service

    async def BatchGetCustomers(
        self, request: ingest_pb2.BatchGetCustomersRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.BatchGetCustomersResponse:
        found = await self._found(
            context, request.tenant_id, request.recent_per_customer, ids=request.customer_ids
        )
        return ingest_pb2.BatchGetCustomersResponse(**found)

    async def LookupCustomers(
        self, request: ingest_pb2.LookupCustomersRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.LookupCustomersResponse:
        found = await self._found(
            context,
            request.tenant_id,
            request.recent_per_customer,
            external_ids=request.external_ids,
        )
        return ingest_pb2.LookupCustomersResponse(**found)

    async def _found(
        self,
        context: grpc.aio.ServicerContext,
        tenant_id: str,
        recent: int,
        *,
        ids: Sequence[str] = (),
        external_ids: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Both lookups' answer: the customers, and their newest interactions if asked."""
        await _require(context, bool(tenant_id), "tenant_id is required")
        await _require(
            context, len(ids) + len(external_ids) <= MAX_BATCH, f"at most {MAX_BATCH} ids"
        )
        await _require(context, 0 <= recent <= MAX_RECENT, f"recent_per_customer 0..{MAX_RECENT}")
        found = await self.service.customers_with_recent(
            tenant_id, ids=list(ids), external_ids=list(external_ids), recent=recent
        )
        return {
            "customers": [customer_message(r) for r in found.customers],
            "recent_interactions": [interaction_message(r) for r in found.recent_interactions],
        }

    async def ListCustomers(
        self, request: ingest_pb2.ListCustomersRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.ListCustomersResponse:
        await _require(context, bool(request.tenant_id), "tenant_id is required")
        await _require(context, 0 <= request.page_size <= MAX_PAGE, f"page_size 0..{MAX_PAGE}")
        size = request.page_size or 50
        try:
            after = base64.urlsafe_b64decode(request.page_token.encode()).decode()
        except ValueError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "malformed page_token")
        await _require(context, len(request.query) <= 200, "query: at most 200 characters")
        rows = await self.service.list_customers(
            request.tenant_id, after, size + 1, request.query.strip()
        )
        token = ""
        if len(rows) > size:
            rows = rows[:size]
            token = base64.urlsafe_b64encode(rows[-1].id.encode()).decode()
        return ingest_pb2.ListCustomersResponse(
            customers=[customer_message(r) for r in rows], next_page_token=token
        )


class InteractionServicer(ingest_pb2_grpc.InteractionServiceServicer):
    def __init__(self, service: IngestService) -> None:
        self.service = service

    async def BatchListRecentInteractions(
        self,
        request: ingest_pb2.BatchListRecentInteractionsRequest,
        context: grpc.aio.ServicerContext,
    ) -> ingest_pb2.BatchListRecentInteractionsResponse:
        await _require(context, bool(request.tenant_id), "tenant_id is required")
        await _require(context, len(request.customer_ids) <= MAX_BATCH, f"at most {MAX_BATCH} ids")
        await _require(
            context,
            1 <= request.limit_per_customer <= MAX_RECENT,
            f"limit_per_customer 1..{MAX_RECENT}",
        )
        rows = await self.service.recent_interactions(
            request.tenant_id, list(request.customer_ids), request.limit_per_customer
        )
        return ingest_pb2.BatchListRecentInteractionsResponse(
            interactions=[interaction_message(r) for r in rows]
        )

    async def BatchListInteractions(
        self, request: ingest_pb2.BatchListInteractionsRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.BatchListInteractionsResponse:
        await _require(context, bool(request.tenant_id), "tenant_id is required")
        await _require(context, len(request.queries) <= MAX_BATCH, f"at most {MAX_BATCH} queries")
        filters = []
        for n, query in enumerate(request.queries):
            where = f"queries[{n}]"
            await _require(context, bool(query.customer_id), f"{where}.customer_id is required")
            await _require(
                context, 1 <= query.page_size <= MAX_RECENT, f"{where}.page_size 1..{MAX_RECENT}"
            )
            before = page_position(query.page_token)
            if query.page_token and before is None:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"{where}.page_token is malformed"
                )
            filters.append(
                InteractionFilter(
                    customer_id=query.customer_id,
                    channels=tuple(query.channels),
                    kinds=tuple(query.kinds),
                    employee=query.employee,
                    occurred_from=_moment(query, "occurred_from"),
                    occurred_to=_moment(query, "occurred_to"),
                    before=before,
                )
            )
        sizes = [q.page_size for q in request.queries]
        pages = await self.service.interaction_pages(request.tenant_id, filters, sizes)
        reply = ingest_pb2.BatchListInteractionsResponse()
        for rows, size in zip(pages, sizes, strict=True):
            shown = rows[:size]
            token = page_token(shown[-1].occurred_at, shown[-1].id) if len(rows) > size else ""
            reply.pages.add(
                interactions=[interaction_message(r) for r in shown],
                next_page_token=token,
                cursors=[page_token(r.occurred_at, r.id) for r in shown],
            )
        return reply

    async def BatchListEmployees(
        self, request: ingest_pb2.BatchListEmployeesRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.BatchListEmployeesResponse:
        await _require(context, bool(request.tenant_id), "tenant_id is required")
        await _require(context, len(request.customer_ids) <= MAX_BATCH, f"at most {MAX_BATCH} ids")
        await _require(
            context,
            1 <= request.limit_per_customer <= MAX_RECENT,
            f"limit_per_customer 1..{MAX_RECENT}",
        )
        rows = await self.service.employees_of(
            request.tenant_id, list(request.customer_ids), request.limit_per_customer
        )
        reply = ingest_pb2.BatchListEmployeesResponse()
        for customer_id, employee, count, first, last in rows:
            item = reply.employees.add(
                customer_id=customer_id, employee=employee, interaction_count=count
            )
            item.first_interaction_at.FromDatetime(first)
            item.last_interaction_at.FromDatetime(last)
        return reply

    async def RecordInteraction(
        self, request: ingest_pb2.RecordInteractionRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.RecordInteractionResponse:
        await _require(context, bool(request.tenant_id), "tenant_id is required")
        await _require(
            context,
            len(request.interaction_json.encode()) <= MAX_ITEM_BYTES,
            f"an interaction is at most {MAX_ITEM_BYTES} bytes",
        )
        try:
            item = InteractionIn.model_validate_json(request.interaction_json)
        except ValidationError as error:
            return ingest_pb2.RecordInteractionResponse(
                status="rejected", errors=[_field_error(e) for e in field_errors(error)]
            )
        result = await self.service.record_one(request.tenant_id, item)
        return ingest_pb2.RecordInteractionResponse(
            status=result.status,
            id=result.id or "",
            errors=[_field_error(e) for e in result.errors],
            customer_id=result.customer_id or "",
        )


def _field_error(error: FieldError) -> ingest_pb2.FieldError:
    return ingest_pb2.FieldError(path=error.path, message=error.message)


class ApiKeyServicer(ingest_pb2_grpc.ApiKeyServiceServicer):
    def __init__(self, service: IngestService) -> None:
        self.service = service

    async def VerifyApiKey(
        self, request: ingest_pb2.VerifyApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.VerifyApiKeyResponse:
        principal = await self.service.verify(request.key)
        if principal is None:
            return ingest_pb2.VerifyApiKeyResponse(valid=False)
        return ingest_pb2.VerifyApiKeyResponse(
            valid=True,
            tenant_id=principal.tenant_id,
            partner_id=principal.partner_id,
            scopes=sorted(principal.scopes),
        )


def register(server: GrpcServer, service: IngestService) -> None:
    descriptor = ingest_pb2.DESCRIPTOR.services_by_name
    server.add(
        lambda s: ingest_pb2_grpc.add_CustomerServiceServicer_to_server(
            CustomerServicer(service), s
        ),
        [descriptor["CustomerService"].full_name],
    )
    server.add(
        lambda s: ingest_pb2_grpc.add_InteractionServiceServicer_to_server(
            InteractionServicer(service), s
        ),
        [descriptor["InteractionService"].full_name],
    )
    server.add(
        lambda s: ingest_pb2_grpc.add_ApiKeyServiceServicer_to_server(ApiKeyServicer(service), s),
        [descriptor["ApiKeyService"].full_name],
    )
