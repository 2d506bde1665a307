"""Email import: `.eml` files and `mbox` archives read as email interactions.

Each message becomes one interaction on the email channel: inbound (`email_received`) when
its sender is not at one of the tenant's own mail domains, outbound (`email_sent`) when it
is. The customer is named by the primary external participant — the sender of an inbound
message, the first external recipient (To, then Cc) of an outbound one — by address, so
identity resolution finds the contact, or the account by the address's domain. Every
participant is kept in `attributes.participants`, and each external one becomes a contact.
The subject and a snippet of the body (quoted replies and signatures removed) are kept;
threads are kept through `attributes.thread_id`, the first Message-ID of References (else
In-Reply-To, else the message's own). The Message-ID is the source id, so importing the
same mailbox twice stores nothing twice (a message without one gets a hash of its bytes).

A date without a zone is read as UTC. Nothing here raises on a bad message: it becomes an
`EmailProblem` with the reason, and the rest of the mailbox goes on.
"""

from __future__ import annotations

import csv
import email
import email.policy
import hashlib
import mailbox
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ingest.identity import (
    ContactUpdate,
    is_account_domain,
    is_own_domain,
    names_of,
    normalise_domain,
)
from ingest.schemas import InteractionIn
from ingest.service import IngestService

SOURCE = "email"
SNIPPET_CHARS = 500
_MBOX_SUFFIXES = (".mbox", ".mbx")
_WROTE = re.compile(r"^On .+ wrote:\s*$")


@dataclass(frozen=True)
class Participant:
    email: str
    name: str
    own: bool
    role: str  # from, to, cc


@dataclass(frozen=True)
class EmailInteraction:
    where: str
    interaction: dict[str, Any]
    participants: list[Participant]


@dataclass(frozen=True)
class EmailProblem:
    where: str
    reason: str


def _is_mbox(path: Path) -> bool:
    if path.suffix.lower() in _MBOX_SUFFIXES or path.name.lower() == "mbox":
        return True
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def read_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """(where, raw bytes) of every message in a .eml file, an mbox, or a directory of both."""
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            if child.suffix.lower() == ".eml" or _is_mbox(child):
                yield from read_messages(child)
        return
    if _is_mbox(path):
        box = mailbox.mbox(path, create=False)
        try:
            for number, key in enumerate(box.iterkeys(), start=1):
                yield f"{path}#{number}", box.get_bytes(key)
        finally:
            box.close()
        return
    yield str(path), path.read_bytes()


