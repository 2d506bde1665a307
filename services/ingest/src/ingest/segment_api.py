"""The Segment-compatible routes: `/v1/batch`, `/v1/track`, `/v1/page`, `/v1/screen`,
`/v1/identify`, `/v1/group`, `/v1/alias`, with the write key as the HTTP basic-auth user
(or a bearer token). Bodies may be gzip-compressed, as the SDKs send them. Answers use
Segment's shapes: `{"success": true, ...}`, and `{"code", "message"}` for errors, so the
SDKs retry what can be retried (429, 503 with Retry-After) and report the rest."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import zlib
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from pydantic import BaseModel, Field

from ingest import segment
from ingest.api import check_rate
from ingest.deps import service_of
from ingest.schemas import FieldError, ItemResult
from relint.auth import SCOPE_INGEST_WRITE, KeyVerifier, Principal

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["segment"])

MAX_BODY_BYTES = 512 * 1024

# The SDKs drop what a 200 answer lists as rejected without telling anyone, so each refusal
# is also logged and counted here, where the operator sees it.
REFUSED = Counter(
    "relint_segment_messages_refused_total",
    "Segment messages refused (a batch's `rejected`, a single call's 400), by message type.",
    ["type"],
)


class SegmentError(Exception):
    """An error in Segment's shape: a status, a machine code, a human message."""

    def __init__(
        self, status_code: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code, self.code, self.message, self.headers = (
            status_code,
            code,
            message,
            headers,
        )


async def segment_error_handler(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, SegmentError)
    return JSONResponse(
        {"code": error.code, "message": error.message, "success": False},
        status_code=error.status_code,
        headers=error.headers,
    )


class RejectedMessage(BaseModel):
    index: int
    message_id: str | None = Field(alias="messageId")
    errors: list[FieldError]


class SegmentResult(BaseModel):
    success: bool = True
    accepted: int = Field(description="Interactions stored (track, page, screen)")
    duplicates: int = Field(description="Messages whose messageId was stored before")
    updated: int = Field(description="identify, group and alias messages applied")
    rejected: list[RejectedMessage] = Field(
        description="Messages refused, with the reason; the others were stored"
    )


_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A message of the Segment Spec; see the README for how each type is read.",
    "properties": {
        "type": {
            "type": "string",
            "enum": list(segment.MESSAGE_TYPES),
        },
        "messageId": {"type": "string", "maxLength": 200},
        "userId": {"type": "string"},
        "anonymousId": {"type": "string"},
        "event": {"type": "string"},
        "groupId": {"type": "string"},
        "previousId": {"type": "string"},
        "properties": {"type": "object"},
        "traits": {"type": "object"},
        "context": {"type": "object"},
        "timestamp": {"type": "string", "format": "date-time"},
    },
    "additionalProperties": True,
    "example": {
        "type": "track",
        "messageId": "0b3f1c2e-6a3c-4c8a-9d0e-1f2a3b4c5d6e",
        "userId": "u-42",
        "event": "Order Completed",
        "properties": {"revenue": 120.5, "currency": "EUR"},
        "context": {"groupId": "cust-00042", "traits": {"email": "ana@northwind.example"}},
        "timestamp": "2026-03-04T10:15:00+01:00",
    },
}
_BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["batch"],
    "properties": {
        "batch": {"type": "array", "items": _MESSAGE_SCHEMA, "minItems": 1, "maxItems": 1000},
        "context": {"type": "object", "description": "Merged into every message's context"},
        "writeKey": {"type": "string", "description": "Accepted when no Authorization is sent"},
    },
}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed JSON or request; nothing stored"},
    401: {"description": "Unknown write key"},
    403: {"description": "The key lacks ingest:write"},
    413: {"description": "Body over 512 KB (after decompression)"},
    415: {"description": "Not JSON, or an encoding other than gzip"},
    429: {"description": "Rate limit; see Retry-After"},
}


