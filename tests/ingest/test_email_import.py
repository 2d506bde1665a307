"""Email import: messages from .eml files and mbox archives read as email interactions (the
pure parser), and the CLI storing them with their participants as contacts, once however
often it runs."""

from __future__ import annotations

import asyncio
import hashlib
import json
import mailbox
import tempfile
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.cli import main
from ingest.email_import import (
    EmailInteraction,
    EmailProblem,
    Participant,
    count_messages,
    import_emails,
    read_messages,
    to_interaction,
)
from ingest.schemas import InteractionIn
from ingest.service import IngestService
from relint.db import Database

OWN = ["acme.example"]
DATE = "Tue, 04 Mar 2025 10:15:00 +0100"


def message(
    sender: str | None = '"Ana Lima" <ana@northwind.example>',
    to: str = "support@acme.example",
    subject: str = "Export failing",
    body: str = "The export keeps failing since the update.",
    message_id: str | None = "<m1@northwind.example>",
    date: str | None = DATE,
    **headers: str,
) -> EmailMessage:
    found = EmailMessage()
    if sender is not None:
        found["From"] = sender
    found["To"] = to
    found["Subject"] = subject
    if date is not None:
        found["Date"] = date
    if message_id is not None:
        found["Message-ID"] = message_id
    for name, value in headers.items():
        found[name.replace("_", "-")] = value
    found.set_content(body)
    return found


def checked(found: EmailInteraction | EmailProblem) -> EmailInteraction:
    """The interaction, after checking that ingest's API would take it as it is."""
    assert isinstance(found, EmailInteraction), found
    json.dumps(found.interaction, ensure_ascii=False).encode("utf-8")  # JSON-able, valid UTF-8
    InteractionIn.model_validate(found.interaction)
    return found


def read(found: EmailMessage, where: str = "m.eml") -> EmailInteraction:
    return checked(to_interaction(where, found, OWN))


def problem(found: EmailMessage) -> str:
    result = to_interaction("x.eml", found, OWN)
    assert isinstance(result, EmailProblem), result
    assert result.where == "x.eml"
    return result.reason


def test_a_plain_inbound_eml_file(tmp_path: Path) -> None:
    path = tmp_path / "in.eml"
    path.write_bytes(bytes(message(Cc="Bo <bo@northwind.example>, desk@acme.example")))
    [found] = list(import_emails(path, OWN))
    found = checked(found)
    assert found.where == str(path)
    participants = [
        {"email": "ana@northwind.example", "name": "Ana Lima", "role": "from"},
        {"email": "support@acme.example", "name": "", "role": "to"},
        {"email": "bo@northwind.example", "name": "Bo", "role": "cc"},
        {"email": "desk@acme.example", "name": "", "role": "cc"},
    ]
    assert found.interaction == {
        "customer": {"email": "ana@northwind.example"},
        "contact": {"email": "ana@northwind.example", "name": "Ana Lima"},
        "occurred_at": "2025-03-04T10:15:00+01:00",
        "channel": "email",
        "kind": "email_received",
        "direction": "inbound",
        "employee": "support@acme.example",
        "text": "The export keeps failing since the update.",
        "source": "email",
        "source_id": "m1@northwind.example",
        "attributes": {
            "subject": "Export failing",
            "message_id": "m1@northwind.example",
            "thread_id": "m1@northwind.example",
            "participants": participants,
            "attachments": 0,
        },
    }
    assert found.participants == [
        Participant("ana@northwind.example", "Ana Lima", own=False),
        Participant("support@acme.example", "", own=True),
        Participant("bo@northwind.example", "Bo", own=False),
        Participant("desk@acme.example", "", own=True),
    ]


def test_an_inbound_message_to_no_own_address_has_no_employee_and_keeps_its_source() -> None:
    found = checked(
        to_interaction("m.eml", message(to="bo@northwind.example"), OWN, source="gmail-export")
    )
    assert "employee" not in found.interaction
    assert found.interaction["source"] == "gmail-export"
    assert found.interaction["customer"] == {"email": "ana@northwind.example"}


