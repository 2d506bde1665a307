"""Bulk import of history from CSV or JSON lines: rows mapped onto interactions by a column
mapping, validated like the API does, stored in batches through the same use case (so each
gets its outbox entries), with a per-row error report. A row without a source id of its own
gets `<file name>:<row number>`, so running the same import again stores nothing twice.

Files are read as UTF-8, with or without a byte order mark (Excel's "CSV UTF-8" has one). A
row holding bytes that are not UTF-8 is reported like any other bad row, and the rest of the
file imported: it is read with `surrogateescape`, which keeps each such byte as a lone
surrogate (U+DC80…U+DCFF) that no valid UTF-8 text can contain."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ingest.schemas import ContactRef, CustomerRef, InteractionIn
from ingest.service import IngestService

BATCH = 1000
# A JSON lines file has no header: the keys a mapping names must appear in these first rows.
SAMPLE_ROWS = 1000
_JSON_LINES = (".jsonl", ".ndjson")
ENCODING_FIELD = "(encoding)"


class Refused(ValueError):
    """The file cannot be imported as it is; nothing was imported."""


class MappingError(Refused):
    """The mapping file itself is wrong, or names columns the file lacks."""


@dataclass(frozen=True)
class ColumnMapping:
    """Which column feeds which interaction field, defaults, and columns kept as attributes.

    The YAML file:

        source: legacy-crm            # the source system (default: the file name)
        columns:                      # interaction field: column
          customer.external_id: account_id
          customer.name: account_name
          contact.email: email        # also customer.email, customer.domain,
                                      # customer.ids.<source>, contact.name, ...
          occurred_at: date
          kind: type
        defaults:                     # interaction field: value, for every row
          channel: sales
          direction: inbound
        attributes: [region, segment] # columns kept under attributes
    """

    columns: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    attributes: tuple[str, ...] = ()
    source: str | None = None

    @classmethod
    def load(cls, path: Path) -> ColumnMapping:
        try:
            document = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise MappingError(f"{path}: not YAML: {error}") from error
        if not isinstance(document, dict):
            raise MappingError(f"{path}: expected a mapping with columns, defaults, attributes")
        unknown = set(document) - {"columns", "defaults", "attributes", "source"}
        if unknown:
            raise MappingError(f"{path}: unknown keys {sorted(unknown)}")
        columns = document.get("columns") or {}
        defaults = document.get("defaults") or {}
        attributes = document.get("attributes") or []
        if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
            raise MappingError(f"{path}: columns must map interaction fields to column names")
        if not isinstance(defaults, dict):
            raise MappingError(f"{path}: defaults must map interaction fields to values")
        if not isinstance(attributes, list) or not all(isinstance(a, str) for a in attributes):
            raise MappingError(f"{path}: attributes must be a list of column names")
        wrong = sorted(f for f in set(columns) | set(defaults) if not _is_field(f))
        if wrong:
            raise MappingError(
                f"{path}: not interaction fields: {wrong} (nested ones are written "
                "customer.external_id, customer.email, customer.ids.<source>, contact.email, …)"
            )
        source = document.get("source")
        return cls(dict(columns), dict(defaults), tuple(attributes), source)

    def apply(self, row: dict[str, Any]) -> dict[str, Any]:
        """The interaction a row describes (unvalidated); without columns, the row itself."""
        if not self.columns and not self.defaults and not self.attributes:
            return dict(row)
        item: dict[str, Any] = {}
        for name, value in [
            *self.defaults.items(),
            *((f, row.get(c)) for f, c in self.columns.items()),
        ]:
            if value in (None, ""):
                continue
            *outer, last = name.split(".")
            into = item
            for part in outer:  # customer.ids.hubspot: {"customer": {"ids": {"hubspot": …}}}
                into = into.setdefault(part, {})
            into[last] = value
        kept = {a: row[a] for a in self.attributes if row.get(a) not in (None, "")}
        if kept:
            item["attributes"] = {**item.get("attributes", {}), **kept}
        return item


# The nested fields a column can feed, by the reference they belong to.
_NESTED = {
    "customer": set(CustomerRef.model_fields) - {"ids"},
    "contact": set(ContactRef.model_fields),
}


def _is_field(name: str) -> bool:
    """Whether a mapping may name `name`: an interaction's field, a field of its customer or
    contact reference, or one of the customer's source ids (`customer.ids.<source>`)."""
    head, _, rest = name.partition(".")
    if not rest:
        return name in InteractionIn.model_fields
    if head == "customer" and rest.startswith("ids."):
        return rest.count(".") == 1 and len(rest) > len("ids.")
    return rest in _NESTED.get(head, set())


def _undecodable(text: str) -> bytes:
    """The bytes that were not UTF-8 where `text` was read with `surrogateescape`."""
    return bytes(ord(c) - 0xDC00 for c in text if "\udc80" <= c <= "\udcff")


def _not_utf8(found: bytes, where: str = "") -> str:
    shown = [f"0x{b:02x}" for b in dict.fromkeys(found)][:8]
    return (
        f"not UTF-8: {'byte' if len(shown) == 1 else 'bytes'} {', '.join(shown)}{where}; save "
        "the file as UTF-8 (with or without a byte order mark) and import it again"
    )


def is_json_lines(path: Path) -> bool:
    """Whether the file is read as JSON lines (else CSV), by its suffix."""
    return path.suffix.lower() in _JSON_LINES


def _header(path: Path, text: Iterable[str]) -> csv.DictReader[str]:
    rows = csv.DictReader(text)
    found = _undecodable("".join(rows.fieldnames or []))
    if found:
        raise Refused(f"{path.name}: the header line is {_not_utf8(found)}; nothing was imported")
    return rows


