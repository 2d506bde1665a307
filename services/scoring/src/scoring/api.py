"""Scoring's REST routes: parse, call the service, shape the response."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel

from relint.auth import SCOPE_GRAPH_READ, Principal, require_scope
from scoring.service import ScoringService

router = APIRouter(prefix="/v1", tags=["relationships"])
Reader = Annotated[Principal, require_scope(SCOPE_GRAPH_READ)]


class RelationshipOut(BaseModel):
    customer_id: str
    value: float
    interaction_count: int
    last_interaction_at: datetime | None
    last_contribution: float
    updated_at: datetime


@router.get(
    "/customers/{customer_id}/relationship",
    summary="A customer's Relationship Value and what last moved it",
    responses={404: {"description": "No interaction of this customer has been applied yet"}},
)
async def relationship(customer_id: str, request: Request, principal: Reader) -> RelationshipOut:
    service: ScoringService = request.app.state.scoring
    rows = await service.relationships(principal.tenant_id, [customer_id])
    if not rows:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no relationship for customer {customer_id}"
        )
    row = rows[0]
    return RelationshipOut(
        customer_id=row.customer_id,
        value=row.value,
        interaction_count=row.interaction_count,
        last_interaction_at=row.last_interaction_at,
        last_contribution=row.last_contribution,
        updated_at=row.updated_at,
    )