def test_an_outbound_message_from_an_own_subdomain_names_its_first_external_recipient() -> None:
    found = read(
        message(
            sender="Rep <Rep@Mail.ACME.example>",
            to="boss@acme.example, ana@northwind.example",
            Cc="bo@northwind.example",
        )
    )
    item = found.interaction
    assert (item["kind"], item["direction"]) == ("email_sent", "outbound")
    assert item["customer"] == {"email": "ana@northwind.example"}
    assert item["contact"] == {"email": "ana@northwind.example"}  # no name: none given
    assert item["employee"] == "rep@mail.acme.example"
    assert [(p.email, p.own) for p in found.participants] == [
        ("rep@mail.acme.example", True),
        ("boss@acme.example", True),
        ("ana@northwind.example", False),
        ("bo@northwind.example", False),
    ]
    # A look-alike domain is not a subdomain; Cc is used when To has no external address.
    lookalike = read(message(sender="rep@notacme.example", to="support@acme.example"))
    assert lookalike.interaction["direction"] == "inbound"
    via_cc = read(message(sender="rep@acme.example", to="boss@acme.example", Cc="x@y.example"))
    assert via_cc.interaction["customer"] == {"email": "x@y.example"}


def test_an_outbound_message_counts_its_bcc_recipients() -> None:
    """A sent-mail export keeps Bcc: those recipients are participants (and contacts) too,
    and a message whose only external recipient is in Bcc is still one to a customer."""
    found = read(
        message(
            sender="rep@acme.example",
            to="ana@northwind.example",
            Bcc="Bo <bo@northwind.example>, crm@acme.example",
        )
    )
    assert [(p.email, p.own) for p in found.participants] == [
        ("rep@acme.example", True),
        ("ana@northwind.example", False),
        ("bo@northwind.example", False),
        ("crm@acme.example", True),
    ]
    roles = [(p["email"], p["role"]) for p in found.interaction["attributes"]["participants"]]
    assert roles[2:] == [("bo@northwind.example", "bcc"), ("crm@acme.example", "bcc")]
    assert found.interaction["customer"] == {"email": "ana@northwind.example"}
    only_bcc = read(message(sender="rep@acme.example", to="boss@acme.example", Bcc="x@y.example"))
    assert only_bcc.interaction["customer"] == {"email": "x@y.example"}
    assert only_bcc.interaction["direction"] == "outbound"


def test_own_domains_are_normalised() -> None:
    outbound = message(sender="rep@acme.example", to="ana@northwind.example")
    found = to_interaction("m.eml", outbound, ["@ACME.example."])
    assert checked(found).interaction["direction"] == "outbound"
    as_string = to_interaction("m.eml", outbound, "acme.example")
    assert checked(as_string).interaction["direction"] == "outbound"


def _thread(path: Path) -> None:
    box = mailbox.mbox(path)
    box.add(message(message_id="<t1@northwind.example>"))
    box.add(
        message(
            sender="support@acme.example",
            to="Ana Lima <ana@northwind.example>",
            subject="Re: Export failing",
            body="We are on it.",
            message_id="<t2@acme.example>",
            date="Tue, 04 Mar 2025 11:00:00 +0100",
            In_Reply_To="<t1@northwind.example>",
            References="<t1@northwind.example>",
        )
    )
    box.add(
        message(
            sender="bo@northwind.example",
            to="support@acme.example",
            subject="Re: Export failing",
            body="Works now, thanks.",
            message_id="<t3@northwind.example>",
            date="Wed, 05 Mar 2025 09:00:00 +0100",
            In_Reply_To="<t2@acme.example>",
            References="<t1@northwind.example> <t2@acme.example>",
        )
    )
    box.close()


def test_an_mbox_thread_shares_its_thread_id(tmp_path: Path) -> None:
    path = tmp_path / "support.mbox"
    _thread(path)
    found = [checked(f) for f in import_emails(path, OWN)]
    assert [f.where for f in found] == [f"{path}#1", f"{path}#2", f"{path}#3"]
    attributes = [f.interaction["attributes"] for f in found]
    assert [a["thread_id"] for a in attributes] == ["t1@northwind.example"] * 3
    assert [a["message_id"] for a in attributes] == [
        "t1@northwind.example",
        "t2@acme.example",
        "t3@northwind.example",
    ]
    assert [a.get("in_reply_to") for a in attributes] == [
        None,
        "t1@northwind.example",
        "t2@acme.example",
    ]
    assert [f.interaction["kind"] for f in found] == [
        "email_received",
        "email_sent",
        "email_received",
    ]
    assert [f.interaction["customer"]["email"] for f in found] == [
        "ana@northwind.example",
        "ana@northwind.example",
        "bo@northwind.example",
    ]
    assert [f.interaction["occurred_at"] for f in found] == [
        "2025-03-04T10:15:00+01:00",
        "2025-03-04T11:00:00+01:00",
        "2025-03-05T09:00:00+01:00",
    ]


