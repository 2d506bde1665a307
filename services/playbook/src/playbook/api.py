"""Playbook's REST routes: parse, call the service, shape the response."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from playbook.actions import Action
from playbook.alerts import ALERT_KINDS
from playbook.domain import (
    DEFAULT_PLAYBOOK,
    AnswerChannel,
    InvalidPlaybook,
    PlaybookDraft,
    RespondWithin,
    Standard,
    Touchpoint,
    draft_from_dict,
    draft_to_dict,
    sentence,
    standard_to_dict,
)
from playbook.models import ObligationRow, ViolationRow
from playbook.service import (
    DEFAULT_OVERLAP_HOURS,
    MAX_LISTED_VERSIONS,
    MAX_OVERLAP_HOURS,
    InvalidSubscription,
    Playbook,
    PlaybookService,
)
from playbook.settings import PlaybookSettings
from playbook.yaml_io import dump_draft, load_draft
from relint.as_of import AsOf
from relint.auth import SCOPE_ADMIN, SCOPE_GRAPH_READ, SCOPE_GRAPH_WRITE, Principal, require_scope
from relint.pages import page_position
from relint.pages import page_token as page_token_of

# Far above the largest valid draft (500 standards), far below what would hurt.
MAX_DRAFT_BYTES = 1024 * 1024
# Versions are stored as 32-bit integers; a larger one cannot exist (and is no 500).
MAX_VERSION = 2**31 - 1

router = APIRouter(prefix="/v1", tags=["playbook"])
Reader = Annotated[Principal, require_scope(SCOPE_GRAPH_READ)]
Writer = Annotated[Principal, require_scope(SCOPE_GRAPH_WRITE)]
Admin = Annotated[Principal, require_scope(SCOPE_ADMIN)]


class StandardOut(BaseModel):
    key: str
    title: str
    team: str = Field(description="'company' for a universal precept, otherwise the team")
    relationship_types: list[str] = Field(description="Empty: every relationship type")
    stages: list[str] = Field(description="Empty: every stage")
    rule: dict[str, Any] = Field(
        description="The machine-checkable rule: its kind and parameters. A respond_within "
        "rule may name what answers its trigger (`answered_by`: channels, each with an "
        "optional kind); without it, any outbound touch but marketing's, or a resolved ticket "
        "or complaint, answers",
        examples=[
            {
                "kind": "respond_within",
                "trigger": {"channel": "service", "kind": "ticket_opened"},
                "within_hours": 4,
            },
            {
                "kind": "respond_within",
                "trigger": {"channel": "social", "kind": "social_complaint"},
                "within_hours": 8,
                "answered_by": [{"channel": "social"}, {"channel": "sales", "kind": "call"}],
            },
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


# The default playbook, and a standard that names what answers its trigger.
_EXAMPLE = PlaybookDraft(
    "Our playbook",
    (
        *DEFAULT_PLAYBOOK.standards,
        Standard(
            key="answer-social-complaints",
            title="Answer a complaint on social media within 8 hours, there or by phone",
            team="service",
            relationship_types=(),
            stages=(),
            rule=RespondWithin(
                Touchpoint("social", "social_complaint"),
                within_hours=8,
                answered_by=(AnswerChannel("social"), AnswerChannel("sales", "call")),
            ),
        ),
    ),
)

# A publish the same as the newest version makes none.
_UNCHANGED = "The newest version is this playbook already: no new version (201: a new one)"


@router.put(
    "/playbook",
    status_code=status.HTTP_201_CREATED,
    summary="Publish a draft as the caller's next playbook version",
    responses={
        200: {"model": PlaybookOut, "description": _UNCHANGED},
        413: {"description": f"Larger than {MAX_DRAFT_BYTES} bytes"},
        422: {"model": ProblemsOut, "description": "The draft's problems, each with its path"},
    },
)
async def publish_playbook(
    request: Request,
    response: Response,
    principal: Admin,
    document: Annotated[dict[str, Any], Body(examples=[draft_to_dict(_EXAMPLE)])],
) -> PlaybookOut:
    try:
        draft = draft_from_dict(document)
    except InvalidPlaybook as error:
        raise _problems(error) from error
    return await _publish(request, response, principal, draft)


YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


@router.put(
    "/playbook.yaml",
    status_code=status.HTTP_201_CREATED,
    summary="Publish a YAML file as the caller's next playbook version",
    description="The body is the YAML file (Content-Type application/yaml), as `GET "
    "/v1/playbook.yaml` writes it. Every problem is reported with its line and column; a "
    "file with any problem publishes nothing.",
    responses={
        200: {"model": PlaybookOut, "description": _UNCHANGED},
        413: {"description": f"Larger than {MAX_DRAFT_BYTES} bytes"},
        415: {"description": "Not application/yaml"},
        422: {"model": ProblemsOut, "description": "The file's problems, each with its line"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/yaml": {"schema": {"type": "string"}}},
        }
    },
)
async def publish_playbook_yaml(
    request: Request, response: Response, principal: Admin
) -> PlaybookOut:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in YAML_TYPES:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the file as application/yaml"
        )
    types = await _service(request).relationship_types(principal.tenant_id)
    try:
        draft = load_draft(await request.body(), types)
    except InvalidPlaybook as error:
        raise _problems(error) from error
    return await _publish(request, response, principal, draft, types)


@router.get(
    "/playbook.yaml",
    summary="The caller's playbook (active, or `version`) as a YAML file to edit",
    response_class=Response,
    responses={
        200: {"content": {"application/yaml": {}}},
        404: {"description": "The caller's tenant has no such version"},
    },
)
async def export_playbook_yaml(
    request: Request,
    principal: Reader,
    version: Annotated[int | None, Query(ge=0, le=MAX_VERSION)] = None,
) -> Response:
    service = _service(request)
    if version is None:
        [playbook] = await service.active_playbooks([principal.tenant_id])
    else:
        found = await service.version(principal.tenant_id, version)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no playbook version {version}")
        playbook = found
    text = dump_draft(PlaybookDraft(playbook.name, playbook.standards))
    return Response(
        text,
        media_type="application/yaml",
        headers={"Content-Disposition": f'inline; filename="playbook-v{playbook.version}.yaml"'},
    )


async def _publish(
    request: Request,
    response: Response,
    principal: Principal,
    draft: PlaybookDraft,
    relationship_types: Sequence[str] | None = None,
) -> PlaybookOut:
    try:
        published = await _service(request).publish(principal.tenant_id, draft, relationship_types)
    except InvalidPlaybook as error:
        raise _problems(error) from error
    if not published.created:  # the newest version is this playbook already
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/v1/playbook/versions/{published.playbook.version}"
    return _playbook_out(published.playbook)


def _problems(error: InvalidPlaybook) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [{"path": p.path, "reason": p.reason} for p in error.problems],
    )


@router.get(
    "/playbook/versions",
    summary="The newest versions of the caller's playbook, oldest first (the default, 0, "
    "while it is among them); older ones by number under /playbook/versions/{version}",
)
async def playbook_versions(
    request: Request,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=MAX_LISTED_VERSIONS)] = MAX_LISTED_VERSIONS,
) -> VersionsOut:
    playbooks = await _service(request).versions(principal.tenant_id, newest=limit)
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
    version: Annotated[int, Path(ge=0, le=MAX_VERSION)], request: Request, principal: Reader
) -> PlaybookOut:
    playbook = await _service(request).version(principal.tenant_id, version)
    if playbook is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no playbook version {version}")
    return _playbook_out(playbook)


# Obligations, violations, next best actions, worklists

MAX_PAGE = 500
CustomerId = Annotated[str, Path(min_length=1, max_length=36)]


class ObligationOut(BaseModel):
    customer_id: str
    standard_key: str
    standard_title: str
    team: str
    due_at: datetime = Field(description="When it is missed; a violation one second later")
    opened_at: datetime
    what: str = Field(examples=["First response to service ticket opened #123"])
    trigger_id: str = Field(description="The interaction that made it due; empty for a cadence")
    trigger_reference: str = Field(description="The source's id of that interaction")
    employee: str
    playbook_version: int


class ViolationOut(BaseModel):
    id: str
    customer_id: str
    standard_key: str
    standard_title: str
    team: str
    due_at: datetime = Field(description="When the standard was due")
    detected_at: datetime = Field(description="When the playbook found it missed")
    interaction_ids: list[str] = Field(description="The interactions involved")
    employee: str
    reason: str
    playbook_version: int
    withdrawn_at: datetime | None = Field(
        description="Set when late-delivered interactions showed the standard kept"
    )
    withdrawn_reason: str


class ActionOut(BaseModel):
    customer_id: str
    kind: str = Field(description="obligation, amends, save, repair or grow")
    title: str = Field(examples=["First response to service ticket opened #123"])
    reason: str = Field(examples=["due in 2 h, BFF standard: First response within 4 hours"])
    urgency: float = Field(description="0 to 1; actions are ordered by it")
    due_at: datetime | None
    standard_key: str
    employee: str


class ObligationsOut(BaseModel):
    obligations: list[ObligationOut]


class ViolationsOut(BaseModel):
    violations: list[ViolationOut]
    next_page_token: str | None = Field(
        default=None,
        description="Where the next page starts (pass it as page_token); absent on the last.",
    )


class ActionsOut(BaseModel):
    actions: list[ActionOut]


class PickOut(BaseModel):
    standard_key: str
    period_start: datetime = Field(description="When the period it was picked for began")
    customer_id: str
    potential: float | None = Field(description="Scoring's profit-improvement potential")
    value: float = Field(description="Its Relationship Value when picked")
    reason: str = Field(description="Why it looks like the best customers, in scoring's words")


class PicksOut(BaseModel):
    picks: list[PickOut]


class AlertOut(BaseModel):
    id: str
    customer_id: str
    kind: str = Field(description=", ".join(ALERT_KINDS))
    severity: str
    reason: str
    occurred_at: datetime
    source: str = Field(description="playbook, or scoring (relayed from its alert feed)")
    acknowledged_at: datetime | None = Field(
        description="When it was acknowledged here (the playbook's own alerts; scoring's "
        "are acknowledged in scoring)"
    )
    acknowledged_by: str | None


class AlertsOut(BaseModel):
    alerts: list[AlertOut]


def _obligation_out(row: ObligationRow) -> ObligationOut:
    return ObligationOut.model_validate(row, from_attributes=True)


def _violation_out(row: ViolationRow) -> ViolationOut:
    return ViolationOut.model_validate(row, from_attributes=True)


def _action_out(action: Action) -> ActionOut:
    return ActionOut.model_validate(action, from_attributes=True)


Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
PageToken = Annotated[
    str | None, Query(max_length=200, description="A next_page_token, for the page after it")
]


@router.get("/customers/{customer_id}/obligations", summary="What is owed to a customer, by when")
async def customer_obligations(
    customer_id: CustomerId, request: Request, principal: Reader, limit: Limit = 100
) -> ObligationsOut:
    rows = await _service(request).obligations(
        principal.tenant_id, customer_ids=[customer_id], limit=limit
    )
    return ObligationsOut(obligations=[_obligation_out(r) for r in rows])


@router.get("/customers/{customer_id}/violations", summary="The standards a customer saw missed")
async def customer_violations(
    customer_id: CustomerId,
    request: Request,
    principal: Reader,
    include_withdrawn: bool = False,
    limit: Limit = 100,
    page_token: PageToken = None,
) -> ViolationsOut:
    return await _violations_page(
        request,
        principal,
        limit,
        page_token,
        customer_ids=[customer_id],
        include_withdrawn=include_withdrawn,
    )


async def _violations_page(
    request: Request, principal: Principal, limit: int, page_token: str | None, **filters: Any
) -> ViolationsOut:
    """A page of the tenant's violations, newest due first, with where the next starts."""
    after = page_position(page_token) if page_token else None
    if page_token and after is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "page_token is malformed: pass next_page_token as it was given",
        )
    rows = await _service(request).violations(
        principal.tenant_id, limit=limit, after=after, **filters
    )
    last = rows[-1] if len(rows) == limit else None
    return ViolationsOut(
        violations=[_violation_out(r) for r in rows],
        next_page_token=page_token_of(last.due_at, last.id) if last is not None else None,
    )


