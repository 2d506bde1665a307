"""Email import: `.eml` files and `mbox` archives read as email interactions.

A pure parser (standard library only, no database, no HTTP): each message becomes either an
`EmailInteraction` — a JSON-able dict in the shape of ingest's `InteractionIn`, with the
message's participants — or an `EmailProblem` saying why it cannot be one.

- Direction: outbound (`email_sent`) when the sender is at one of the tenant's own mail
  domains or a subdomain of one, else inbound (`email_received`). Mail with no external
  participant at all (internal mail) is a problem, not an interaction.
- The customer is named by the primary external participant, by address: the sender of an
  inbound message, the first external recipient (To, then Cc, then Bcc) of an outbound one.
  Bcc is read on outbound messages only: just the sender's copy keeps it.
- The employee is the sender of an outbound message, the first own-domain recipient (To,
  then Cc) of an inbound one.
- The text is a snippet of the body: the plain-text part (else the HTML one reduced to
  text), without quoted lines (">"), the "On ... wrote:" line introducing them, an Outlook
  "Original Message" tail or the signature (after "-- "), whitespace collapsed.
- The Message-ID (without angle brackets) is the source id, so importing the same mailbox
  twice stores nothing twice; a message without one (or with one longer than 200
  characters) gets "sha256:" and the hash of its bytes instead (line endings normalised).
- The thread is kept in `attributes.thread_id`: the first id of References, else
  In-Reply-To, else the message's own id (or the hash standing for it).
- A Date without a time zone (or with "-0000") is read as UTC. Dates before 1970 or more
  than a day ahead are problems.

Nothing here raises on a bad message: every failure becomes an `EmailProblem` with the
reason, and the rest of the mailbox goes on.
"""

from __future__ import annotations

import email.errors
import email.policy
import email.utils
import hashlib
import html
import mailbox
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.identity import (
    ContactUpdate,
    is_account_domain,
    is_own_domain,
    names_of,
    normalise_domain,
)
from relint.values import EARLIEST_MOMENT

if TYPE_CHECKING:
    import csv

    from ingest.service import IngestService

SOURCE = "email"
SNIPPET_CHARS = 500

MAX_AHEAD = timedelta(days=1)
MAX_SOURCE_ID = 200  # InteractionIn.source_id
MAX_SUBJECT = 300
MAX_NAME = 300  # ContactRef.name
MAX_EMPLOYEE = 200  # InteractionIn.employee
MAX_LISTED_PARTICIPANTS = 100  # in attributes; EmailInteraction.participants has everyone
MAX_ID = 998  # a Message-ID longer than a header line is not one
MAX_BODY_CHARS = 200_000  # read this much of a body for its snippet

