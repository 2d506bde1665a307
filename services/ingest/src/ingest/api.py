"""Ingest's REST routes: parse, call the service, shape the response."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, HTTPException, Request, Response, status
from fastapi.routing import APIRoute
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError, to_json

from ingest.deps import service_of
from ingest.schemas import (
    EXAMPLE_INTERACTION,
    BatchResult,
    FieldError,
    InteractionBatchIn,
    InteractionIn,
    ItemResult,
    field_errors,
)
from relint.auth import SCOPE_INGEST_WRITE, Principal, require_scope
from relint.ratelimit import RateLimiter

MAX_ITEM_BYTES = 32 * 1024
MAX_BATCH_BYTES = 512 * 1024


def _content_codings(request: Request) -> list[str]:
    """The codings a request's body was sent in, `identity` (none) left out."""
    return [
        coding.strip()
        for value in request.headers.getlist("content-encoding")
        for coding in value.split(",")
        if coding.strip() and coding.strip().lower() != "identity"
    ]


class UncompressedBodyRoute(APIRoute):
    """Refuses a compressed body with 415 before the body is read. FastAPI parses a route's
    body before it looks at any parameter, so a check in the endpoint or a dependency comes
    too late: a gzip body would already be a 400, "error parsing the body". The body is not
    decompressed, so the size limits stay counted on what arrives."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def refuse_compressed(request: Request) -> Response:
            codings = _content_codings(request)
            if codings:
                raise HTTPException(
                    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                    f"Content-Encoding {', '.join(codings)!r} is not accepted: send the body "
                    "uncompressed, without Content-Encoding",
                )
            return await handler(request)

        return refuse_compressed


router = APIRouter(prefix="/v1", tags=["interactions"], route_class=UncompressedBodyRoute)
# On a retry's answer: the original answer, replayed (as Stripe and the IETF draft do).
REPLAYED = "Idempotent-Replayed"
Writer = Annotated[Principal, require_scope(SCOPE_INGEST_WRITE)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=150,
        description="For senders without their own ids: an interaction without source_id is "
        "stored under this key (a batch's items under KEY:index), so a retry with the same "
        "key is stored once and answered with the original id.",
    ),
]


def _keyed(interaction: InteractionIn, key: str | None, suffix: str = "") -> InteractionIn:
    """The source id an Idempotency-Key gives an interaction that has none of its own."""
    if key is None or interaction.source_id is not None:
        return interaction
    return interaction.model_copy(update={"source_id": key + suffix})


async def check_rate(request: Request, principal: Principal, cost: int) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    decision = await limiter.hit(f"ingest:key:{principal.key_id or principal.partner_id}", cost)
    if not decision.allowed:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit of {decision.limit} interactions a minute reached for this key",
            headers={"Retry-After": str(decision.retry_after)},
        )


@router.post(
    "/interactions",
    status_code=status.HTTP_201_CREATED,
    summary="Record one interaction",
    description="Answers 201 with the interaction's id. A retry (the same interaction under "
    "the same source and source_id, or the same Idempotency-Key) gets the original answer "
    "again, with the header `Idempotent-Replayed: true`; the same key with a different "
    "interaction is a 422 naming the fields that differ, and the original stands unchanged.",
    responses={
        201: {
            "description": "Stored; or, with `Idempotent-Replayed: true`, stored before",
            "headers": {
                REPLAYED: {
                    "description": "`true` when the answer is the original one, replayed",
                    "schema": {"type": "string", "enum": ["true"]},
                }
            },
        },
        413: {"description": "Larger than 32 KB"},
        415: {"description": "Not JSON, or a Content-Encoding other than identity"},
        422: {"description": "Invalid, or its source_id already used for another interaction"},
        429: {"description": "Rate limit reached; see Retry-After"},
    },
)
async def record_interaction(
    request: Request,
    response: Response,
    principal: Writer,
    interaction: Annotated[InteractionIn, Body(examples=[EXAMPLE_INTERACTION])],
    idempotency_key: IdempotencyKey = None,
) -> ItemResult:
    await check_rate(request, principal, 1)
    if idempotency_key and interaction.source_id not in (None, idempotency_key):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "Idempotency-Key and source_id disagree: send one, or the same value in both",
        )
    interaction = _keyed(interaction, idempotency_key)
    result = await service_of(request).record_one(principal.tenant_id, interaction)
    if result.status == "rejected":
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [
                {"loc": ["body", *e.path.split(".")], "msg": e.message, "type": "value_error"}
                for e in result.errors
            ],
        )
    if result.status == "duplicate":  # a retry: the original answer, replayed
        response.headers[REPLAYED] = "true"
        return result.model_copy(update={"status": "accepted"})
    return result


def record_interaction_route() -> APIRoute:
    """The route of `record_interaction`, for the direct route in front of it."""
    return next(
        route
        for route in router.routes
        if isinstance(route, APIRoute) and route.endpoint is record_interaction
    )


@router.post(
    "/interactions:batch",
    summary="Record up to 1,000 interactions; each item is accepted, duplicate or rejected",
    responses={
        413: {"description": "Larger than 512 KB"},
        415: {"description": "Not JSON, or a Content-Encoding other than identity"},
        429: {"description": "Rate limit"},
    },
)
async def record_batch(
    request: Request,
    principal: Writer,
    batch: InteractionBatchIn,
    idempotency_key: IdempotencyKey = None,
) -> BatchResult:
    await check_rate(request, principal, len(batch.interactions))
    valid: list[tuple[int, InteractionIn]] = []
    rejected: list[ItemResult] = []
    for index, raw in enumerate(batch.interactions):
        where = f"interactions[{index}]"
        refusal = None if isinstance(raw, dict) else "must be a JSON object (an interaction)"
        try:
            if refusal is None and len(to_json(raw)) > MAX_ITEM_BYTES:
                refusal = f"item larger than {MAX_ITEM_BYTES} bytes"
        except PydanticSerializationError:
            pass  # text that is not valid Unicode: validation below names where
        if refusal is not None:
            errors = [FieldError(path=where, message=refusal)]
            rejected.append(ItemResult(index=index, status="rejected", errors=errors))
            continue
        try:
            item = InteractionIn.model_validate(raw)
            valid.append((index, _keyed(item, idempotency_key, f":{index}")))
        except ValidationError as error:
            rejected.append(
                ItemResult(index=index, status="rejected", errors=field_errors(error, where))
            )
    stored = (
        await service_of(request).record(principal.tenant_id, valid, compare_repeats=True)
        if valid
        else []
    )
    for result in stored:  # the service names fields within the item
        for problem in result.errors:
            problem.path = f"interactions[{result.index}].{problem.path}"
    results = sorted([*stored, *rejected], key=lambda r: r.index)
    return BatchResult(
        accepted=sum(r.status == "accepted" for r in results),
        duplicates=sum(r.status == "duplicate" for r in results),
        rejected=sum(r.status == "rejected" for r in results),
        results=results,
    )