def test_in_reply_to_names_the_thread_without_references() -> None:
    found = read(message(In_Reply_To="<root@northwind.example> (Ana's message)"))
    assert found.interaction["attributes"]["thread_id"] == "root@northwind.example"
    assert found.interaction["attributes"]["in_reply_to"] == "root@northwind.example"


def test_encoded_subjects_and_display_names_are_decoded(tmp_path: Path) -> None:
    raw = (
        b"From: =?iso-8859-1?q?J=F6rg_M=FCller?= <Joerg@Northwind.example>\r\n"
        b"To: =?utf-8?b?w4lsb2RpZSBEdXBvbnQ=?= <elodie@acme.example>\r\n"
        b'Cc: "Zo\xc3\xab" <zoe@northwind.example>\r\n'
        b"Subject: =?utf-8?q?Angebot_f=C3=BCr_Sie?= =?utf-8?q?_=E2=80=93_M=C3=A4rz?=\r\n"
        b"Date: " + DATE.encode() + b"\r\n"
        b"Message-ID: <enc@northwind.example>\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n"
        b"\r\n"
        b"Gr=FC=DFe aus K=F6ln\r\n"
    )
    path = tmp_path / "encoded.eml"
    path.write_bytes(raw)
    [found] = list(import_emails(path, OWN))
    item = checked(found).interaction
    assert item["attributes"]["subject"] == "Angebot für Sie \u2013 März"
    assert item["contact"] == {"email": "joerg@northwind.example", "name": "Jörg Müller"}
    assert [(p["name"], p["role"]) for p in item["attributes"]["participants"]] == [
        ("Jörg Müller", "from"),
        ("Élodie Dupont", "to"),
        ("Zoë", "cc"),  # raw UTF-8 in a header (RFC 6532)
    ]
    assert item["text"] == "Grüße aus Köln"


def test_headers_the_strict_parser_chokes_on_are_read_leniently(tmp_path: Path) -> None:
    # Each of these makes the standard library's header parser raise (IndexError,
    # AttributeError, TypeError); the message id, unusable, gives way to the hash.
    raw = (
        b"From: =?utf-8?q?Ana_Lima?= <ana@northwind.example>, =.<?];\n"
        b"To: support@acme.example, <\n"
        b"Cc: \r\n .[\n"
        b"Date: " + DATE.encode() + b"\n"
        b"Message-ID: <<\xc3\xa9\n"
        b"\n"
        b"Hi\n"
    )
    path = tmp_path / "odd.eml"
    path.write_bytes(raw)
    [found] = list(import_emails(path, OWN))
    item = checked(found).interaction
    assert item["contact"] == {"email": "ana@northwind.example", "name": "Ana Lima"}
    assert item["employee"] == "support@acme.example"
    assert item["source_id"] == "sha256:" + hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()
    assert item["text"] == "Hi"


def test_read_messages_parses_with_the_default_policy(tmp_path: Path) -> None:
    path = tmp_path / "one.eml"
    path.write_bytes(bytes(message(subject="Café")))
    [(where, parsed)] = list(read_messages(path))
    assert where == str(path)
    assert isinstance(parsed, EmailMessage)
    assert str(parsed["Subject"]) == "Café"
    assert parsed["From"].addresses[0].addr_spec == "ana@northwind.example"


