"""`ingest import`: CSV with a column mapping and JSONL in the API's shape, a per-row error
report, outbox entries for every subscriber, and re-runs that store nothing twice."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

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
    created = runner.invoke(main, ["admin", "create-tenant", "acme"], env=values)
    assert created.exit_code == 0, created.output
    return values


def _outbox(env: dict[str, str]) -> int:
    path = env["INGEST_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as connection:
        return int(connection.execute("SELECT count(*) FROM outbox_entry").fetchone()[0])


def _source_ids(env: dict[str, str]) -> list[str]:
    path = env["INGEST_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT source_id FROM interaction ORDER BY source_id")
        return [str(row[0]) for row in rows]


def _report(path: Path) -> list[dict[str, str]]:
    with path.open() as report:
        return list(csv.DictReader(report))


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


DEALS = (
    "id,account,account_name,date,type,value,region\n"
    "d1,acc-1,Acme,2025-03-01T10:00:00+01:00,purchase,120.00,EU\n"
    "d2,acc-2,Brix,2025-03-02T10:00:00+01:00,purchase,80.50,US\n"
)


def _import(env: dict[str, str], data: Path, mapping: str | None = MAPPING) -> Result:
    args = ["import", str(data), "--tenant", "acme"]
    if mapping is not None:
        mapping_file = data.with_suffix(".yaml")
        mapping_file.write_text(mapping)
        args += ["--mapping", str(mapping_file)]
    return CliRunner().invoke(main, args, env=env)


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        ("id,acount,account_name,date,type,value,region", "['account']"),  # a typo
        ("id,account,account_name,date,type,value", "['region']"),  # an attribute's column
        ("id,account,account_name,Date,type,amount,region", "['date', 'value']"),
    ],
)
def test_a_column_the_header_lacks_refuses_the_whole_import(
    tmp_path: Path, env: dict[str, str], header: str, missing: str
) -> None:
    """Read with an empty value, the rows would be stored without it, and a re-run with the
    mapping fixed could not repair them: nothing is imported, and both sides are named."""
    data = tmp_path / "deals.csv"
    data.write_text(header + "\n" + DEALS.split("\n", 1)[1])
    result = _import(env, data)
    assert result.exit_code != 0, result.output
    assert f"the mapping names columns the file lacks: {missing}" in result.output
    assert f"the file's columns: {header.split(',')}" in result.output
    assert "Traceback" not in result.output
    assert (_outbox(env), _source_ids(env)) == (0, [])


def test_a_jsonl_key_the_mapping_names_must_appear_in_its_first_rows(
    tmp_path: Path, env: dict[str, str]
) -> None:
    base = {"date": "2025-03-01T10:00:00Z", "type": "purchase", "value": "5"}
    rows = [{"id": "j1", "account": "acc-1", **base}, {"id": "j2", "account": "acc-2", **base}]
    data = tmp_path / "deals.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    refused = _import(env, data)
    assert refused.exit_code != 0, refused.output
    assert "names keys no row of the first 1000 has: ['account_name', 'region']" in refused.output
    assert _source_ids(env) == []
    # A key some rows have and others lack is an optional value, as in the API's shape.
    rows[1] |= {"account_name": "Brix", "region": "US"}
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    imported = _import(env, data)
    assert "2 accepted" in imported.output, imported.output
    assert _source_ids(env) == ["j1", "j2"]


def test_a_byte_order_mark_does_not_stick_to_the_first_column(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Excel's "CSV UTF-8" starts with a byte order mark; the first column is still `id`."""
    data = tmp_path / "deals.csv"
    data.write_bytes(b"\xef\xbb\xbf" + DEALS.encode())
    result = _import(env, data)
    assert result.exit_code == 0, result.output
    assert "2 accepted" in result.output
    assert _source_ids(env) == ["d1", "d2"]


def test_a_row_that_is_not_utf8_is_reported_and_the_others_imported(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ingest.bulk.BATCH", 1)  # rows before and after it already stored
    data = tmp_path / "deals.csv"
    data.write_bytes(
        DEALS.encode()
        + "d3,acc-3,Café,2025-03-03T10:00:00Z,purchase,5,EU\n".encode("latin-1")
        + b"d4,acc-4,Dora,2025-03-04T10:00:00Z,purchase,6,EU\n"
    )
    result = _import(env, data)
    assert result.exit_code == 1, result.output
    assert "4 rows" in result.output
    assert "3 accepted, 0 already stored, 1 rejected" in result.output
    [problem] = _report(tmp_path / "deals.csv.errors.csv")
    assert (problem["row"], problem["field"]) == ("4", "(encoding)")
    assert "not UTF-8" in problem["message"]
    assert "0xe9" in problem["message"]
    assert "account_name" in problem["message"]
    assert _source_ids(env) == ["d1", "d2", "d4"]

    # A header that is not UTF-8 names no column rightly: the file is refused whole.
    header = tmp_path / "header.csv"
    header.write_bytes(b"id,account,account_name,date,type,val\xe9e,region\nd9,a,b,c,d,e,f\n")
    refused = _import(env, header)
    assert refused.exit_code != 0
    assert "header.csv: the header line is not UTF-8: byte 0xe9" in refused.output
    assert _source_ids(env) == ["d1", "d2", "d4"]

    lines = tmp_path / "history.jsonl"
    lines.write_bytes(b'{"id": "j1", "account": "acc-1"}\n{"id": "j2", "account": "Caf\xe9"}\n')
    jsonl = _import(env, lines, "columns: {source_id: id, customer.external_id: account}")
    assert "2 rows" in jsonl.output, jsonl.output
    assert "2 rejected" in jsonl.output  # j1 lacks its time, kind...; j2 is not UTF-8
    assert [p["field"] for p in _report(tmp_path / "history.jsonl.errors.csv")][-1] == (
        "(encoding)"
    )


def test_a_row_the_csv_reader_cannot_read_is_reported_and_the_others_imported(
    tmp_path: Path, env: dict[str, str]
) -> None:
    data = tmp_path / "deals.csv"
    huge = "x" * (csv.field_size_limit() + 1)
    data.write_text(
        DEALS
        + f'd3,acc-3,"{huge}",2025-03-03T10:00:00Z,purchase,5,EU\n'
        + "d4,acc-4,Dora,2025-03-04T10:00:00Z,purchase,6,EU\n"
    )
    result = _import(env, data)
    assert result.exit_code == 1, result.output
    assert "3 accepted, 0 already stored, 1 rejected" in result.output
    [problem] = _report(tmp_path / "deals.csv.errors.csv")
    assert (problem["row"], problem["field"]) == ("4", "(row)")
    assert problem["message"].startswith("not readable as CSV: field larger than field limit")
    assert _source_ids(env) == ["d1", "d2", "d4"]


def test_a_row_with_several_problems_counts_once(tmp_path: Path, env: dict[str, str]) -> None:
    data = tmp_path / "deals.csv"
    data.write_text(DEALS + "d3,acc-3,Cora,not a date,purchase,not a number,EU\n")
    result = _import(env, data)
    assert "3 rows" in result.output
    assert "2 accepted, 0 already stored, 1 rejected" in result.output
    report = _report(tmp_path / "deals.csv.errors.csv")
    assert [(p["row"], p["field"]) for p in report] == [("4", "occurred_at"), ("4", "amount")]