_MBOX_SUFFIXES = (".mbox", ".mbx")
# Mirrors schemas.EMAIL_PATTERN (which needs pydantic): an address ingest accepts.
_ADDRESS = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
_MAX_ADDRESS = 254
_MESSAGE_ID = re.compile(r"<([^<>\s\x00-\x1f\x7f]+)>")
_BARE_ID = re.compile(r"[^<>\s\x00-\x1f\x7f]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WROTE = re.compile(r"^On\s.*\bwrote:$")
_ORIGINAL_MESSAGE = re.compile(r"^-{2,}\s*Original Message\s*-{2,}$", re.IGNORECASE)
# What the standard library's header parser is known to raise on malformed headers.
_HEADER_FAILURES = (email.errors.MessageError, IndexError, ValueError, TypeError, AttributeError)
_DATE_FAILURES = (TypeError, ValueError, IndexError, OverflowError)


@dataclass(frozen=True)
class Participant:
    email: str  # lower-cased addr-spec
    name: str  # display name, "" if none
    own: bool  # at one of the tenant's own domains, or a subdomain of one


@dataclass(frozen=True)
class EmailInteraction:
    where: str  # "path" for an .eml file, "path#N" (1-based) for an mbox's N-th message
    interaction: dict[str, Any]  # JSON-able, in InteractionIn's shape
    participants: list[Participant]  # From, To and Cc, deduplicated, own ones included


@dataclass(frozen=True)
class EmailProblem:
    where: str
    reason: str


class _Unusable(Exception):
    """A message that cannot be an interaction; the argument is the reason."""


class _ReadMessage(EmailMessage):
    """A message parsed from bytes, which keeps them (on the outermost part) for hashing."""

    raw: bytes | None = None


# --- reading files ----------------------------------------------------------------------


def _is_mbox(path: Path) -> bool:
    if path.suffix.lower() in _MBOX_SUFFIXES or path.name.lower() == "mbox":
        return True
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def _files(path: Path) -> list[Path]:
    """The files to read: `path` itself, or the .eml and mbox files under a directory."""
    if not path.is_dir():
        return [path]
    return [
        child
        for child in sorted(path.rglob("*"))
        if child.is_file() and (child.suffix.lower() == ".eml" or _looks_like_mbox(child))
    ]


def _looks_like_mbox(path: Path) -> bool:
    try:
        return _is_mbox(path)
    except OSError:  # not readable and not named like one: not taken for a mailbox
        return False


def _raw_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """(where, bytes) of each message of one file, an mbox or a single message."""
    if not _is_mbox(path):
        yield str(path), path.read_bytes()
        return
    box = mailbox.mbox(path, create=False)
    try:
        for number, key in enumerate(box.iterkeys(), start=1):
            yield f"{path}#{number}", box.get_bytes(key)
    finally:
        box.close()


def count_messages(path: Path) -> int | None:
    """How many messages `read_messages` will yield, without parsing them (for a progress
    bar); None when a file cannot be read (the import then reports it per file)."""
    try:
        return sum(
            len(mailbox.mbox(file, create=False)) if _is_mbox(file) else 1 for file in _files(path)
        )
    except (OSError, mailbox.Error):
        return None


def _parse(raw: bytes) -> EmailMessage:
    message = BytesParser(_ReadMessage, policy=email.policy.default).parsebytes(raw)
    assert isinstance(message, _ReadMessage)
    message.raw = raw
    return message


def read_messages(path: Path) -> Iterator[tuple[str, EmailMessage]]:
    """Yields (where, message) from one .eml file, one mbox file, or every *.eml and mbox file
    under a directory (recursively, in sorted order). A file is an mbox when it starts with a
    "From " line, ends in .mbox or .mbx, or is named "mbox". Messages are parsed with
    `email.policy.default`. Raises `OSError` when a file cannot be read (`import_emails`
    reports that as a problem instead)."""
    for file in _files(path):
        for where, raw in _raw_messages(file):
            yield where, _parse(raw)


# --- reading headers --------------------------------------------------------------------


def _clean(value: str) -> str:
    """Text safe to store: bytes smuggled in as surrogates read as UTF-8, no control
    characters."""
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = value.encode("utf-8", "replace")
    return _CONTROL.sub("", data.decode("utf-8", "replace"))


def _one_line(value: str) -> str:
    return " ".join(_clean(value).split())


def _raw_header(message: EmailMessage, name: str) -> str | None:
    """The first `name` header as it was written, bypassing the header parser."""
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _decoded(value: str) -> str:
    """RFC 2047 encoded words decoded, for the fallback address parser."""
    try:
        return str(make_header(decode_header(value)))
    except (*_HEADER_FAILURES, LookupError, UnicodeError):
        return value


def _pairs(message: EmailMessage, name: str) -> list[tuple[str, str]]:
    """(display name, addr-spec) of every address in the `name` headers."""
    try:
        return [
            (address.display_name, address.addr_spec)
            for header in message.get_all(name, [])
            for address in getattr(header, "addresses", ())
        ]
    except _HEADER_FAILURES:
        # The strict parser gave up; the lenient one still finds most addresses.
        raws = [str(value) for key, value in message.raw_items() if key.lower() == name.lower()]
        return [(_decoded(display), spec) for display, spec in email.utils.getaddresses(raws)]


def _participant(display: str, spec: str, own_domains: Collection[str]) -> Participant | None:
    address = _clean(spec).strip().lower()
    if len(address) > _MAX_ADDRESS or not _ADDRESS.fullmatch(address):
        return None
    name = _one_line(display).strip("\"'").strip()
    if name.lower() == address:
        name = ""
    domain = normalise_domain(address.rpartition("@")[2])
    return Participant(address, name[:MAX_NAME], is_own_domain(domain, own_domains))


def _participants(
    message: EmailMessage, name: str, own_domains: Collection[str]
) -> list[Participant]:
    found = (_participant(display, spec, own_domains) for display, spec in _pairs(message, name))
    return [p for p in found if p is not None]


def _when(message: EmailMessage, now: datetime) -> datetime:
    raw = _raw_header(message, "Date")
    if raw is None or not raw.strip():
        raise _Unusable("no Date header")
    text = _one_line(raw)
    when: datetime | None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except _DATE_FAILURES:
        when = None
    if when is None:  # some exporters write ISO 8601
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise _Unusable(f"unparseable Date header: {text[:80]!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        too_early = when < EARLIEST_MOMENT
        too_late = when > now + MAX_AHEAD
    except OverflowError:  # an offset that takes it past year 1 or 9999
        raise _Unusable(f"unparseable Date header: {text[:80]!r}") from None
    if too_early:
        raise _Unusable(f"Date header before 1970: {when.isoformat()}")
    if too_late:
        raise _Unusable(f"Date header more than a day in the future: {when.isoformat()}")
    return when


def _ids(value: str | None) -> list[str]:
    """The message ids in a Message-ID, References or In-Reply-To value, without brackets;
    a lone id without brackets is taken as it is."""
    if value is None:
        return []
    text = _clean(value)
    found = _MESSAGE_ID.findall(text)
    if not found and _BARE_ID.fullmatch(text.strip()):
        found = [text.strip()]
    return [i for i in found if len(i) <= MAX_ID]


def _message_bytes(message: EmailMessage) -> bytes:
    raw = message.raw if isinstance(message, _ReadMessage) else None
    if raw is None:  # built by the caller: its serialisation, as it would be written out
        try:
            raw = message.as_bytes(policy=email.policy.default.clone(refold_source="none"))
        except (*_HEADER_FAILURES, LookupError, UnicodeError) as error:
            raise _Unusable(
                f"no Message-ID, and the message cannot be serialised to hash it "
                f"({type(error).__name__}: {error})"
            ) from None
    return raw.replace(b"\r\n", b"\n")


# --- reading the body -------------------------------------------------------------------


class _HtmlText(HTMLParser):
    """The readable text of an HTML body: no scripts, styles, head or quoted blocks."""

    _SKIPPED = frozenset({"script", "style", "head", "title", "blockquote"})
    _BREAKS = frozenset(
        {"br", "p", "div", "li", "tr", "td", "table", "ul", "ol", "hr", "h1", "h2", "h3"}
        | {"h4", "h5", "h6", "pre", "section", "article", "header", "footer"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":  # a head left open ends here
            self._skipping.clear()
        elif tag in self._SKIPPED:
            self._skipping.append(tag)
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._skipping:
            while self._skipping and self._skipping.pop() != tag:
                pass
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(markup)
        parser.close()
    except AssertionError:  # html.parser on an unknown marked section ("<![foo[")
        return html.unescape(re.sub(r"<[^>]*>", " ", markup))
    return "".join(parser.parts)


def _decode(payload: bytes, charset: str | None) -> str:
    """Text in its declared charset; undeclared or wrongly declared text read as UTF-8."""
    for candidate in (charset, "utf-8"):
        if candidate:
            try:
                return payload.decode(candidate)
            except (LookupError, ValueError):  # unknown charset, or not in it
                continue
    try:
        return payload.decode(charset or "utf-8", "replace")
    except (LookupError, ValueError):
        return payload.decode("utf-8", "replace")


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    text = _clean(_decode(payload, part.get_content_charset()))
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    return text


def _attribution(lines: list[str], at: int) -> int:
    """How many lines (0, 1 or 2) starting at `at` say "On ... wrote:"."""
    line = lines[at].strip()
    if _WROTE.match(line):
        return 1
    if line.startswith("On ") and at + 1 < len(lines):
        following = lines[at + 1].strip()
        if following.endswith("wrote:") and not following.startswith(">"):
            return 2
    return 0


def _quote_or_end_follows(lines: list[str], at: int) -> bool:
    while at < len(lines) and not lines[at].strip():
        at += 1
    return at == len(lines) or lines[at].lstrip().startswith(">")


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The new words of a message body: no quoted lines, no "On ... wrote:" line before them,
    nothing from an Outlook "Original Message" line or a signature separator ("-- ") on;
    whitespace collapsed, at most `limit` characters."""
    lines = text[:MAX_BODY_CHARS].splitlines()
    kept: list[str] = []
    at = 0
    while at < len(lines):
        line = lines[at]
        if line.rstrip() == "--" or _ORIGINAL_MESSAGE.match(line.strip()):
            break
        if line.lstrip().startswith(">"):
            at += 1
            continue
        span = _attribution(lines, at)
        if span and _quote_or_end_follows(lines, at + span):
            at += span
            continue
        kept.append(line)
        at += 1
    return " ".join(" ".join(kept).split())[: max(limit, 0)]


def _attachments(message: EmailMessage) -> int:
    return sum(1 for _ in message.iter_attachments())


# --- messages as interactions -----------------------------------------------------------


def _own(own_domains: Collection[str]) -> frozenset[str]:
    domains = [own_domains] if isinstance(own_domains, str) else own_domains
    return frozenset(d for d in (normalise_domain(str(o)) for o in domains) if d)


def _interaction(
    message: EmailMessage, own_domains: Collection[str], source: str, snippet_chars: int
) -> tuple[dict[str, Any], list[Participant]]:
    own = _own(own_domains)
    if not (_raw_header(message, "From") or "").strip():
        raise _Unusable("no From header")
    senders = _participants(message, "From", own)
    if not senders:
        raw_from = _one_line(_raw_header(message, "From") or "")
        raise _Unusable(f"no usable address in From header: {raw_from[:80]!r}")
    when = _when(message, datetime.now(UTC))

    headers = [("to", "To"), ("cc", "Cc")]
    if senders[0].own:
        # Only the sender's copy keeps Bcc (a sent-mail export): its recipients took part as
        # much as those in Cc. A received copy with a Bcc header is left as it was.
        headers.append(("bcc", "Bcc"))
    roles: dict[str, str] = {}
    participants: dict[str, Participant] = {}
    for role, found in [
        ("from", senders),
        *((role, _participants(message, header, own)) for role, header in headers),
    ]:
        for p in found:
            if p.email not in participants:
                participants[p.email], roles[p.email] = p, role
            elif p.name and not participants[p.email].name:
                participants[p.email] = p
    everyone = list(participants.values())
    recipients = [p for p in everyone if roles[p.email] != "from"]
    external = [p for p in everyone if not p.own]
    if not external:
        raise _Unusable("internal message: no external participant")

    sender = participants[senders[0].email]
    outbound = sender.own
    if outbound:
        primary = next((p for p in recipients if not p.own), external[0])
        employee: str | None = sender.email
    else:
        primary = sender
        employee = next((p.email for p in recipients if p.own), None)

    own_ids = _ids(_raw_header(message, "Message-ID"))
    message_id = own_ids[0] if own_ids else None
    if message_id is not None and len(message_id) <= MAX_SOURCE_ID:
        source_id = message_id
    else:
        source_id = "sha256:" + hashlib.sha256(_message_bytes(message)).hexdigest()
    references = _ids(_raw_header(message, "References"))
    in_reply_to = _ids(_raw_header(message, "In-Reply-To"))
    thread_id = (references or in_reply_to or [message_id or source_id])[0]
    try:
        subject = _one_line(str(message.get("Subject", "")))
    except _HEADER_FAILURES:
        subject = _one_line(_decoded(_raw_header(message, "Subject") or ""))

    attributes: dict[str, Any] = {"subject": subject[:MAX_SUBJECT]}
    if message_id is not None:
        attributes["message_id"] = message_id
    attributes["thread_id"] = thread_id
    if in_reply_to:
        attributes["in_reply_to"] = in_reply_to[0]
    attributes["participants"] = [
        {"email": p.email, "name": p.name, "role": roles[p.email]}
        for p in everyone[:MAX_LISTED_PARTICIPANTS]
    ]
    attributes["attachments"] = _attachments(message)

    contact: dict[str, Any] = {"email": primary.email}
    if primary.name:
        contact["name"] = primary.name
    interaction: dict[str, Any] = {
        "customer": {"email": primary.email},
        "contact": contact,
        "occurred_at": when.isoformat(),
        "channel": "email",
        "kind": "email_sent" if outbound else "email_received",
        "direction": "outbound" if outbound else "inbound",
    }
    if employee is not None and len(employee) <= MAX_EMPLOYEE:
        interaction["employee"] = employee
    text = snippet(_body(message), snippet_chars)
    if text:
        interaction["text"] = text
    interaction["source"] = source
    interaction["source_id"] = source_id
    interaction["attributes"] = attributes
    return interaction, everyone


def to_interaction(
    where: str,
    message: EmailMessage,
    own_domains: Collection[str],
    *,
    source: str = SOURCE,
    snippet_chars: int = SNIPPET_CHARS,
) -> EmailInteraction | EmailProblem:
    """One message as an interaction, or the reason it cannot be one. Never raises.

    Checked in order: a From header with a usable address ("no From header", "no usable
    address in From header: ..."), a Date ("no Date header", "unparseable Date header: ...",
    out of range; a Date without a time zone is taken as UTC), an external participant
    ("internal message: no external participant")."""
    try:
        interaction, participants = _interaction(message, own_domains, source, snippet_chars)
    except _Unusable as unusable:
        return EmailProblem(where, str(unusable))
    except Exception as error:  # a parser bug on a malformed message must not stop an import
        return EmailProblem(where, f"unreadable message ({type(error).__name__}: {error})"[:300])
    return EmailInteraction(where, interaction, participants)


def _from_raw(
    where: str, raw: bytes, own_domains: Collection[str], source: str
) -> EmailInteraction | EmailProblem:
    try:
        message = _parse(raw)
    except Exception as error:  # e.g. RecursionError on absurdly nested multiparts
        return EmailProblem(where, f"unparseable message ({type(error).__name__}: {error})"[:300])
    return to_interaction(where, message, own_domains, source=source)


def import_emails(
    path: Path, own_domains: Collection[str], *, source: str = SOURCE
) -> Iterator[EmailInteraction | EmailProblem]:
    """Every message under `path` (see `read_messages`) as an interaction or a problem. Never
    raises: a path or file that cannot be read is a problem too, and the rest goes on."""
    try:
        files = _files(path)
    except OSError as error:
        yield EmailProblem(str(path), f"unreadable path ({type(error).__name__}: {error})")
        return
    for file in files:
        messages = _raw_messages(file)
        count = 0
        while True:
            try:
                where, raw = next(messages)
            except StopIteration:
                if count == 0 and _nonempty(file):
                    yield EmailProblem(str(file), "no message found in the file")
                break
            except (OSError, mailbox.Error) as error:
                reason = f"unreadable file ({type(error).__name__}: {error})"
                yield EmailProblem(str(file), reason)
                break
            count += 1
            yield _from_raw(where, raw, own_domains, source)


def _nonempty(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


# --- storing (service glue, kept here for `ingest import-email`) ------------------------


@dataclass
class EmailReport:
    messages: int = 0
    accepted: int = 0
    duplicates: int = 0
    # Duplicates whose content differs from the stored message's (a re-import after the own
    # domains changed, say): the stored one stands, and the report says so.
    differing: int = 0
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
    # Imported here so that the parser above needs nothing beyond the standard library.
    from pydantic import ValidationError

    from ingest.schemas import InteractionIn

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
        stored = await service.record(
            tenant_id, list(items), list(updates.values()), compare_repeats=True
        )
        for result in stored:
            if result.status == "accepted":
                report.accepted += 1
            elif result.status == "duplicate":
                report.duplicates += 1
                if result.differs_in:
                    report.differing += 1
                    errors.writerow(
                        {
                            "message": where_of[result.index],
                            "field": "source_id",
                            "reason": f"already stored as interaction {result.id}, which "
                            f"differs in {', '.join(result.differs_in)}; the stored one stands",
                        }
                    )
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