@router.get(
    "/customers/{customer_id}/next-best-actions",
    summary="What to do for a customer now, most urgent first, with reasons",
)
async def next_best_actions(
    customer_id: CustomerId,
    request: Request,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> ActionsOut:
    found = await _service(request).next_best_actions(principal.tenant_id, [customer_id], limit)
    return ActionsOut(actions=[_action_out(a) for a in found[customer_id]])


@router.get(
    "/violations",
    summary="The tenant's violations, newest due first, a page at a time",
)
async def violations(
    request: Request,
    principal: Reader,
    team: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    include_withdrawn: bool = False,
    limit: Limit = 100,
    page_token: PageToken = None,
) -> ViolationsOut:
    if since is not None and since.tzinfo is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "since needs a time zone")
    return await _violations_page(
        request,
        principal,
        limit,
        page_token,
        team=team,
        since=since,
        include_withdrawn=include_withdrawn,
    )


@router.get(
    "/programs/picks",
    summary="Whom the programs picked, and why, the newest period first",
    description="Each period a program standard (rule kind `program`) picks the customers in "
    "its scope most like the best; each is owed the program's touch within the period.",
)
async def program_picks(
    request: Request,
    principal: Reader,
    standard_key: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Limit = 100,
) -> PicksOut:
    rows = await _service(request).program_picks(principal.tenant_id, standard_key, limit)
    return PicksOut(picks=[PickOut.model_validate(r, from_attributes=True) for r in rows])


