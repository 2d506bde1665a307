"""`ingest import`: CSV with a column mapping and JSONL in the API's shape, a per-row error
report, outbox entries for every subscriber, and re-runs that store nothing twice."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.bulk import ColumnMapping
from ingest.cli import main
from ingest.schemas import InteractionIn
from relint_devstack.demo import DemoConfig, generate

MAPPING = """
source: legacy-crm
columns:
  customer.external_id: account
  customer.name: account_name
  occurred_at: date
  kind: type
  amount: value
  source_id: id
defaults:
  channel: sales
  direction: inbound
  amount_type: revenue
  currency: EUR
attributes: [region]
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    values = {
        "INGEST_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'ingest.db'}",
        "INGEST_SUBSCRIBERS": "scoring=127.0.0.1:9,playbook=127.0.0.1:8",
    }
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"], env=values).exit_code == 0
    issued = runner.invoke(
        main, ["admin", "issue-key", "--tenant", "acme", "--partner", "import"], env=values
    )
    assert issued.exit_code == 0, issued.output
    return values


def _outbox(env: dict[str, str]) -> int:
    path = env["INGEST_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as connection:
        return int(connection.execute("SELECT count(*) FROM outbox_entry").fetchone()[0])


def test_a_csv_with_a_mapping_is_imported_and_its_bad_rows_reported(
    tmp_path: Path, env: dict[str, str]
) -> None:
    data = tmp_path / "deals.csv"
    data.write_text(
        "id,account,account_name,date,type,value,region\n"
        "d1,acc-1,Acme,2025-03-01T10:00:00+01:00,purchase,120.00,EU\n"
        "d2,acc-2,Brix,2025-03-02T10:00:00+01:00,purchase,80.50,US\n"
        "d3,acc-1,Acme,not a date,purchase,10,EU\n"
        "d4,acc-3,Cora,2025-03-03T10:00:00Z,Teleport,5,EU\n"
    )
    mapping = tmp_path / "deals.yaml"
    mapping.write_text(MAPPING)
    args = ["import", str(data), "--tenant", "acme", "--mapping", str(mapping)]
    first = CliRunner().invoke(main, args, env=env)
    assert first.exit_code == 1, first.output
    assert "4 rows" in first.output
    assert "2 accepted, 0 already stored, 2 rejected" in first.output
    with (tmp_path / "deals.csv.errors.csv").open() as report:
        rows = list(csv.DictReader(report))
    assert [(r["row"], r["field"]) for r in rows] == [("4", "occurred_at"), ("5", "kind")]
    assert "is not a kind of channel 'sales'" in rows[1]["message"]
    assert _outbox(env) == 2 * 2  # two interactions, two subscribers

    again = CliRunner().invoke(main, args, env=env)
    assert "0 accepted, 2 already stored, 2 rejected" in again.output
    assert _outbox(env) == 4

    # The file fixed after the first run: d1's value changed under the same source id. The
    # stored interaction stands, and the row is reported (exit 1) rather than skipped unseen.
    data.write_text(data.read_text().replace("purchase,120.00,EU", "purchase,130.00,EU"))
    changed = CliRunner().invoke(main, args, env=env)
    assert changed.exit_code == 1, changed.output
    assert "0 accepted, 2 already stored (1 of them differently), 2 rejected" in changed.output
    with (tmp_path / "deals.csv.errors.csv").open() as report:
        rows = list(csv.DictReader(report))
    # Rows refused while read are written at once, what the store found per batch, in order.
    assert [(r["row"], r["field"]) for r in rows] == [
        ("4", "occurred_at"),
        ("2", "source_id"),
        ("5", "kind"),
    ]
    assert "differs in amount; the stored one stands" in rows[1]["message"]
    assert _outbox(env) == 4


def test_columns_feed_any_field_of_the_customer_and_contact_references(tmp_path: Path) -> None:
    """A mail export: the contact's address and name, the account's domain and its CRM id
    each from a column; the interaction they make is valid as the API takes it."""
    mapping_file = tmp_path / "mail.yaml"
    mapping_file.write_text(
        "columns:\n  contact.email: from\n  contact.name: sender\n"
        "  customer.domain: company_domain\n  customer.ids.hubspot: hubspot_id\n"
        "  occurred_at: sent\n"
        "defaults:\n  channel: email\n  kind: email_received\n  direction: inbound\n"
    )
    mapping = ColumnMapping.load(mapping_file)
    raw = mapping.apply(
        {
            "from": "ana@northwind.example",
            "sender": "Ana Lima",
            "company_domain": "northwind.example",
            "hubspot_id": "8812734",
            "sent": "2026-03-04T10:15:00+01:00",
        }
    )
    assert raw["contact"] == {"email": "ana@northwind.example", "name": "Ana Lima"}
    assert raw["customer"] == {"domain": "northwind.example", "ids": {"hubspot": "8812734"}}
    item = InteractionIn.model_validate(raw)
    assert item.customer is not None
    assert item.customer.ids == {"hubspot": "8812734"}


def test_jsonl_in_the_api_shape_needs_no_mapping(tmp_path: Path, env: dict[str, str]) -> None:
    _, items = generate(DemoConfig(customers=5, seed=1))
    data = tmp_path / "history.jsonl"
    lines = [json.dumps({k: v for k, v in i.items() if k != "source_id"}) for i in items]
    data.write_text("\n".join([*lines, "{broken", "[1, 2]"]) + "\n")
    result = CliRunner().invoke(main, ["import", str(data), "--tenant", "acme"], env=env)
    assert f"{len(lines)} accepted" in result.output
    assert "2 rejected" in result.output
    rerun = CliRunner().invoke(main, ["import", str(data), "--tenant", "acme"], env=env)
    assert f"0 accepted, {len(lines)} already stored" in rerun.output


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ("columns: [a, b]", "columns must map"),
        ("columns: {colour: c}", "not interaction fields: ['colour']"),
        ("columns: {customer.colour: c}", "not interaction fields: ['customer.colour']"),
        ("columns: {contact.ids.crm: c}", "not interaction fields: ['contact.ids.crm']"),
        ("defaults: {customer.ids.: x}", "not interaction fields: ['customer.ids.']"),
        ("colums: {}", "unknown keys ['colums']"),
        ("columns: {kind: [", "not YAML"),
    ],
)
def test_a_wrong_mapping_imports_nothing(
    tmp_path: Path, env: dict[str, str], mapping: str, message: str
) -> None:
    data = tmp_path / "rows.csv"
    data.write_text("a,b\n1,2\n")
    mapping_file = tmp_path / "map.yaml"
    mapping_file.write_text(mapping)
    result = CliRunner().invoke(
        main, ["import", str(data), "--tenant", "acme", "--mapping", str(mapping_file)], env=env
    )
    assert result.exit_code != 0
    assert message in result.output
    assert _outbox(env) == 0


def test_an_unknown_tenant_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text("{}\n")
    result = CliRunner().invoke(main, ["import", str(data), "--tenant", "nobody"], env=env)
    assert result.exit_code != 0
    assert "no tenant 'nobody'" in result.output