def test_an_html_only_body_is_reduced_to_text() -> None:
    found = message(body="")
    found.set_content(
        "<html><head><title>Mail</title><style>p {color: red}</style></head>"
        "<body><p>Hello <b>there</b>,</p><div>your invoice&nbsp;is ready &amp; paid.</div>"
        "<script>track()</script>"
        "<blockquote>On Monday you wrote: old text</blockquote></body></html>",
        subtype="html",
    )
    assert read(found).interaction["text"] == "Hello there, your invoice is ready & paid."
    unclosed_head = message(body="")
    unclosed_head.set_content("<html><head><title>Mail</title><body>Still read.", subtype="html")
    assert read(unclosed_head).interaction["text"] == "Still read."


def test_attachments_are_counted_and_the_plain_part_preferred() -> None:
    found = message(body="See the two files.")
    found.add_alternative("<p>See the <i>two</i> files, in HTML.</p>", subtype="html")
    found.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="a.pdf")
    found.add_attachment("a,b\n1,2\n", subtype="csv", filename="data.csv")
    item = read(found).interaction
    assert item["attributes"]["attachments"] == 2
    assert item["text"] == "See the two files."


def test_quoted_replies_and_signatures_are_left_out_of_the_snippet() -> None:
    body = (
        "Thanks,   that works.\n\nSee you   on Friday.\n\n"
        "On Mon, 3 Mar 2025 at 10:00, Ana Lima <ana@northwind.example>\nwrote:\n\n"
        "> The export keeps failing.\n> Since the update.\n\n"
        "-- \nBo Berg\nNorthwind Traders\n"
    )
    assert read(message(body=body)).interaction["text"] == "Thanks, that works. See you on Friday."
    inline = "On Mon, Ana wrote:\n> Does it work?\nYes.\n> And the export?\nAlso fixed."
    assert read(message(body=inline)).interaction["text"] == "Yes. Also fixed."
    outlook = "Fine by me.\n\n-----Original Message-----\nFrom: Ana\nSubject: Export\n\nOld."
    assert read(message(body=outlook)).interaction["text"] == "Fine by me."
    # "On ... wrote:" in the middle of one's own words is kept.
    prose = "On Monday the team wrote: a fix.\nIt ships soon."
    assert read(message(body=prose)).interaction["text"] == (
        "On Monday the team wrote: a fix. It ships soon."
    )


def test_the_snippet_is_cut_and_an_empty_body_has_no_text() -> None:
    found = to_interaction("m.eml", message(body="word " * 300), OWN, snippet_chars=14)
    assert checked(found).interaction["text"] == "word word word"
    assert "text" not in read(message(body="> only a quote\n")).interaction


def test_a_message_without_an_id_gets_a_stable_hash_of_its_bytes(tmp_path: Path) -> None:
    raw = bytes(message(message_id=None))
    (tmp_path / "a.eml").write_bytes(raw)
    (tmp_path / "b.eml").write_bytes(raw.replace(b"\n", b"\r\n"))  # the same, from Windows
    first, second = (checked(f) for f in import_emails(tmp_path, OWN))
    again = [checked(f) for f in import_emails(tmp_path / "a.eml", OWN)]
    expected = "sha256:" + hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()
    assert first.interaction["source_id"] == expected
    assert second.interaction["source_id"] == expected
    assert again[0].interaction["source_id"] == expected
    attributes = first.interaction["attributes"]
    assert attributes["thread_id"] == expected
    assert "message_id" not in attributes
    # A message built in memory hashes the same way every time.
    built = message(message_id=None, body="Different words.")
    assert read(built).interaction["source_id"] == read(built).interaction["source_id"]
    assert read(built).interaction["source_id"] != expected


def test_an_overlong_message_id_is_kept_but_not_used_as_source_id() -> None:
    long_id = "x" * 220 + "@northwind.example"
    item = read(message(message_id=f"<{long_id}>")).interaction
    assert item["source_id"].startswith("sha256:")
    assert len(item["source_id"]) == len("sha256:") + 64
    assert item["attributes"]["message_id"] == long_id
    assert item["attributes"]["thread_id"] == long_id


def test_a_date_without_a_zone_is_utc() -> None:
    item = read(message(date="4 Mar 2025 10:15:00")).interaction
    assert item["occurred_at"] == "2025-03-04T10:15:00+00:00"
    assert read(message(date="Tue, 04 Mar 2025 10:15:00 -0000")).interaction["occurred_at"] == (
        "2025-03-04T10:15:00+00:00"
    )


