"""`ingest serve | migrate | admin ...`: the ingest service's command line."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from ingest import bulk, email_import
from ingest.delivery import parse_subscribers
from ingest.main import MIGRATIONS, create_app
from ingest.service import Conflict, IngestService, KeyInfo, PartnerInfo, TenantKey
from ingest.settings import IngestSettings
from relint.auth import ALL_SCOPES, SCOPE_ADMIN, SCOPE_GRAPH_READ, SCOPE_INGEST_WRITE
from relint.cli import load_settings, service_cli
from relint.db import Database

main = service_cli(
    "ingest", settings_factory=IngestSettings, app_factory=create_app, migrations_dir=MIGRATIONS
)


@main.group(help="Manage tenants, partners and their API keys.")
def admin() -> None:
    pass


def _service(settings: IngestSettings) -> tuple[Database, IngestService]:
    db = Database(settings.database_url)
    return db, IngestService(db, key_pepper=settings.key_pepper.get_secret_value(), subscribers=[])


T = TypeVar("T")


def _with_service(use: Callable[[IngestService], Awaitable[T]]) -> T:
    """Runs one use of the service against the configured database, then closes it."""
    settings = load_settings(IngestSettings)

    async def run() -> T:
        db, service = _service(settings)
        try:
            return await use(service)
        finally:
            await db.dispose()

    return asyncio.run(run())


def _tenant_id(service: IngestService, name: str) -> Awaitable[str]:
    async def find() -> str:
        tenant_id = await service.tenant_id(name)
        if tenant_id is None:
            raise click.ClickException(f"no tenant {name!r}")
        return tenant_id

    return find()


@admin.command(
    "create-tenant",
    help="Create a tenant and issue its first admin key (partner 'operator'); everything "
    "inside the tenant is then managed through the admin API with that key.",
)
@click.argument("name")
@click.option("--email-domain", "domains", multiple=True, help="The company's own mail domain.")
def create_tenant(name: str, domains: tuple[str, ...]) -> None:
    async def use(service: IngestService) -> TenantKey:
        try:
            await service.create_tenant(name, domains)
        except Conflict as error:
            raise click.ClickException(str(error)) from error
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--email-domain") from error
        return await service.create_tenant_key(name, "operator", [SCOPE_ADMIN])

    _show(_with_service(use))


@admin.command("tenants", help="List the tenants with their partners and active keys.")
def list_tenants() -> None:
    for info in _with_service(lambda service: service.tenants()):
        domains = ",".join(info.email_domains) or "-"
        click.echo(
            f"{info.id}  {info.name}  partners={info.partners} keys={info.active_keys} "
            f"domains={domains}"
        )


@admin.command("set-email-domains", help="Set the tenant's own mail domains (replaces all).")
@click.option("--tenant", required=True)
@click.argument("domains", nargs=-1)
def set_email_domains(tenant: str, domains: tuple[str, ...]) -> None:
    async def use(service: IngestService) -> list[str]:
        try:
            info = await service.update_tenant(
                await _tenant_id(service, tenant), email_domains=domains
            )
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="DOMAINS") from error
        return info.email_domains

    click.echo(f"{tenant}: {', '.join(_with_service(use)) or 'no own domains'}")


@admin.command("partners", help="List a tenant's partners and their active keys.")
@click.option("--tenant", required=True)
def list_partners(tenant: str) -> None:
    async def use(service: IngestService) -> list[PartnerInfo]:
        return await service.partners(await _tenant_id(service, tenant))

    for partner in _with_service(use):
        state = f"removed {partner.removed_at:%Y-%m-%d}" if partner.removed_at else "active"
        click.echo(f"{partner.id}  {partner.name}  keys={partner.active_keys}  {state}")


@admin.command(
    "keys",
    help="List a tenant's keys, newest first: lookup id (for rotate-key and revoke-key), "
    "partner, scopes, created, state. Never the key itself.",
)
@click.option("--tenant", required=True)
@click.option("--partner", help="Only this partner's keys (its name).")
@click.option("--all", "everything", is_flag=True, help="Revoked keys too.")
def list_keys(tenant: str, partner: str | None, everything: bool) -> None:
    async def use(service: IngestService) -> list[KeyInfo]:
        tenant_id = await _tenant_id(service, tenant)
        if partner is not None and partner not in {
            p.name for p in await service.partners(tenant_id)
        }:
            raise click.ClickException(f"no partner {partner!r} in {tenant!r}")
        return await service.keys(tenant_id)

    for key in _with_service(use):
        if (partner is not None and key.partner != partner) or (
            key.revoked_at is not None and not everything
        ):
            continue
        # Rotation gives the old key no end date: it stays active until it is revoked.
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M:%S}" if key.revoked_at else "active"
        click.echo(
            f"{key.lookup_id}  {key.partner}  {','.join(key.scopes)}  "
            f"created {key.created_at:%Y-%m-%d %H:%M:%S}  {state}"
        )


@admin.command("remove-partner", help="Remove a partner: all its keys are revoked at once.")
@click.option("--tenant", required=True)
@click.argument("partner")
def remove_partner(tenant: str, partner: str) -> None:
    async def use(service: IngestService) -> bool:
        tenant_id = await _tenant_id(service, tenant)
        found = [p for p in await service.partners(tenant_id) if partner in (p.name, p.id)]
        return bool(found) and await service.remove_partner(tenant_id, found[0].id)

    if not _with_service(use):
        raise click.ClickException(f"no active partner {partner!r} in {tenant!r}")
    click.echo(f"removed {partner}; its keys are revoked")


@admin.command(
    "issue-key",
    help="Issue PARTNER of TENANT a key (the partner is created if new). An unknown tenant is "
    "refused, so that a mistyped name creates nothing; --create-tenant creates it.",
)
@click.option("--tenant", required=True)
@click.option("--partner", required=True)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(ALL_SCOPES),
    default=(SCOPE_INGEST_WRITE, SCOPE_GRAPH_READ),
    show_default=True,
)
@click.option(
    "--create-tenant",
    "create",
    is_flag=True,
    help="Create TENANT if there is none of that name (without its admin key and mail "
    "domains: `ingest admin create-tenant` gives both).",
)
def issue_key(tenant: str, partner: str, scopes: tuple[str, ...], create: bool) -> None:
    async def use(service: IngestService) -> TenantKey:
        tenant_id = await service.tenant_id(tenant)
        try:
            if tenant_id is not None:
                return await service.issue_key(tenant_id, partner, list(scopes))
            if create:
                return await service.create_tenant_key(tenant, partner, list(scopes))
        except Conflict as error:
            raise click.ClickException(str(error)) from error
        raise click.ClickException(
            f"no tenant {tenant!r}: create it with `ingest admin create-tenant {tenant}` (see "
            "`ingest admin tenants` for those there are), or pass --create-tenant"
        )

    _show(_with_service(use))


@main.group(help="Outbox entries a subscriber refused for good, set aside: list, replay.")
def outbox() -> None:
    pass


@outbox.command("parked", help="List the parked entries: subscriber, interaction, why.")
@click.option("--subscriber", help="Only this subscriber's (default: all).")
def outbox_parked(subscriber: str | None) -> None:
    for entry in _with_service(lambda service: service.parked(subscriber)):
        click.echo(
            f"{entry.sequence}  {entry.subscriber}  {entry.interaction_id}  "
            f"{entry.parked_at:%Y-%m-%d %H:%M:%S}  {entry.reason}"
        )


@outbox.command(
    "replay", help="Put the parked entries back in the outbox, once what refused them is fixed."
)
@click.option("--subscriber", help="Only this subscriber's (default: all).")
def outbox_replay(subscriber: str | None) -> None:
    count = _with_service(lambda service: service.replay_parked(subscriber))
    click.echo(f"{count} entries back in the outbox")


def _show(issued: TenantKey) -> None:
    click.echo(
        json.dumps(
            {
                "tenant_id": issued.tenant_id,
                "partner_id": issued.partner_id,
                "scopes": issued.scopes,
                "lookup_id": issued.lookup_id,
                "api_key": issued.api_key,
            }
        )
    )
    click.echo("The key is shown once; only its hash is stored.", err=True)


@admin.command(
    "rotate-key",
    help="Issue a successor of a key (same partner and scopes); the old key stays valid "
    "until revoked.",
)
@click.argument("lookup_id")
def rotate_key(lookup_id: str) -> None:
    issued = _with_service(lambda service: service.rotate_key(lookup_id))
    if issued is None:
        raise click.ClickException(f"no active key {lookup_id}")
    _show(issued)


@admin.command("revoke-key", help="Revoke a key by its lookup id (the part after 'rik_').")
@click.argument("lookup_id")
def revoke_key(lookup_id: str) -> None:
    if not _with_service(lambda service: service.revoke_key(lookup_id)):
        raise click.ClickException(f"no active key {lookup_id}")
    click.echo(f"revoked {lookup_id}")


@main.command(
    "import",
    help="Import history from a CSV or JSONL file (FILE, UTF-8 with or without a byte order "
    "mark) for a tenant. Rows that fail are written to the error report with their row "
    "number; a mapping naming a column the file lacks imports nothing; re-running the same "
    "file stores "
    "nothing twice, and reports a row whose source id was stored with other content.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tenant", required=True, help="The tenant's name.")
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML column mapping (see ingest.bulk.ColumnMapping); JSONL in the API's shape "
    "needs none.",
)
@click.option(
    "--errors",
    "errors_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the per-row error report goes (default: FILE.errors.csv).",
)
def import_command(file: Path, tenant: str, mapping: Path | None, errors_path: Path | None) -> None:
    settings = load_settings(IngestSettings)
    try:
        columns = bulk.ColumnMapping.load(mapping) if mapping else bulk.ColumnMapping()
        bulk.check_columns(file, columns)  # before the error report is written over
    except bulk.Refused as error:
        raise click.ClickException(str(error)) from error
    errors_path = errors_path or file.with_name(file.name + ".errors.csv")
    with file.open("rb") as counting:
        total = sum(1 for _ in counting) - (0 if bulk.is_json_lines(file) else 1)

    async def run() -> bulk.ImportReport:
        db = Database(settings.database_url)
        service = IngestService(
            db,
            key_pepper=settings.key_pepper.get_secret_value(),
            subscribers=list(parse_subscribers(settings.subscribers)),
        )
        try:
            tenant_id = await service.tenant_id(tenant)
            if tenant_id is None:
                raise click.ClickException(f"no tenant '{tenant}'")
            with (
                errors_path.open("w", newline="") as report_file,
                click.progressbar(length=max(total, 0), label=f"importing {file.name}") as bar,
            ):
                writer = csv.DictWriter(report_file, fieldnames=["row", "field", "message"])
                writer.writeheader()
                return await bulk.import_file(service, tenant_id, file, columns, writer, bar)
        finally:
            await db.dispose()

    started = time.perf_counter()
    report = asyncio.run(run())
    seconds = time.perf_counter() - started
    click.echo(
        f"{report.rows} rows in {seconds:.1f}s ({report.rows / max(seconds, 1e-9):.0f}/s): "
        f"{report.accepted} accepted, {report.duplicates} already stored"
        + (f" ({report.differing} of them differently)" if report.differing else "")
        + f", {report.rejected} rejected"
        + (f" (see {errors_path})" if report.rejected or report.differing else "")
    )
    if report.rejected or report.differing:
        sys.exit(1)


@main.command(
    "import-email",
    help="Import .eml files and mbox archives (PATH: a file or a directory) for a tenant: "
    "each message becomes an email interaction, inbound or outbound by the tenant's own mail "
    "domains, its external participants contacts. Refused messages go to the error report; "
    "re-running stores nothing twice (Message-IDs are the source ids).",
)
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--tenant", required=True, help="The tenant's name.")
@click.option(
    "--own-domain",
    "own_domains",
    multiple=True,
    help="The company's own mail domain (repeatable); default: the tenant's email domains.",
)
@click.option(
    "--errors",
    "errors_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the per-message error report goes (default: ./email-import.errors.csv).",
)
def import_email_command(
    path: Path, tenant: str, own_domains: tuple[str, ...], errors_path: Path | None
) -> None:
    settings = load_settings(IngestSettings)
    errors_path = errors_path or Path("email-import.errors.csv")
    total = email_import.count_messages(path) or 0  # unreadable: reported per file below

    async def run() -> email_import.EmailReport:
        db = Database(settings.database_url)
        service = IngestService(
            db,
            key_pepper=settings.key_pepper.get_secret_value(),
            subscribers=list(parse_subscribers(settings.subscribers)),
        )
        try:
            tenant_id = await service.tenant_id(tenant)
            if tenant_id is None:
                raise click.ClickException(f"no tenant {tenant!r}")
            info = await service.tenant(tenant_id)
            domains = list(own_domains) or (info.email_domains if info else [])
            if not domains:
                raise click.ClickException(
                    f"tenant {tenant!r} has no own mail domains: pass --own-domain, or set "
                    "them with `ingest admin set-email-domains`"
                )
            with (
                errors_path.open("w", newline="") as report_file,
                click.progressbar(length=total, label=f"importing {path.name}") as bar,
            ):
                writer = csv.DictWriter(report_file, fieldnames=["message", "field", "reason"])
                writer.writeheader()
                return await email_import.import_mailbox(
                    service, tenant_id, path, domains, writer, bar
                )
        finally:
            await db.dispose()

    report = asyncio.run(run())
    click.echo(
        f"{report.messages} messages: {report.accepted} accepted, {report.duplicates} already "
        "stored"
        + (f" ({report.differing} of them differently)" if report.differing else "")
        + f", {report.rejected} refused"
        + (f" (see {errors_path})" if report.rejected or report.differing else "")
        + f"; {report.contacts} participants recorded as contacts"
    )
    if report.rejected or report.differing:
        sys.exit(1)