def _decompressed(raw: bytes, encoding: str) -> bytes:
    if encoding in ("", "identity"):
        return raw
    if encoding != "gzip":
        raise SegmentError(415, "unsupported_encoding", f"Content-Encoding {encoding!r}: use gzip")
    inflater = zlib.decompressobj(wbits=31)
    try:
        body = inflater.decompress(raw, MAX_BODY_BYTES + 1)
    except zlib.error as error:
        raise SegmentError(400, "invalid_gzip", f"the gzip body is corrupt: {error}") from error
    if len(body) > MAX_BODY_BYTES or inflater.unconsumed_tail:
        raise SegmentError(413, "too_large", f"body larger than {MAX_BODY_BYTES} bytes")
    return body


async def _payload(request: Request) -> dict[str, Any]:
    body = _decompressed(await request.body(), request.headers.get("content-encoding", ""))
    try:
        payload = json.loads(body)
    except UnicodeDecodeError as error:
        raise SegmentError(400, "invalid_json", "the body is not UTF-8") from error
    except json.JSONDecodeError as error:
        raise SegmentError(
            400,
            "invalid_json",
            f"malformed JSON at line {error.lineno}, column {error.colno} "
            f"(character {error.pos}): {error.msg}",
        ) from error
    if not isinstance(payload, dict):
        raise SegmentError(400, "invalid_request", "the body must be a JSON object")
    return payload


def _write_key(request: Request, payload: dict[str, Any]) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as error:
            raise SegmentError(401, "unauthorized", "malformed basic credentials") from error
        return decoded.partition(":")[0]
    if scheme.lower() == "bearer":
        return value.strip()
    key = payload.get("writeKey")
    return key if isinstance(key, str) else ""


async def _principal(request: Request, payload: dict[str, Any]) -> Principal:
    key = _write_key(request, payload)
    if not key:
        raise SegmentError(401, "unauthorized", "missing write key: send it as the basic-auth user")
    verifier: KeyVerifier = request.app.state.key_verifier
    principal = await verifier.verify(key)
    if principal is None:
        raise SegmentError(401, "unauthorized", "invalid or revoked write key")
    if not principal.allows(SCOPE_INGEST_WRITE):
        raise SegmentError(403, "forbidden", f"this key lacks the scope {SCOPE_INGEST_WRITE}")
    return principal


async def _store(
    request: Request, principal: Principal, messages: list[Any], shared_context: dict[str, Any]
) -> SegmentResult:
    try:
        await check_rate(request, principal, len(messages))
    except HTTPException as error:
        headers = dict(error.headers or {})
        raise SegmentError(429, "rate_limited", str(error.detail), headers) from error
    read: list[segment.Mapped] = []
    for index, message in enumerate(messages):
        if len(json.dumps(message, separators=(",", ":"), default=str)) > segment.MAX_MESSAGE_BYTES:
            problem = FieldError(path="(message)", message="message larger than 32 KB")
            read.append(segment.Mapped(index, None, errors=[problem]))
            continue
        if shared_context and isinstance(message, dict):
            own = message.get("context")
            context = {**shared_context, **(own if isinstance(own, dict) else {})}
            message = {**message, "context": context}
        read.append(segment.read(index, message))
    interactions = [(m.index, m.interaction) for m in read if m.interaction is not None]
    updates = [m.update for m in read if m.update is not None]
    stored = await service_of(request).record(
        principal.tenant_id, interactions, updates, compare_repeats=True
    )
    by_index = {m.index: m for m in read}
    reused = _reused(stored, messages, by_index)
    rejected = [
        RejectedMessage(index=m.index, messageId=m.message_id, errors=m.errors)
        for m in read
        if m.errors
    ] + [
        RejectedMessage(
            index=r.index,
            messageId=by_index[r.index].message_id,
            errors=r.errors or reused[r.index],
        )
        for r in stored
        if r.status == "rejected" or r.index in reused
    ]
    rejected.sort(key=lambda r: r.index)
    for refusal in rejected:
        _note_refusal(principal, messages[refusal.index], refusal.errors)
    return SegmentResult(
        accepted=sum(r.status == "accepted" for r in stored),
        duplicates=sum(r.status == "duplicate" and r.index not in reused for r in stored),
        updated=len(updates),
        rejected=rejected,
    )