@router.get(
    "/alerts",
    summary="The alerts published to the tenant's webhooks, newest first; now or as of a past "
    "moment",
    description="The playbook's own (violation, deadline_approaching, violation_withdrawn) and "
    "scoring's it relays "
    "(at_risk, stage_change, out_of_pattern); filter by `kind` (repeatable) and `customer_id`. "
    "`open_only` leaves out what was acknowledged here (only the playbook's own alerts are "
    "acknowledged here; scoring's, in scoring). As of a moment (`as_of`): the alerts raised "
    "by then, each as it stood then (one acknowledged later was open, and `open_only` keeps "
    "it).",
)
async def published_alerts(
    request: Request,
    principal: Reader,
    kind: Annotated[list[str] | None, Query(max_length=len(ALERT_KINDS))] = None,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=36)] = None,
    open_only: bool = False,
    limit: Limit = 100,
    as_of: AsOf = None,
) -> AlertsOut:
    try:
        rows = await _service(request).alerts(
            principal.tenant_id,
            kinds=kind or (),
            customer_ids=[customer_id] if customer_id is not None else None,
            open_only=open_only,
            limit=limit,
            as_of=as_of,
        )
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from error
    return AlertsOut(alerts=[AlertOut.model_validate(r, from_attributes=True) for r in rows])


