"""Ingest's admin routes: a tenant's admin manages its own tenant settings, its partners and
their keys, and its kind mappings. A key is shown once, when it is issued; afterwards only its
lookup id, partner, scopes and dates are. Creating tenants is the platform operator's job
(`ingest admin create-tenant`), so no API credential ever reaches across tenants."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, Field

from ingest.deps import service_of
from ingest.service import (
    Conflict,
    InvalidKindMappings,
    KeyInfo,
    PartnerInfo,
    TenantInfo,
    TenantKey,
)
from relint.auth import ALL_SCOPES, SCOPE_ADMIN, Principal, require_scope

router = APIRouter(prefix="/v1/admin", tags=["admin"])
Admin = Annotated[Principal, require_scope(SCOPE_ADMIN)]
LookupId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="The part after 'rik_'")]


class KeyRequest(BaseModel):
    partner: Annotated[str, Field(min_length=1, max_length=200)]
    scopes: Annotated[list[str], Field(min_length=1, max_length=len(ALL_SCOPES))] = Field(
        description=f"Some of {', '.join(ALL_SCOPES)}"
    )


class IssuedKeyOut(BaseModel):
    api_key: str = Field(description="Shown once: only its hash is stored")
    lookup_id: str
    partner_id: str
    scopes: list[str]


class KeyOut(BaseModel):
    lookup_id: str
    partner: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class KeysOut(BaseModel):
    keys: list[KeyOut]


def _issued(key: TenantKey) -> IssuedKeyOut:
    return IssuedKeyOut(
        api_key=key.api_key, lookup_id=key.lookup_id, partner_id=key.partner_id, scopes=key.scopes
    )


def _key(info: KeyInfo) -> KeyOut:
    return KeyOut(
        lookup_id=info.lookup_id,
        partner=info.partner,
        scopes=info.scopes,
        created_at=info.created_at,
        revoked_at=info.revoked_at,
    )


class TenantOut(BaseModel):
    id: str
    name: str
    email_domains: list[str] = Field(
        description="The company's own mail domains: mail from them is outbound"
    )
    created_at: datetime


class TenantPatch(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    email_domains: (
        Annotated[list[Annotated[str, Field(max_length=253)]], Field(max_length=50)] | None
    ) = None


class PartnerIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]


class PartnerOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    removed_at: datetime | None
    active_keys: int


class PartnersOut(BaseModel):
    partners: list[PartnerOut]


def _tenant(info: TenantInfo) -> TenantOut:
    return TenantOut(
        id=info.id, name=info.name, email_domains=info.email_domains, created_at=info.created_at
    )


def _partner(info: PartnerInfo) -> PartnerOut:
    return PartnerOut(
        id=info.id,
        name=info.name,
        created_at=info.created_at,
        removed_at=info.removed_at,
        active_keys=info.active_keys,
    )


@router.get("/tenant", summary="The caller's tenant and its settings")
async def get_tenant(request: Request, principal: Admin) -> TenantOut:
    info = await service_of(request).tenant(principal.tenant_id)
    if info is None:  # pragma: no cover - a key always belongs to a tenant
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such tenant")
    return _tenant(info)


@router.patch(
    "/tenant",
    summary="Rename the tenant or set its own mail domains",
    responses={409: {"description": "The name is taken"}, 422: {"description": "Bad domain"}},
)
async def update_tenant(request: Request, principal: Admin, body: TenantPatch) -> TenantOut:
    try:
        info = await service_of(request).update_tenant(
            principal.tenant_id, body.name, body.email_domains
        )
    except Conflict as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from error
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from error
    return _tenant(info)


@router.get("/partners", summary="The tenant's partners, each with its number of active keys")
async def list_partners(request: Request, principal: Admin) -> PartnersOut:
    rows = await service_of(request).partners(principal.tenant_id)
    return PartnersOut(partners=[_partner(p) for p in rows])


@router.post(
    "/partners",
    status_code=status.HTTP_201_CREATED,
    summary="Add a partner (a system or company that sends data)",
    responses={409: {"description": "A partner with this name exists"}},
)
async def add_partner(request: Request, principal: Admin, body: PartnerIn) -> PartnerOut:
    try:
        return _partner(await service_of(request).add_partner(principal.tenant_id, body.name))
    except Conflict as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from error


@router.delete(
    "/partners/{partner_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a partner: every key of it is revoked at once",
    responses={404: {"description": "No such active partner in this tenant"}},
)
async def remove_partner(
    request: Request, principal: Admin, partner_id: Annotated[str, Path(max_length=36)]
) -> Response:
    if not await service_of(request).remove_partner(principal.tenant_id, partner_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no active partner {partner_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/keys", summary="The tenant's keys, newest first (never the keys themselves)")
async def list_keys(request: Request, principal: Admin) -> KeysOut:
    return KeysOut(keys=[_key(k) for k in await service_of(request).keys(principal.tenant_id)])


@router.post(
    "/keys",
    status_code=status.HTTP_201_CREATED,
    summary="Issue a key to a partner of this tenant (created if new)",
    responses={
        409: {"description": "The partner was removed"},
        422: {"description": "Unknown scope or bad partner name"},
    },
)
async def issue_key(request: Request, principal: Admin, body: KeyRequest) -> IssuedKeyOut:
    try:
        issued = await service_of(request).issue_key(principal.tenant_id, body.partner, body.scopes)
    except Conflict as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from error
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from error
    return _issued(issued)


@router.post(
    "/keys/{lookup_id}:rotate",
    status_code=status.HTTP_201_CREATED,
    summary="Issue a successor with the same partner and scopes; the old key stays valid "
    "until you revoke it",
    responses={404: {"description": "No active key with this lookup id in this tenant"}},
)
async def rotate_key(request: Request, principal: Admin, lookup_id: LookupId) -> IssuedKeyOut:
    issued = await service_of(request).rotate_key(lookup_id, principal.tenant_id)
    if issued is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no active key {lookup_id}")
    return _issued(issued)


@router.delete(
    "/keys/{lookup_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a key at once",
    responses={404: {"description": "No active key with this lookup id in this tenant"}},
)
async def revoke_key(request: Request, principal: Admin, lookup_id: LookupId) -> Response:
    if not await service_of(request).revoke_key(lookup_id, principal.tenant_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no active key {lookup_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class KindMappingIn(BaseModel):
    channel: Annotated[str, Field(min_length=1, max_length=32)]
    source_kind: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="The tenant's own name, as its systems send it"
    )
    kind: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="The canonical kind of the channel it means"
    )


class KindMappingsIn(BaseModel):
    mappings: Annotated[list[KindMappingIn], Field(max_length=1000)]


@router.get("/kind-mappings", summary="The tenant's own kinds and the canonical kinds they mean")
async def kind_mappings(request: Request, principal: Admin) -> KindMappingsIn:
    rows = await service_of(request).kind_mappings(principal.tenant_id)
    return KindMappingsIn(
        mappings=[KindMappingIn(channel=c, source_kind=s, kind=k) for c, s, k in rows]
    )


@router.put(
    "/kind-mappings",
    summary="Replace the tenant's whole mapping table; all of it is taken, or none",
    responses={422: {"description": "Every problem, each with its position"}},
)
async def replace_kind_mappings(
    request: Request, principal: Admin, body: KindMappingsIn
) -> KindMappingsIn:
    entries = [(m.channel, m.source_kind, m.kind) for m in body.mappings]
    try:
        await service_of(request).replace_kind_mappings(principal.tenant_id, entries)
    except InvalidKindMappings as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, error.problems) from error
    return body
