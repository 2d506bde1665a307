"""The shapes of ingest's REST API: what partners send and what they get back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ingest.domain import money_error
from relint.values import EARLIEST_MOMENT, json_problem, text_problem

MAX_AHEAD = timedelta(days=1)

Channel = Literal[
    "marketing", "sales", "service", "social", "community", "finance", "operations", "email"
]

EXAMPLE_INTERACTION: dict[str, Any] = {
    "customer": {"external_id": "cust-00042", "name": "Northwind Traders"},
    "contact": {"email": "ana@northwind.example", "name": "Ana Lima"},
    "occurred_at": "2026-03-04T10:15:00+01:00",
    "channel": "service",
    "kind": "ticket_opened",
    "direction": "inbound",
    "sentiment": -0.6,
    "amount": "35.00",
    "amount_type": "cost_to_serve",
    "currency": "EUR",
    "employee": "emp-007",
    "text": "The export keeps failing since the update.",
    "source": "helpdesk",
    "source_id": "helpdesk-000123",
    "attributes": {"ticket_id": "T-123", "issue_type": "bug"},
}


def _storable(text: str) -> str:
    if (problem := text_problem(text)) is not None:
        raise ValueError(problem)
    return text


# Every free text a request carries goes through this: a NUL would be a 500 from PostgreSQL.
Storable = AfterValidator(_storable)

EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
Email = Annotated[str, Field(max_length=254, pattern=EMAIL_PATTERN), Storable]
Domain = Annotated[
    str, Field(max_length=253, pattern=r"^@?[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+\.?$")
]
SchemeName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]


class CustomerRef(BaseModel):
    """Names the customer (account) the interaction belongs to, by any identifier the sender
    knows; at least one. Resolution rules: README, "Identity resolution"."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"external_id": "cust-00042", "name": "Northwind Traders"},
                {"ids": {"hubspot": "8812734"}, "email": "ana@northwind.example"},
                {"domain": "northwind.example"},
            ]
        },
    )

    id: Annotated[str, Field(min_length=1, max_length=36), Storable] | None = Field(
        default=None, description="Relint's own id for the customer; must exist."
    )
    external_id: Annotated[str, Field(min_length=1, max_length=200), Storable] | None = Field(
        default=None,
        description="The tenant's own id for the account; the account is created on first "
        "sight (or a provisional account known by the other identifiers takes it).",
    )
    ids: dict[SchemeName, Annotated[str, Field(min_length=1, max_length=200), Storable]] = Field(
        default_factory=dict,
        max_length=10,
        description="Source systems' ids for the account, by source name, e.g. "
        '{"hubspot": "8812734"}; linked to the account once known.',
    )
    email: Email | None = Field(
        default=None, description="The address of a contact at the customer."
    )
    domain: Domain | None = Field(
        default=None, description="An email domain the account owns, e.g. northwind.example."
    )
    name: Annotated[str, Field(max_length=300), Storable] | None = Field(
        default=None, description="Display name; the latest non-empty one wins."
    )

    @model_validator(mode="after")
    def _names_someone(self) -> CustomerRef:
        if not (self.id or self.external_id or self.ids or self.email or self.domain):
            raise ValueError("name the customer by id, external_id, ids, email or domain")
        return self


