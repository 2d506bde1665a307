"""The Segment Spec, read as interactions, contacts and accounts.

Partners already instrumented with Segment or RudderStack point their SDK at ingest and
change nothing else. Each message of `/v1/batch` (or of the single-call routes) becomes:

- `track` (and `page`, `screen`): an interaction. The event name is the kind: Segment's own
  spec events have built-in meanings (`Order Completed` is a sales purchase with its
  revenue), any other name goes through the tenant's kind mappings on the channel given in
  `properties.channel` (default `marketing`), so `Newsletter Signup` can mean
  `campaign_response`. The customer is the account in `context.groupId` (or
  `properties.account_id`), else the contact's account; the contact is `userId` (or
  `anonymousId`) with `context.traits.email`. `messageId` is the source id.
- `identify`: the contact, with its traits; `traits.company.id` places it at that account.
- `group`: the account `groupId` with its name and website's domain; the user is placed there.
- `alias`: the contact known as `previousId` is from now on known as `userId`.

Pure functions only: the routes parse, these map, the service writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import ValidationError

from ingest.identity import ContactUpdate, Names, names_of
from ingest.schemas import FieldError, InteractionIn
from relint.taxonomy import CHANNELS
from relint.values import json_problem

SOURCE = "segment"
MESSAGE_TYPES = ("track", "page", "screen", "identify", "group", "alias")
MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_MESSAGES = 1000


@dataclass(frozen=True)
class SpecEvent:
    channel: str
    kind: str
    amount_type: Literal["revenue", "refund"] | None = None
    direction: Literal["inbound", "outbound"] = "inbound"


# Segment's semantic events (segment.com/docs/connections/spec) that mean an interaction.
SPEC_EVENTS: dict[str, SpecEvent] = {
    "Order Completed": SpecEvent("sales", "purchase", "revenue"),
    "Order Refunded": SpecEvent("finance", "refund", "refund"),
    "Order Cancelled": SpecEvent("sales", "cancellation"),
    "Product Reviewed": SpecEvent("social", "review"),
    "Email Opened": SpecEvent("marketing", "email_opened"),
    "Email Link Clicked": SpecEvent("marketing", "email_clicked"),
    "Email Delivered": SpecEvent("marketing", "email_sent", direction="outbound"),
    "Unsubscribed": SpecEvent("marketing", "unsubscribe"),
    "Trial Started": SpecEvent("sales", "demo"),
    "Subscription Started": SpecEvent("sales", "contract_signed"),
    "Subscription Renewed": SpecEvent("sales", "renewal", "revenue"),
    "Subscription Cancelled": SpecEvent("sales", "cancellation"),
    "Invoice Paid": SpecEvent("finance", "invoice_paid", "revenue"),
    "Payment Failed": SpecEvent("finance", "payment_failed"),
}
# Segment's spec gives revenue in US dollars unless `currency` says otherwise.
DEFAULT_CURRENCY = "USD"


@dataclass(frozen=True)
class Mapped:
    """One message, read: an interaction, a contact update, or the reasons it was refused."""

    index: int
    message_id: str | None
    interaction: InteractionIn | None = None
    update: ContactUpdate | None = None
    errors: list[FieldError] = field(default_factory=list)


def _text(value: Any, limit: int = 200) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip()
    return text[:limit] if text else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# The event's own time; without it, the time the message was sent (`sentAt`), else now.
_OWN_TIME = ("timestamp", "originalTimestamp")


def _timestamp(message: dict[str, Any]) -> str:
    for key in (*_OWN_TIME, "sentAt"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return datetime.now(UTC).isoformat()


def changed(message: Any, differs_in: list[str]) -> list[str]:
    """Of the fields in which a repeated `message` differs from the interaction stored under
    its messageId, those its sender changed: a message without a time of its own took the
    time it was sent or arrived, which every retry changes."""
    own_time = isinstance(message, dict) and any(
        isinstance(message.get(key), str) and message.get(key) for key in _OWN_TIME
    )
    return [f for f in differs_in if own_time or f != "occurred_at"]


def _domain(traits: dict[str, Any]) -> str | None:
    for key in ("domain", "website"):
        value = _text(traits.get(key), 253)
        if value:
            host = urlsplit(value if "//" in value else f"//{value}").hostname
            if host and "." in host:
                return host
    return None


def _money(properties: dict[str, Any], keys: tuple[str, ...]) -> Decimal | None:
    for key in keys:
        value = properties.get(key)
        if isinstance(value, bool) or value is None:
            continue
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            continue
        return abs(amount).quantize(Decimal("0.000001"))
    return None


def _contact(message: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """The person's user id (or anonymous id), email and name from a message; a group's
    traits describe the account, so only identify's count for the person."""
    traits = _dict(_dict(message.get("context")).get("traits"))
    if message.get("type") == "identify":
        traits = {**traits, **_dict(message.get("traits"))}
    user = _text(message.get("userId")) or _text(message.get("anonymousId"))
    email = _text(traits.get("email"), 254)
    name = _text(traits.get("name"), 300)
    if not name:
        parts = [_text(traits.get(k), 150) for k in ("firstName", "lastName")]
        name = " ".join(p for p in parts if p) or None
    return user, (email.lower() if email and "@" in email else None), name


