"""`scoring serve | migrate | recompute`: the scoring service's command line."""

from __future__ import annotations

import asyncio

import click

from relint.cli import load_settings, service_cli
from relint.db import Database
from scoring.main import MIGRATIONS, create_app
from scoring.service import ScoringService
from scoring.settings import ScoringSettings
from scoring.worker import ScoringWorker

main = service_cli(
    "scoring", settings_factory=ScoringSettings, app_factory=create_app, migrations_dir=MIGRATIONS
)


@main.command(
    help="Weigh every tenant's history again (or one tenant's), evaluate stages and place "
    "customers: after a change of the scoring rules in a new version, or an upgrade."
)
@click.option("--tenant", "tenant_id", help="Only this tenant (its id).")
def recompute(tenant_id: str | None) -> None:
    settings = load_settings(ScoringSettings)

    async def run() -> tuple[int, int]:
        db = Database(settings.database_url)
        try:
            service = ScoringService(db)
            tenants = [tenant_id] if tenant_id else await service.tenants()
            weighed = 0
            for tenant in tenants:
                weighed += await service.recompute(tenant)
                service.unclassified.add(tenant)
            evaluated = await ScoringWorker(service).run_once()
            return weighed, evaluated
        finally:
            await db.dispose()

    weighed, evaluated = asyncio.run(run())
    click.echo(f"weighed {weighed} interactions again; evaluated {evaluated} customers")
