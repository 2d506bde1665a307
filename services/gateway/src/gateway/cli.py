"""`gateway serve | export-schema`: the gateway's command line."""

from __future__ import annotations

from pathlib import Path

import click

from gateway.main import create_app
from gateway.schema import schema
from gateway.settings import GatewaySettings
from relint.cli import service_cli

SDL_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"

main = service_cli("gateway", settings_factory=GatewaySettings, app_factory=create_app)


def sdl() -> str:
    return schema.as_str() + "\n"


@main.command(
    "export-schema", help="Write the GraphQL SDL (default: services/gateway/schema.graphql)."
)
@click.option("--out", type=click.Path(path_type=Path), default=SDL_FILE, show_default=True)
def export_schema(out: Path) -> None:
    out.write_text(sdl())
    click.echo(f"wrote {out}")