def read(index: int, message: Any) -> Mapped:
    """Maps one message of any type; never raises."""
    if not isinstance(message, dict):
        return _refused(index, None, "(message)", "must be a JSON object")
    message_id = _text(message.get("messageId"))
    if (problem := json_problem(message)) is not None:  # no part of it could be stored
        return _refused(index, message_id, *problem)
    kind = message.get("type")
    if kind in ("track", "page", "screen"):
        return _track(index, message_id, message)
    if kind in ("identify", "group", "alias"):
        return _update(index, message_id, message)
    return _refused(
        index,
        message_id,
        "type",
        f"unknown message type {kind!r}: expected track, page, screen, identify, group or alias",
    )


def _refused(index: int, message_id: str | None, path: str, reason: str) -> Mapped:
    return Mapped(index, message_id, errors=[FieldError(path=path, message=reason)])


def _track(index: int, message_id: str | None, message: dict[str, Any]) -> Mapped:
    properties = _dict(message.get("properties"))
    context = _dict(message.get("context"))
    event = _text(message.get("event"), 1000)
    if message.get("type") != "track":
        title = "Page Viewed" if message["type"] == "page" else "Screen Viewed"
        event = event or title
    if not event:
        return _refused(index, message_id, "event", "a track call needs an event name")
    spec = SPEC_EVENTS.get(event)
    channel = _text(properties.get("channel"), 32)
    if channel not in CHANNELS:
        channel = spec.channel if spec else "marketing"
    user, email, name = _contact(message)
    account = _text(context.get("groupId")) or _text(properties.get("account_id"))
    customer: dict[str, Any] = {"external_id": account} if account else {}
    if not customer and email:
        customer = {"email": email}
    contact = {"external_id": user, "email": email, "name": name}
    item: dict[str, Any] = {
        "customer": customer or None,
        "contact": {k: v for k, v in contact.items() if v} or None,
        "occurred_at": _timestamp(message),
        "channel": spec.channel if spec and channel == spec.channel else channel,
        "kind": spec.kind if spec and channel == spec.channel else event,
        "direction": properties.get("direction")
        if properties.get("direction") in ("inbound", "outbound")
        else (spec.direction if spec else "inbound"),
        "source": SOURCE,
        "source_id": message_id,
        "attributes": {
            "segment_type": message.get("type"),
            "event": event,
            "properties": properties,
        },
    }
    for key in ("sentiment", "employee", "text"):
        if properties.get(key) is not None:
            item[key] = properties[key]
    if spec and spec.amount_type:
        amount = _money(properties, ("revenue", "total", "value", "amount", "price"))
        if amount is not None:
            item["amount"] = str(amount)
            item["amount_type"] = spec.amount_type
            item["currency"] = (_text(properties.get("currency"), 3) or DEFAULT_CURRENCY).upper()
    try:
        return Mapped(index, message_id, interaction=InteractionIn.model_validate(item))
    except ValidationError as error:
        return Mapped(index, message_id, errors=_errors(error))


def _errors(error: ValidationError) -> list[FieldError]:
    """Field paths in the message's own terms where they differ from ours."""
    renamed = {"customer": "context.groupId", "contact": "userId", "source_id": "messageId"}
    found = []
    for detail in error.errors(include_url=False):
        parts = [str(p) for p in detail["loc"]]
        head = renamed.get(parts[0], f"properties.{parts[0]}") if parts else "(message)"
        if parts and parts[0] in ("kind", "channel"):
            head = "event"
        if parts and parts[0] == "occurred_at":
            head = "timestamp"
        found.append(FieldError(path=".".join([head, *parts[1:]]), message=detail["msg"]))
    return found


def _update(index: int, message_id: str | None, message: dict[str, Any]) -> Mapped:
    kind = message["type"]
    user, email, name = _contact(message)
    if kind == "alias":
        previous, new = _text(message.get("previousId")), _text(message.get("userId"))
        if not previous or not new:
            return _refused(index, message_id, "previousId", "alias needs previousId and userId")
        return Mapped(
            index,
            message_id,
            update=ContactUpdate(names_of(contact_external_id=new), previous_id=previous),
        )
    if not user and not email:
        return _refused(index, message_id, "userId", "needs a userId, anonymousId or email")
    traits = _dict(message.get("traits"))
    if kind == "identify":  # RudderStack sends identify's traits in context.traits
        traits = {**_dict(_dict(message.get("context")).get("traits")), **traits}
    contact = names_of(contact_external_id=user, contact_email=email, contact_name=name)
    account: Names | None = None
    if kind == "group":
        group = _text(message.get("groupId"))
        if not group:
            return _refused(index, message_id, "groupId", "a group call needs a groupId")
        account = names_of(
            external_id=group, name=_text(traits.get("name"), 300), domain=_domain(traits)
        )
        return Mapped(index, message_id, update=ContactUpdate(contact, account))
    company = _dict(traits.get("company"))
    company_id = _text(company.get("id")) or _text(_dict(message.get("context")).get("groupId"))
    if company_id:
        account = names_of(external_id=company_id, name=_text(company.get("name"), 300))
    return Mapped(index, message_id, update=ContactUpdate(contact, account, traits=traits))