def _reused(
    stored: list[ItemResult], messages: list[Any], by_index: dict[int, segment.Mapped]
) -> dict[int, list[FieldError]]:
    """The repeats that are not retries: a messageId used before for another event. The
    stored interaction stands (it is never changed); the message is refused, saying how it
    differs, as a single POST's would be."""
    reused: dict[int, list[FieldError]] = {}
    for result in stored:
        if result.status != "duplicate" or not result.differs_in:
            continue
        differs = segment.changed(messages[result.index], result.differs_in)
        if differs:
            message_id = by_index[result.index].message_id
            reason = (
                f"messageId {message_id!r} was already used for interaction {result.id}, "
                f"which differs in {', '.join(differs)}; a stored interaction is never "
                "changed: send a change as a new message, under a new messageId"
            )
            reused[result.index] = [FieldError(path="messageId", message=reason)]
    return reused


def _note_refusal(principal: Principal, message: Any, errors: list[FieldError]) -> None:
    """Logs and counts one refused message: who sent it, its type and why; never the key
    or the message itself (a reason names a field, and at most the event or type name)."""
    kind = message.get("type") if isinstance(message, dict) else None
    label = kind if kind in segment.MESSAGE_TYPES else "unknown"
    REFUSED.labels(label).inc()
    reasons = "; ".join(f"{e.path}: {e.message}" for e in errors)
    log.warning(
        "segment message refused: tenant %s, partner %s, type %s: %s",
        principal.tenant_id,
        principal.partner_id,
        label,
        " ".join(reasons.split())[:500],  # one line, however the event was named
    )


@router.post(
    "/batch",
    summary="Segment-compatible batch: up to 1,000 messages of any type",
    response_model_by_alias=True,
    openapi_extra=_body(_BATCH_SCHEMA),
    responses=_ERRORS,
)
async def batch(request: Request) -> SegmentResult:
    payload = await _payload(request)
    principal = await _principal(request, payload)
    messages = payload.get("batch")
    if not isinstance(messages, list) or not messages:
        raise SegmentError(400, "invalid_request", "batch must be a non-empty array of messages")
    if len(messages) > segment.MAX_BATCH_MESSAGES:
        raise SegmentError(400, "invalid_request", "a batch holds at most 1,000 messages")
    context = payload.get("context")
    shared = context if isinstance(context, dict) else {}
    return await _store(request, principal, messages, shared)


async def _single(request: Request, kind: str) -> SegmentResult:
    payload = await _payload(request)
    principal = await _principal(request, payload)
    result = await _store(request, principal, [{**payload, "type": kind}], {})
    if result.rejected:
        reasons = "; ".join(f"{e.path}: {e.message}" for e in result.rejected[0].errors)
        raise SegmentError(400, "invalid_message", reasons)
    return result


def _single_route(kind: str, summary: str) -> None:
    async def route(request: Request) -> SegmentResult:
        return await _single(request, kind)

    route.__name__ = f"segment_{kind}"
    router.add_api_route(
        f"/{kind}",
        route,
        methods=["POST"],
        summary=summary,
        response_model=SegmentResult,
        response_model_by_alias=True,
        status_code=status.HTTP_200_OK,
        openapi_extra=_body(_MESSAGE_SCHEMA),
        responses=_ERRORS,
    )


SINGLE_CALLS = {
    "track": "Segment-compatible track: one interaction",
    "page": "Segment-compatible page: an interaction named 'Page Viewed' unless named",
    "screen": "Segment-compatible screen: an interaction named 'Screen Viewed' unless named",
    "identify": "Segment-compatible identify: a contact and its traits",
    "group": "Segment-compatible group: an account, and the user placed at it",
    "alias": "Segment-compatible alias: a contact's new user id",
}
for _kind, _summary in SINGLE_CALLS.items():
    _single_route(_kind, _summary)