class ContactRef(BaseModel):
    """The person at the customer the interaction was with; created on first sight."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    external_id: Annotated[str, Field(min_length=1, max_length=200), Storable] | None = Field(
        default=None, description="The tenant's own id for the person (e.g. a user id)."
    )
    name: Annotated[str, Field(max_length=300), Storable] | None = None

    @model_validator(mode="after")
    def _names_someone(self) -> ContactRef:
        if not (self.email or self.external_id):
            raise ValueError("name the contact by email or external_id")
        return self


class InteractionIn(BaseModel):
    """One touch between the company and a customer, from any function."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_INTERACTION]})

    # The contact comes first so that the customer's check can see it.
    contact: ContactRef | None = None
    customer: CustomerRef | None = Field(
        description="The account; may be null when `contact` is given, and the contact's "
        "account (or a new provisional one) is meant."
    )
    occurred_at: AwareDatetime = Field(description="When it happened, with its time zone.")
    channel: Channel
    kind: Annotated[str, Field(min_length=1, max_length=64), Storable] = Field(
        description="A canonical kind of the channel (see the README's taxonomy), or the "
        "tenant's own name for one, mapped with PUT /v1/admin/kind-mappings."
    )
    direction: Literal["inbound", "outbound"]
    sentiment: Annotated[float, Field(ge=-1, le=1)] | None = None
    amount: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=6)] | None = None
    amount_type: Literal["revenue", "cost_to_serve", "refund"] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    employee: Annotated[str, Field(min_length=1, max_length=200), Storable] | None = None
    text: Annotated[str, Field(max_length=10_000), Storable] | None = None
    source: Annotated[str, Field(min_length=1, max_length=100), Storable] = "api"
    source_id: Annotated[str, Field(min_length=1, max_length=200), Storable] | None = Field(
        default=None,
        description="The source system's own id; the same (source, source_id) is stored once.",
    )
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=50)

    @field_validator("occurred_at")
    @classmethod
    def _plausible_time(cls, value: datetime) -> datetime:
        if value < EARLIEST_MOMENT:
            raise ValueError("must not be before 1970-01-01T00:00:00Z")
        if value > datetime.now(UTC) + MAX_AHEAD:
            raise ValueError("must not be more than a day in the future")
        return value

    @field_validator("attributes")
    @classmethod
    def _storable_attributes(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value and (problem := json_problem(value)) is not None:
            raise ValueError("{}: {}".format(*problem))
        return value

    @model_validator(mode="before")
    @classmethod
    def _customer_from_contact(cls, data: Any) -> Any:
        if isinstance(data, dict) and "customer" not in data and data.get("contact"):
            return {**data, "customer": None}
        return data

    @field_validator("customer")
    @classmethod
    def _someone_is_named(cls, value: CustomerRef | None, info: ValidationInfo) -> Any:
        if value is None and info.data.get("contact") is None:
            raise ValueError("name the customer, or at least the contact")
        return value

    @model_validator(mode="after")
    def _check_money(self) -> InteractionIn:
        problem = money_error(self.amount, self.amount_type, self.currency)
        if problem:
            raise ValueError(problem)
        return self


class InteractionBatchIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "interactions": [
                        EXAMPLE_INTERACTION,
                        {**EXAMPLE_INTERACTION, "source_id": "helpdesk-000124", "kind": "nope"},
                    ]
                }
            ]
        },
    )

    interactions: list[Any] = Field(
        min_length=1,
        max_length=1000,
        description="Up to 1,000 interactions (512 KB); each is judged on its own.",
        json_schema_extra={"items": {"$ref": "#/components/schemas/InteractionIn"}},
    )


class FieldError(BaseModel):
    path: str = Field(description="Where in the request, e.g. interactions[3].occurred_at")
    message: str


def field_errors(error: ValidationError, prefix: str = "") -> list[FieldError]:
    """Pydantic's complaints as field errors, with paths like interactions[3].occurred_at."""
    found = []
    for detail in error.errors(include_url=False):
        path = prefix
        for part in detail["loc"]:
            path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
        found.append(FieldError(path=path or "(item)", message=detail["msg"]))
    return found


EXAMPLE_RESULTS: list[JsonValue] = [
    {
        "index": 0,
        "status": "accepted",
        "id": "0b6f6a5e-8f0e-4c59-9a6d-3f1f2b7c9d10",
        "customer_id": "5d3c1b2a-7e4f-4a8b-9c0d-1e2f3a4b5c6d",
        "errors": [],
    },
    {
        "index": 1,
        "status": "rejected",
        "id": None,
        "customer_id": None,
        "errors": [
            {
                "path": "interactions[1].kind",
                "message": "'nope' is not a kind of channel 'service'; allowed: …",
            }
        ],
    },
]


class ItemResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": EXAMPLE_RESULTS})

    index: int
    status: Literal["accepted", "duplicate", "rejected"]
    id: str | None = Field(
        default=None, description="The interaction's id (the original one for a duplicate)."
    )
    customer_id: str | None = Field(
        default=None,
        description="The customer the interaction (or, for a duplicate, the original) was "
        "recorded for, whichever identifier named it (after any merge the batch made).",
    )
    differs_in: list[str] | None = Field(
        default=None,
        description="For a duplicate that is not a plain repeat: the fields in which it "
        "differs from the original (occurred_at, channel, kind, ..., attributes). The "
        "original is kept unchanged; send a change as a new interaction with its own "
        "source_id.",
    )
    errors: list[FieldError] = Field(default_factory=list)


class BatchResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "accepted": 1,
                    "duplicates": 0,
                    "rejected": 1,
                    "results": EXAMPLE_RESULTS,
                }
            ]
        }
    )

    accepted: int
    duplicates: int
    rejected: int
    results: list[ItemResult]