def check_columns(path: Path, mapping: ColumnMapping) -> None:
    """Raises `MappingError` when the mapping names a column the file does not have: read as
    empty, it would store every row without its value, and a re-run with the mapping fixed
    could not repair them (each source id is stored once). A CSV file's header is compared;
    a JSON lines file has none, so a key is missing when no object of its first
    `SAMPLE_ROWS` rows has it (a key only some rows have is an optional value)."""
    named = set(mapping.columns.values()) | set(mapping.attributes)
    if is_json_lines(path):
        if not named:
            return
        seen: set[str] = set()
        objects = 0
        for _, row in read_rows(path):
            if isinstance(row, dict):
                seen.update(row)
                objects += 1
                if objects >= SAMPLE_ROWS:
                    break
        missing = sorted(named - seen)
        if objects and missing:
            raise MappingError(
                f"{path.name}: the mapping names keys no row of the first {SAMPLE_ROWS} has: "
                f"{missing} (keys found: {sorted(seen)}); nothing was imported"
            )
        return
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as text:
        header = list(_header(path, text).fieldnames or [])
    missing = sorted(named - set(header))
    if missing:
        raise MappingError(
            f"{path.name}: the mapping names columns the file lacks: {missing} (the file's "
            f"columns: {header}); nothing was imported"
        )


def _csv_rows(rows: csv.DictReader[str]) -> Iterator[dict[str | Any, Any] | csv.Error]:
    """Each row, or the error that made one unreadable (a field beyond the csv module's
    limit, say): the reader goes on with the next row after it."""
    while True:
        try:
            yield next(rows)
        except StopIteration:
            return
        except csv.Error as error:
            yield error


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | tuple[str, str]]]:
    """(row number, the row) for each data row; a row that cannot be read is (field, reason).
    Raises `Refused` for a CSV header that is not UTF-8."""
    if is_json_lines(path):
        with path.open(encoding="utf-8-sig", errors="surrogateescape") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                if found := _undecodable(line):
                    yield number, (ENCODING_FIELD, _not_utf8(found))
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    yield number, ("(row)", f"not JSON: {error}")
                    continue
                yield number, row if isinstance(row, dict) else ("(row)", "not a JSON object")
        return
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as text:
        for number, row in enumerate(_csv_rows(_header(path, text)), start=2):  # 1: the header
            if isinstance(row, csv.Error):
                yield number, ("(row)", f"not readable as CSV: {row}")
                continue
            # Values past the header's last column come under the key None, as a list.
            undecodable = {
                k: _undecodable("".join(v) if isinstance(v, list) else v or "")
                for k, v in row.items()
            }
            bad = {k: b for k, b in undecodable.items() if b}
            if bad:
                columns = ", ".join(
                    "a value past the last column" if k is None else repr(k) for k in bad
                )
                yield number, (ENCODING_FIELD, _not_utf8(b"".join(bad.values()), f" in {columns}"))
                continue
            yield number, {k: v for k, v in row.items() if k is not None}


def parse_rows(
    path: Path, mapping: ColumnMapping
) -> Iterator[tuple[int, InteractionIn | list[tuple[str, str]]]]:
    """(row number, its interaction) for each data row, validated as the API does, or
    (row number, its problems as (field, message)) for a row that is not one. A row without a
    source id of its own gets `<file name>:<row number>`."""
    source = mapping.source or path.stem
    for number, row in read_rows(path):
        if isinstance(row, tuple):
            yield number, [row]
            continue
        raw = mapping.apply(row)
        raw.setdefault("source", source)
        raw.setdefault("source_id", f"{path.name}:{number}")
        try:
            yield number, InteractionIn.model_validate(raw)
        except ValidationError as error:
            yield (
                number,
                [
                    (".".join(str(part) for part in detail["loc"]) or "(row)", detail["msg"])
                    for detail in error.errors(include_url=False)
                ],
            )


@dataclass
class ImportReport:
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    # Of the duplicates, those whose source id was stored for different content: the stored
    # interaction stands, and the row is reported (a mapping fixed after a first run, say).
    differing: int = 0
    rejected: int = 0


async def import_file(
    service: IngestService,
    tenant_id: str,
    path: Path,
    mapping: ColumnMapping,
    errors: csv.DictWriter[str],
    progress: Any = None,
) -> ImportReport:
    """Imports the file's rows, writing each row refused to `errors`. The caller has checked
    the mapping against the file (`check_columns`, before it writes the report); a header
    that is not UTF-8 raises `Refused` before anything is stored."""
    report = ImportReport()
    batch: list[tuple[int, InteractionIn]] = []

    def reject(number: int, problems: Iterable[tuple[str, str]]) -> None:
        # A row is rejected once, whatever number of problems the report lists for it.
        report.rejected += 1
        for where, message in problems:
            errors.writerow({"row": number, "field": where, "message": message})

    async def flush() -> None:
        if not batch:
            return
        for result in await service.record(tenant_id, batch, compare_repeats=True):
            if result.status == "accepted":
                report.accepted += 1
            elif result.status == "duplicate":
                report.duplicates += 1
                if result.differs_in:
                    report.differing += 1
                    errors.writerow(
                        {
                            "row": result.index,
                            "field": "source_id",
                            "message": f"already stored as interaction {result.id}, which "
                            f"differs in {', '.join(result.differs_in)}; the stored one stands "
                            "(a change is a new interaction, under a new source id)",
                        }
                    )
            else:
                reject(result.index, ((p.path, p.message) for p in result.errors))
        batch.clear()

    for number, parsed in parse_rows(path, mapping):
        report.rows += 1
        if progress is not None:
            progress.update(1)
        if isinstance(parsed, list):
            reject(number, parsed)
            continue
        batch.append((number, parsed))
        if len(batch) >= BATCH:
            await flush()
    await flush()
    return report
