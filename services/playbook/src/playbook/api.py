"""Playbook's REST routes: parse, call the service, shape the response."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, Field

from playbook.domain import (
    DEFAULT_PLAYBOOK,
    InvalidPlaybook,
    Standard,
    draft_from_dict,
    draft_to_dict,
    sentence,
    standard_to_dict,
)
from playbook.service import Playbook, PlaybookService
from relint.auth import SCOPE_ADMIN, SCOPE_GRAPH_READ, Principal, require_scope

# Far above the largest valid draft (500 standards), far below what would hurt.
MAX_DRAFT_BYTES = 1024 * 1024

router = APIRouter(prefix="/v1", tags=["playbook"])
Reader = Annotated[Principal, require_scope(SCOPE_GRAPH_READ)]
Admin = Annotated[Principal, require_scope(SCOPE_ADMIN)]


class StandardOut(BaseModel):
    key: str
    title: str
    team: str = Field(description="'company' for a universal precept, otherwise the team")
    relationship_types: list[str] = Field(description="Empty: every relationship type")
    stages: list[str] = Field(description="Empty: every stage")
    rule: dict[str, Any] = Field(
        description="The machine-checkable rule: its kind and parameters",
        examples=[
            {
                "kind": "respond_within",
                "trigger": {"channel": "service", "kind": "ticket_opened"},
                "within_hours": 4,
            }
        ],
    )
    description: str = Field(description="The standard in one human sentence")


class PlaybookOut(BaseModel):
    id: str
    version: int = Field(description="0 for the default playbook, never published")
    name: str
    standards: list[StandardOut]
    created_at: datetime | None = Field(description="When this version was published")


class VersionOut(BaseModel):
    version: int
    name: str
    standard_count: int
    created_at: datetime | None


class VersionsOut(BaseModel):
    versions: list[VersionOut]


class ProblemOut(BaseModel):
    path: str = Field(description="Where in the draft, e.g. standards[2].rule.within_hours")
    reason: str


class ProblemsOut(BaseModel):
    detail: list[ProblemOut]


def _service(request: Request) -> PlaybookService:
    service: PlaybookService = request.app.state.playbook
    return service


def _standard_out(standard: Standard) -> StandardOut:
    return StandardOut(**{**standard_to_dict(standard), "description": sentence(standard)})


def _playbook_out(playbook: Playbook) -> PlaybookOut:
    return PlaybookOut(
        id=playbook.id,
        version=playbook.version,
        name=playbook.name,
        standards=[_standard_out(s) for s in playbook.standards],
        created_at=playbook.created_at,
    )


@router.get("/playbook", summary="The caller's active playbook: its newest version")
async def active_playbook(request: Request, principal: Reader) -> PlaybookOut:
    [playbook] = await _service(request).active_playbooks([principal.tenant_id])
    return _playbook_out(playbook)


@router.put(
    "/playbook",
    status_code=status.HTTP_201_CREATED,
    summary="Publish a draft as the caller's next playbook version",
    responses={
        413: {"description": f"Larger than {MAX_DRAFT_BYTES} bytes"},
        422: {"model": ProblemsOut, "description": "The draft's problems, each with its path"},
    },
)
async def publish_playbook(
    request: Request,
    response: Response,
    principal: Admin,
    document: Annotated[dict[str, Any], Body(examples=[draft_to_dict(DEFAULT_PLAYBOOK)])],
) -> PlaybookOut:
    try:
        draft = draft_from_dict(document)
        playbook = await _service(request).publish(principal.tenant_id, draft)
    except InvalidPlaybook as error:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"path": p.path, "reason": p.reason} for p in error.problems],
        ) from error
    response.headers["Location"] = f"/v1/playbook/versions/{playbook.version}"
    return _playbook_out(playbook)


@router.get(
    "/playbook/versions",
    summary="Every version of the caller's playbook, the default (0) first",
)
async def playbook_versions(request: Request, principal: Reader) -> VersionsOut:
    playbooks = await _service(request).versions(principal.tenant_id)
    return VersionsOut(
        versions=[
            VersionOut(
                version=p.version,
                name=p.name,
                standard_count=len(p.standards),
                created_at=p.created_at,
            )
            for p in playbooks
        ]
    )


@router.get(
    "/playbook/versions/{version}",
    summary="One version of the caller's playbook",
    responses={404: {"description": "The caller's tenant has no such version"}},
)
async def playbook_version(
    version: Annotated[int, Path(ge=0)], request: Request, principal: Reader
) -> PlaybookOut:
    playbook = await _service(request).version(principal.tenant_id, version)
    if playbook is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no playbook version {version}")
    return _playbook_out(playbook)