@router.post(
    "/alerts/{alert_id}:acknowledge",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Acknowledge one of the playbook's alerts (a violation, a deadline approaching)",
    responses={
        404: {
            "description": "No open playbook alert with this id in the tenant (scoring's "
            "alerts are acknowledged in scoring)"
        }
    },
)
async def acknowledge_alert(
    request: Request, principal: Writer, alert_id: Annotated[str, Path(max_length=36)]
) -> None:
    if not await _service(request).acknowledge(principal.tenant_id, alert_id, principal.partner_id):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no open playbook alert {alert_id} (scoring's alerts are acknowledged in scoring)",
        )


@router.get(
    "/worklist",
    summary="A team's or an employee's open obligations across customers",
    description="Ordered by urgency, then by the customer's Relationship Value. Give `team` "
    "(sales, service, ... or company), `employee`, both, or neither for the whole tenant.",
)
async def worklist(
    request: Request,
    principal: Reader,
    team: Annotated[str | None, Query(max_length=64)] = None,
    employee: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 100,
) -> ActionsOut:
    found = await _service(request).worklist(
        principal.tenant_id, team=team, employee=employee, limit=limit
    )
    return ActionsOut(actions=[_action_out(a) for a in found])


# Webhooks: alerts out


class SubscriptionIn(BaseModel):
    url: str = Field(max_length=2000, examples=["https://crm.example.com/hooks/relint"])
    kinds: list[str] = Field(
        max_length=len(ALERT_KINDS),
        description=f"Alert kinds to receive: {', '.join(ALERT_KINDS)}",
        examples=[["violation", "at_risk"]],
    )
    description: str = Field(default="", max_length=200)


class SubscriptionOut(BaseModel):
    id: str
    url: str
    kinds: list[str]
    description: str
    created_at: datetime


class NewSubscriptionOut(SubscriptionOut):
    secret: str = Field(
        description="Signs every delivery (header Relint-Signature: t=<unix>,v1=<hex "
        "HMAC-SHA256 of '<t>.<body>'>). Shown this once; store it."
    )


class RotateSecretIn(BaseModel):
    overlap_hours: int = Field(
        default=DEFAULT_OVERLAP_HOURS,
        ge=0,
        le=MAX_OVERLAP_HOURS,
        strict=True,
        description="How long the old secret keeps signing beside the new one (0: not at all)",
    )


