"""Email import: messages from .eml files and mbox archives read as email interactions, and
the CLI storing them with their participants as contacts, once however often it runs."""

from __future__ import annotations

import asyncio
import mailbox
from email.message import EmailMessage
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.cli import main
from ingest.email_import import EmailInteraction, EmailProblem, import_emails, to_interaction
from ingest.service import IngestService
from relint.db import Database

OWN = ["acme.example"]


def message(
    sender: str = '"Ana Lima" <ana@northwind.example>',
    to: str = "support@acme.example",
    subject: str = "Export failing",
    body: str = "The export keeps failing since the update.",
    message_id: str | None = "<m1@northwind.example>",
    date: str | None = "Tue, 03 Mar 2026 10:15:00 +0100",
    **headers: str,
) -> EmailMessage:
    found = EmailMessage()
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


def read(found: EmailMessage, where: str = "m.eml") -> EmailInteraction:
    result = to_interaction(where, bytes(found), OWN)
    assert isinstance(result, EmailInteraction), result
    return result


def test_an_inbound_message() -> None:
    found = read(message(Cc="bo@northwind.example, desk@acme.example"))
    item = found.interaction
    assert item["customer"] == {"email": "ana@northwind.example"}
    assert item["contact"] == {"email": "ana@northwind.example", "name": "Ana Lima"}
    assert (item["channel"], item["kind"], item["direction"]) == (
        "email",
        "email_received",
        "inbound",
    )
    assert item["occurred_at"] == "2026-03-03T10:15:00+01:00"
    assert item["employee"] == "support@acme.example"
    assert item["text"] == "The export keeps failing since the update."
    assert (item["source"], item["source_id"]) == ("email", "m1@northwind.example")
    attributes = item["attributes"]
    assert attributes["subject"] == "Export failing"
    assert attributes["thread_id"] == "m1@northwind.example"
    assert [p["email"] for p in attributes["participants"]] == [
        "ana@northwind.example",
        "support@acme.example",
        "bo@northwind.example",
        "desk@acme.example",
    ]
    assert [p.own for p in found.participants] == [False, True, False, True]


def test_an_outbound_message_from_a_subdomain_names_its_first_external_recipient() -> None:
    found = read(
        message(
            sender="rep@mail.acme.example",
            to="boss@acme.example, ana@northwind.example",
            subject="=?utf-8?q?Angebot_f=C3=BCr_Sie?=",
        )
    )
    item = found.interaction
    assert (item["kind"], item["direction"]) == ("email_sent", "outbound")
    assert item["customer"] == {"email": "ana@northwind.example"}
    assert item["employee"] == "rep@mail.acme.example"
    assert item["attributes"]["subject"] == "Angebot für Sie"


def test_quotes_signatures_and_html_are_left_out_of_the_snippet() -> None:
    reply = read(
        message(
            body="Thanks, that works.\n\nOn Mon, 2 Mar 2026 Ana wrote:\n> old text\n> more\n"
            "-- \nAna Lima\nNorthwind",
        )
    )
    assert reply.interaction["text"] == "Thanks, that works."
    html = message(body="")
    html.set_content(
        "<html><body><p>Hello <b>there</b></p><script>x()</script></body></html>", subtype="html"
    )
    assert read(html).interaction["text"] == "Hello there"
    attached = message()
    attached.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="a.pdf")
    assert read(attached).interaction["attributes"]["attachments"] == 1


def test_a_message_without_an_id_gets_a_stable_one() -> None:
    raw = message(message_id=None)
    first, second = read(raw), read(raw)
    assert first.interaction["source_id"].startswith("sha256:")
    assert first.interaction["source_id"] == second.interaction["source_id"]


def test_unusable_messages_are_named_with_the_reason() -> None:
    cases = {
        "no From header with an address": message(sender="undisclosed"),
        "no Date header": message(date=None),
        "internal message: no external participant": message(sender="a@acme.example"),
    }
    for reason, found in cases.items():
        assert to_interaction("x.eml", bytes(found), OWN) == EmailProblem("x.eml", reason)
    bad_date = to_interaction("x.eml", bytes(message(date="yesterday-ish")), OWN)
    assert isinstance(bad_date, EmailProblem)
    assert bad_date.reason.startswith("unparseable Date header")


def _mailbox(path: Path) -> None:
    box = mailbox.mbox(path)
    box.add(message(message_id="<t1@northwind.example>"))
    box.add(
        message(
            sender="support@acme.example",
            to="ana@northwind.example",
            subject="Re: Export failing",
            body="We are on it.",
            message_id="<t2@acme.example>",
            date="Tue, 03 Mar 2026 11:00:00 +0100",
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
            date="Wed, 04 Mar 2026 09:00:00 +0100",
            In_Reply_To="<t2@acme.example>",
            References="<t1@northwind.example> <t2@acme.example>",
        )
    )
    box.add(message(sender="nobody", message_id="<bad@x>"))
    box.close()


def test_a_directory_of_mboxes_and_eml_files_keeps_its_threads(tmp_path: Path) -> None:
    _mailbox(tmp_path / "support.mbox")
    (tmp_path / "single.eml").write_bytes(
        bytes(message(message_id="<solo@globex.example>", sender="x@globex.example"))
    )
    found = list(import_emails(tmp_path, OWN))
    assert [f.where.rsplit("/", 1)[1] for f in found] == [
        "single.eml",
        "support.mbox#1",
        "support.mbox#2",
        "support.mbox#3",
        "support.mbox#4",
    ]
    threads = [f.interaction["attributes"]["thread_id"] for f in found[1:4]]  # type: ignore[union-attr]
    assert threads == ["t1@northwind.example"] * 3
    assert isinstance(found[4], EmailProblem)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000) | st.text(max_size=2000).map(str.encode))
def test_no_input_makes_it_raise(raw: bytes) -> None:
    result = to_interaction("fuzz.eml", raw, OWN)
    assert isinstance(result, EmailInteraction | EmailProblem)


def test_the_cli_imports_once_with_contacts_and_accounts_by_domain(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ingest.db'}"
    env = {"INGEST_DATABASE_URL": url}
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"], env=env).exit_code == 0
    created = runner.invoke(
        main, ["admin", "create-tenant", "acme", "--email-domain", "acme.example"], env=env
    )
    assert created.exit_code == 0, created.output
    _mailbox(tmp_path / "support.mbox")
    errors = tmp_path / "errors.csv"
    first = runner.invoke(
        main,
        [
            "import-email",
            str(tmp_path / "support.mbox"),
            "--tenant",
            "acme",
            "--errors",
            str(errors),
        ],
        env=env,
    )
    assert first.exit_code == 1  # one message refused
    assert "4 messages: 3 accepted, 0 already stored, 1 refused" in first.output
    assert "no From header with an address" in errors.read_text()
    again = runner.invoke(
        main,
        [
            "import-email",
            str(tmp_path / "support.mbox"),
            "--tenant",
            "acme",
            "--errors",
            str(errors),
        ],
        env=env,
    )
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
    missing = runner.invoke(main, ["import-email", str(tmp_path), "--tenant", "nobody"], env=env)
    assert "no tenant 'nobody'" in missing.output