def test_unusable_messages_are_named_with_the_reason() -> None:
    ahead = format_datetime(datetime.now(UTC) + timedelta(days=2))
    assert problem(message(sender=None)) == "no From header"
    assert problem(message(sender="undisclosed")) == (
        "no usable address in From header: 'undisclosed'"
    )
    assert problem(message(date=None)) == "no Date header"
    assert problem(message(date="yesterday-ish")) == "unparseable Date header: 'yesterday-ish'"
    assert problem(message(date="Wed, 31 Dec 1969 23:00:00 +0000")) == (
        "Date header before 1970: 1969-12-31T23:00:00+00:00"
    )
    assert problem(message(date=ahead)).startswith("Date header more than a day in the future: ")
    internal = message(sender="a@acme.example", to="b@acme.example", Cc="c@sales.acme.example")
    assert problem(internal) == "internal message: no external participant"


def test_a_directory_of_eml_files_and_an_mbox(tmp_path: Path) -> None:
    _thread(tmp_path / "support.mbox")
    nested = tmp_path / "2025" / "march"
    nested.mkdir(parents=True)
    (nested / "solo.eml").write_bytes(
        bytes(message(message_id="<solo@globex.example>", sender="x@globex.example"))
    )
    (tmp_path / "broken.eml").write_bytes(bytes(message(sender=None)))
    (tmp_path / "notes.txt").write_text("not mail")
    (tmp_path / "Inbox").write_bytes(  # a Thunderbird mailbox: no suffix, starts with "From "
        b"From - Tue Mar 04 10:15:00 2025\n" + bytes(message(message_id="<tb@initech.example>"))
    )
    found = list(import_emails(tmp_path, OWN))
    assert [f.where.removeprefix(f"{tmp_path}/") for f in found] == [
        "2025/march/solo.eml",
        "Inbox#1",
        "broken.eml",
        "support.mbox#1",
        "support.mbox#2",
        "support.mbox#3",
    ]
    assert found[2] == EmailProblem(str(tmp_path / "broken.eml"), "no From header")
    assert [checked(f).interaction["source_id"] for f in found if f is not found[2]] == [
        "solo@globex.example",
        "tb@initech.example",
        "t1@northwind.example",
        "t2@acme.example",
        "t3@northwind.example",
    ]
    assert [w for w, _ in read_messages(tmp_path)] == [f.where for f in found]
    # The progress bar's total, counted without parsing a message.
    assert count_messages(tmp_path) == len(found)
    assert count_messages(tmp_path / "nowhere") is None


