"""`ingest serve | migrate | admin ...`: the ingest service's command line."""

from __future__ import annotations

import asyncio
import json

import click

from ingest.main import MIGRATIONS, create_app
from ingest.service import IngestService, TenantKey
from ingest.settings import IngestSettings
from relint.auth import ALL_SCOPES, SCOPE_GRAPH_READ, SCOPE_INGEST_WRITE
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


@admin.command("issue-key", help="Create TENANT and PARTNER if new, and issue the partner a key.")
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
def issue_key(tenant: str, partner: str, scopes: tuple[str, ...]) -> None:
    settings = load_settings(IngestSettings)

    async def run() -> TenantKey:
        db, service = _service(settings)
        try:
            return await service.create_tenant_key(tenant, partner, list(scopes))
        finally:
            await db.dispose()

    _show(asyncio.run(run()))


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
    settings = load_settings(IngestSettings)

    async def run() -> TenantKey | None:
        db, service = _service(settings)
        try:
            return await service.rotate_key(lookup_id)
        finally:
            await db.dispose()

    issued = asyncio.run(run())
    if issued is None:
        raise click.ClickException(f"no active key {lookup_id}")
    _show(issued)


@admin.command("revoke-key", help="Revoke a key by its lookup id (the part after 'rik_').")
@click.argument("lookup_id")
def revoke_key(lookup_id: str) -> None:
    settings = load_settings(IngestSettings)

    async def run() -> bool:
        db, service = _service(settings)
        try:
            return await service.revoke_key(lookup_id)
        finally:
            await db.dispose()

    if not asyncio.run(run()):
        raise click.ClickException(f"no active key {lookup_id}")
    click.echo(f"revoked {lookup_id}")