class RotatedSecretOut(BaseModel):
    id: str
    secret: str = Field(
        description="The new signing secret. Shown this once; store it. During the overlap "
        "each delivery carries two v1= signatures, one per secret; verify accepts either."
    )
    previous_secret_until: datetime | None = Field(
        description="When the old secret stops signing; null if it stopped at once"
    )


class SubscriptionsOut(BaseModel):
    subscriptions: list[SubscriptionOut]


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    kind: str
    status: str = Field(description="pending, delivered or failed (gave up)")
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str
    created_at: datetime
    delivered_at: datetime | None
    body: str = Field(description="The JSON sent")


class DeliveriesOut(BaseModel):
    deliveries: list[DeliveryOut]


@router.post(
    "/webhooks",
    status_code=status.HTTP_201_CREATED,
    summary="Subscribe a URL to alert kinds; the answer holds the signing secret, once",
    responses={422: {"description": "Every problem of the subscription"}},
)
async def subscribe(body: SubscriptionIn, request: Request, principal: Admin) -> NewSubscriptionOut:
    settings: PlaybookSettings = request.app.state.settings
    try:
        row, secret = await _service(request).subscribe(
            principal.tenant_id,
            body.url,
            body.kinds,
            body.description,
            allow_private=settings.webhooks_allow_private,
        )
    except InvalidSubscription as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, error.problems) from error
    return NewSubscriptionOut(
        **SubscriptionOut.model_validate(row, from_attributes=True).model_dump(), secret=secret
    )


@router.get("/webhooks", summary="The tenant's webhook subscriptions (secrets are not shown)")
async def subscriptions(request: Request, principal: Admin) -> SubscriptionsOut:
    rows = await _service(request).subscriptions(principal.tenant_id)
    return SubscriptionsOut(
        subscriptions=[SubscriptionOut.model_validate(r, from_attributes=True) for r in rows]
    )


@router.delete(
    "/webhooks/{subscription_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Unsubscribe; pending deliveries are not sent",
    responses={404: {"description": "No such subscription of the caller's tenant"}},
)
async def unsubscribe(
    subscription_id: Annotated[str, Path(max_length=36)], request: Request, principal: Admin
) -> Response:
    if not await _service(request).unsubscribe(principal.tenant_id, subscription_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such subscription")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/webhooks/{subscription_id}:rotate-secret",
    summary="A new signing secret, shown once; the old one keeps signing for the overlap",
    responses={
        404: {"description": "No such subscription of the caller's tenant"},
        422: {"description": "overlap_hours outside 0..168"},
    },
)
async def rotate_secret(
    subscription_id: Annotated[str, Path(max_length=36)],
    request: Request,
    principal: Admin,
    body: Annotated[RotateSecretIn | None, Body()] = None,
) -> RotatedSecretOut:
    overlap = (body or RotateSecretIn()).overlap_hours
    try:
        rotated = await _service(request).rotate_secret(
            principal.tenant_id, subscription_id, overlap
        )
    except InvalidSubscription as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, error.problems) from error
    if rotated is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such subscription")
    row, secret = rotated
    return RotatedSecretOut(
        id=row.id, secret=secret, previous_secret_until=row.previous_secret_until
    )


@router.get(
    "/webhooks/{subscription_id}/deliveries",
    summary="The delivery log of a subscription, newest first",
)
async def deliveries(
    subscription_id: Annotated[str, Path(max_length=36)],
    request: Request,
    principal: Admin,
    delivery_status: Annotated[
        str | None, Query(alias="status", pattern="^(pending|delivered|failed)$")
    ] = None,
    limit: Limit = 100,
) -> DeliveriesOut:
    rows = await _service(request).deliveries(
        principal.tenant_id, subscription_id, delivery_status, limit
    )
    return DeliveriesOut(
        deliveries=[DeliveryOut.model_validate(r, from_attributes=True) for r in rows]
    )


@router.post(
    "/webhooks/deliveries/{delivery_id}:replay",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a delivery again, from its first attempt",
    responses={404: {"description": "No such delivery of the caller's tenant"}},
)
async def replay(
    delivery_id: Annotated[str, Path(max_length=36)], request: Request, principal: Admin
) -> dict[str, str]:
    if not await _service(request).replay(principal.tenant_id, delivery_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such delivery")
    return {"status": "pending"}