def _addresses(
    message: EmailMessage, header: str, own_domains: Collection[str]
) -> list[Participant]:
    values = [str(v) for v in message.get_all(header, [])]
    found = []
    for name, address in getaddresses(values):
        address = address.strip().lower()
        if "@" not in address:
            continue
        domain = normalise_domain(address.rpartition("@")[2])
        found.append(
            Participant(address, name.strip(), is_own_domain(domain, own_domains), header.lower())
        )
    return found


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset or a broken encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    if part.get_content_subtype() == "html":
        parser = _Text()
        parser.feed(content)
        content = "\n".join(parser.parts)
    return content


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The new words of a message: no quoted lines, no "On ... wrote:", no signature."""
    kept = []
    for line in text.splitlines():
        if line.rstrip() == "--" or line == "-- ":
            break
        if line.lstrip().startswith(">") or _WROTE.match(line.strip()):
            continue
        kept.append(line)
    return " ".join(" ".join(kept).split())[:limit]


def _ids(value: str | None) -> list[str]:
    return re.findall(r"<([^<>\s]+)>", value or "")


def _when(message: EmailMessage) -> datetime:
    raw = message.get("Date")
    if raw is None:
        raise ValueError("no Date header")
    try:
        when = parsedate_to_datetime(str(raw))
    except (TypeError, ValueError, IndexError) as error:
        raise ValueError(f"unparseable Date header: {str(raw)[:80]!r}") from error
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when < datetime(1970, 1, 1, tzinfo=UTC) or when > datetime.now(UTC) + timedelta(days=1):
        raise ValueError(f"Date header out of range: {when.isoformat()}")
    return when


def to_interaction(
    where: str, raw: bytes, own_domains: Collection[str], *, source: str = SOURCE
) -> EmailInteraction | EmailProblem:
    """One message as an interaction, or the reason it cannot be one."""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        senders = _addresses(message, "From", own_domains)
        if not senders:
            return EmailProblem(where, "no From header with an address")
        when = _when(message)
        recipients = _addresses(message, "To", own_domains) + _addresses(message, "Cc", own_domains)
        participants: list[Participant] = []
        for p in [senders[0], *recipients]:
            if p.email not in {q.email for q in participants}:
                participants.append(p)
        sender = senders[0]
        outbound = sender.own
        external = [p for p in participants if not p.own]
        if not external:
            return EmailProblem(where, "internal message: no external participant")
        primary = external[0] if outbound else sender
        message_ids = _ids(str(message.get("Message-ID", "")))
        own_id = message_ids[0] if message_ids and len(message_ids[0]) <= 200 else None
        source_id = own_id or "sha256:" + hashlib.sha256(raw).hexdigest()
        references = _ids(str(message.get("References", "")))
        in_reply_to = _ids(str(message.get("In-Reply-To", "")))
        thread = (references or in_reply_to or [own_id or source_id])[0]
        subject = " ".join(str(message.get("Subject", "")).split())[:300]
        employee = sender.email if outbound else next((p.email for p in recipients if p.own), None)
        attachments = sum(1 for _ in message.iter_attachments())
        contact: dict[str, Any] = {"email": primary.email}
        if primary.name:
            contact["name"] = primary.name[:300]
        interaction: dict[str, Any] = {
            "customer": {"email": primary.email},
            "contact": contact,
            "occurred_at": when.isoformat(),
            "channel": "email",
            "kind": "email_sent" if outbound else "email_received",
            "direction": "outbound" if outbound else "inbound",
            "text": snippet(_body(message)) or None,
            "source": source,
            "source_id": source_id,
            "attributes": {
                "subject": subject,
                "message_id": own_id or source_id,
                "thread_id": thread[:200],
                **({"in_reply_to": in_reply_to[0][:200]} if in_reply_to else {}),
                "participants": [
                    {"email": p.email, "name": p.name, "role": p.role} for p in participants
                ][:50],
                "attachments": attachments,
            },
        }
        if employee:
            interaction["employee"] = employee[:200]
        return EmailInteraction(where, interaction, participants)
    except ValueError as error:
        return EmailProblem(where, str(error))
    except Exception as error:
        return EmailProblem(where, f"unreadable message ({type(error).__name__}: {error})"[:300])


def import_emails(
    path: Path, own_domains: Collection[str], *, source: str = SOURCE
) -> Iterator[EmailInteraction | EmailProblem]:
    for where, raw in read_messages(path):
        yield to_interaction(where, raw, own_domains, source=source)


@dataclass
class EmailReport:
    messages: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    contacts: int = 0


def _participant_update(p: Participant) -> ContactUpdate:
    """An external participant becomes a contact, at its domain's account when the domain
    can stand for one (not a public mail provider)."""
    person = names_of(contact_email=p.email, contact_name=p.name or None)
    domain = normalise_domain(p.email.rpartition("@")[2])
    account = names_of(domain=domain) if is_account_domain(domain) else None
    return ContactUpdate(person, account)


async def import_mailbox(
    service: IngestService,
    tenant_id: str,
    path: Path,
    own_domains: Collection[str],
    errors: csv.DictWriter[str],
    progress: Any = None,
    batch_size: int = 500,
) -> EmailReport:
    """Stores every message under `path` through the same path as the API, in batches, with
    its participants as contacts; writes each refused message to `errors`."""
    report = EmailReport()
    items: list[tuple[int, InteractionIn]] = []
    updates: dict[str, ContactUpdate] = {}
    where_of: dict[int, str] = {}

    def refuse(where: str, field: str, message: str) -> None:
        report.rejected += 1
        errors.writerow({"message": where, "field": field, "reason": message})

    async def flush() -> None:
        if not items and not updates:
            return
        for result in await service.record(tenant_id, list(items), list(updates.values())):
            if result.status == "accepted":
                report.accepted += 1
            elif result.status == "duplicate":
                report.duplicates += 1
            else:
                for problem in result.errors:
                    refuse(where_of[result.index], problem.path, problem.message)
        report.contacts += len(updates)
        items.clear()
        updates.clear()
        where_of.clear()

    for found in import_emails(path, own_domains):
        report.messages += 1
        if progress is not None:
            progress.update(1)
        if isinstance(found, EmailProblem):
            refuse(found.where, "(message)", found.reason)
            continue
        try:
            item = InteractionIn.model_validate(found.interaction)
        except ValidationError as error:
            detail = error.errors(include_url=False)[0]
            refuse(found.where, ".".join(str(p) for p in detail["loc"]), detail["msg"])
            continue
        where_of[report.messages] = found.where
        items.append((report.messages, item))
        for participant in found.participants:
            if not participant.own and participant.email not in updates:
                updates[participant.email] = _participant_update(participant)
        if len(items) >= batch_size:
            await flush()
    await flush()
    return report
