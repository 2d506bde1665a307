"""Ingest's customer routes: who a customer is (identifiers, contacts, merges), and merging
two customers on request. Resolution itself happens on every write; see `ingest.identity`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, Field

from ingest.deps import service_of
from ingest.models import CustomerMerge
from ingest.service import MergeRefused
from relint.auth import SCOPE_ADMIN, SCOPE_GRAPH_READ, Principal, require_scope

router = APIRouter(prefix="/v1", tags=["customers"])
Reader = Annotated[Principal, require_scope(SCOPE_GRAPH_READ)]
Admin = Annotated[Principal, require_scope(SCOPE_ADMIN)]
CustomerId = Annotated[str, Path(min_length=1, max_length=36)]


class IdentifierOut(BaseModel):
    scheme: str = Field(description='A source\'s name, or "domain"')
    value: str


class ContactOut(BaseModel):
    id: str
    email: str | None
    external_id: str | None
    name: str


class MergeOut(BaseModel):
    id: str
    merged_id: str = Field(description="The customer that no longer stands on its own")
    into_id: str
    reason: str
    interactions_moved: int
    merged_at: datetime


class CustomerOut(BaseModel):
    id: str
    external_id: str | None = Field(description="None while the account is provisional")
    name: str
    first_seen_at: datetime
    last_seen_at: datetime
    interaction_count: int
    identifiers: list[IdentifierOut]
    contacts: list[ContactOut]
    merged_from: list[MergeOut]
    redirected_from: str | None = Field(
        default=None, description="The id asked for, when it was merged into this customer"
    )


class MergeIn(BaseModel):
    into: Annotated[str, Field(min_length=1, max_length=36)]
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class MergesOut(BaseModel):
    merges: list[MergeOut]


def _merge(row: CustomerMerge) -> MergeOut:
    return MergeOut(
        id=row.id,
        merged_id=row.merged_id,
        into_id=row.into_id,
        reason=row.reason,
        interactions_moved=row.interactions_moved,
        merged_at=row.merged_at,
    )


@router.get(
    "/customers/{customer_id}",
    summary="A customer with its identifiers, contacts and the merges that made it",
    responses={404: {"description": "No such customer in this tenant"}},
)
async def get_customer(request: Request, principal: Reader, customer_id: CustomerId) -> CustomerOut:
    profile = await service_of(request).customer_profile(principal.tenant_id, customer_id)
    if profile is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no customer {customer_id}")
    customer = profile.customer
    return CustomerOut(
        id=customer.id,
        external_id=customer.external_id,
        name=customer.name,
        first_seen_at=customer.first_seen_at,
        last_seen_at=customer.last_seen_at,
        interaction_count=customer.interaction_count,
        identifiers=[IdentifierOut(scheme=i.scheme, value=i.value) for i in profile.identifiers],
        contacts=[
            ContactOut(id=c.id, email=c.email, external_id=c.external_id, name=c.name)
            for c in profile.contacts
        ],
        merged_from=[_merge(m) for m in profile.merged_from],
        redirected_from=customer_id if customer_id != customer.id else None,
    )


@router.post(
    "/admin/customers/{customer_id}:merge",
    summary="Merge a customer into another: its interactions, contacts and identifiers move, "
    "and the merge is recorded",
    responses={
        404: {"description": "Either customer is unknown in this tenant"},
        409: {"description": "Already merged, or the same customer"},
    },
)
async def merge_customer(
    request: Request, principal: Admin, customer_id: CustomerId, body: MergeIn
) -> MergeOut:
    try:
        merge = await service_of(request).merge_customers(
            principal.tenant_id, customer_id, body.into, body.reason
        )
    except MergeRefused as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from error
    except LookupError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
    return _merge(merge)


@router.get("/admin/merges", summary="The tenant's merges, newest first")
async def list_merges(
    request: Request,
    principal: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> MergesOut:
    rows = await service_of(request).merges(principal.tenant_id, limit)
    return MergesOut(merges=[_merge(m) for m in rows])