def test_paths_that_cannot_be_read_are_problems(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.eml"
    [found] = list(import_emails(missing, OWN))
    assert isinstance(found, EmailProblem)
    assert found.where == str(missing)
    assert found.reason.startswith("unreadable file (FileNotFoundError: ")
    not_mail = tmp_path / "archive.mbox"
    not_mail.write_bytes(b"just some text, no From line\n")
    assert list(import_emails(not_mail, OWN)) == [
        EmailProblem(str(not_mail), "no message found in the file")
    ]
    (tmp_path / "empty.mbox").write_bytes(b"")
    assert list(import_emails(tmp_path / "empty.mbox", OWN)) == []


def _never_raises(raw: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / name
        path.write_bytes(raw)
        for found in import_emails(path, OWN):
            assert found.where.startswith(str(path))
            if isinstance(found, EmailInteraction):
                checked(found)
            else:
                assert found.reason


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(max_size=3000) | st.text(max_size=3000).map(str.encode),
    st.sampled_from(["fuzz.eml", "fuzz.mbox"]),
)
def test_no_file_makes_it_raise(raw: bytes, name: str) -> None:
    _never_raises(raw, name)


_HEADER_VALUES = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "ana@northwind.example",
            '"Ana" <ana@northwind.example>',
            "support@acme.example",
            "=?utf-8?q?=E2=80=93?= <x@y.example>",
            "=?bogus?q?x?= <x@y.example>",
            "a@b, c@d.example, undisclosed-recipients:;",
            "<m@x>",
            "<a@x> <b@x>",
            "Tue, 04 Mar 2025 10:15:00 +0100",
            "Tue, 04 Mar 2025 10:15:00 +9999",
            "Sun, 31 Dec 9999 23:59:59 -2359",
            "01 Jan 0001 00:00:00 +2359",
            "text/html; charset=x-unknown",
            'multipart/mixed; boundary="b"',
            "base64",
            "attachment; filename=a.pdf",
        ]
    ),
)
_HEADER_NAMES = st.sampled_from(
    [
        "From",
        "To",
        "Cc",
        "Date",
        "Subject",
        "Message-ID",
        "References",
        "In-Reply-To",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Content-Disposition",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(_HEADER_NAMES, _HEADER_VALUES), max_size=12),
    st.sampled_from(
        [
            "From: ana@northwind.example\nDate: Tue, 04 Mar 2025 10:15:00 +0100\n",
            "From: a@acme.example\nTo: b@n.example\nDate: 4 Mar 2025 10:15:00\n",
            "",
        ]
    ),
    st.text(max_size=400) | st.sampled_from(["<p>x</p><![foo[ y ]]>", "--b\n\nx\n--b--\n"]),
)
def test_no_header_makes_it_raise(headers: list[tuple[str, str]], base: str, body: str) -> None:
    lines = "".join(f"{name}: {value}\n" for name, value in headers)
    raw = (base + lines + "\n" + body).encode("utf-8", "surrogatepass")
    _never_raises(raw, "fuzz.eml")


def test_the_cli_imports_once_with_contacts_and_accounts_by_domain(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ingest.db'}"
    env = {"INGEST_DATABASE_URL": url}
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"], env=env).exit_code == 0
    created = runner.invoke(
        main, ["admin", "create-tenant", "acme", "--email-domain", "acme.example"], env=env
    )
    assert created.exit_code == 0, created.output
    box_path = tmp_path / "support.mbox"
    _thread(box_path)
    box = mailbox.mbox(box_path)
    box.add(message(sender="nobody", message_id="<bad@x>"))
    box.close()
    errors = tmp_path / "errors.csv"
    command = ["import-email", str(box_path), "--tenant", "acme", "--errors", str(errors)]
    first = runner.invoke(main, command, env=env)
    assert first.exit_code == 1  # one message refused
    assert "4 messages: 3 accepted, 0 already stored, 1 refused" in first.output
    assert "no usable address in From header: 'nobody'" in errors.read_text()
    again = runner.invoke(main, command, env=env)
    assert "4 messages: 0 accepted, 3 already stored, 1 refused" in again.output

    async def check() -> None:
        db = Database(url)
        try:
            service = IngestService(db, key_pepper="development-only-pepper", subscribers=[])
            tenant = await service.tenant_id("acme") or ""
            [account] = await service.list_customers(tenant, "", 10)
            profile = await service.customer_profile(tenant, account.id)
            assert profile is not None
            assert account.interaction_count == 3  # Ana's and Bo's mail: one account by domain
            assert sorted(c.email or "" for c in profile.contacts) == [
                "ana@northwind.example",
                "bo@northwind.example",
            ]
            assert [(i.scheme, i.value) for i in profile.identifiers] == [
                ("domain", "northwind.example")
            ]
        finally:
            await db.dispose()

    asyncio.run(check())
    # Imported again as if the tenant's own domain were the customer's: the same messages now
    # read the other way. The stored ones stand, and the report says which differ, and how.
    turned = runner.invoke(main, [*command, "--own-domain", "northwind.example"], env=env)
    assert turned.exit_code == 1
    assert "0 accepted, 3 already stored (3 of them differently), 1 refused" in turned.output
    report = errors.read_text()
    assert report.count("differs in kind, direction, employee;") == 3, report
    assert "the stored one stands" in report
    missing = runner.invoke(main, ["import-email", str(tmp_path), "--tenant", "nobody"], env=env)
    assert "no tenant 'nobody'" in missing.output


@pytest.mark.parametrize(
    ("sender", "reason"),
    [
        ("root@localhost", "no usable address in From header: 'root@localhost'"),
        ("<>", "no usable address in From header: '<>'"),
    ],
)
def test_addresses_ingest_would_refuse_are_not_used(sender: str, reason: str) -> None:
    assert problem(message(sender=sender)) == reason
