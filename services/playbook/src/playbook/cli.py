"""`playbook serve | migrate | check | import | export`: the playbook service's command line.

`check` reads a YAML playbook offline; `import` and `export` talk to a running playbook
service with an API key, so that teams keep their playbook in their own repository and
publish it from their CI (the tenant comes from the key)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import httpx

from playbook.domain import RELATIONSHIP_TYPES, InvalidPlaybook
from playbook.evaluation import type_key
from playbook.main import MIGRATIONS, create_app
from playbook.settings import PlaybookSettings
from playbook.yaml_io import load_draft
from relint.cli import service_cli

main = service_cli(
    "playbook", settings_factory=PlaybookSettings, app_factory=create_app, migrations_dir=MIGRATIONS
)

_URL = click.option(
    "--url",
    envvar="PLAYBOOK_URL",
    default="http://127.0.0.1:8003",
    show_default=True,
    help="The playbook service (env PLAYBOOK_URL).",
)
_KEY = click.option(
    "--key",
    envvar="RELINT_API_KEY",
    required=True,
    help="An API key of the tenant (env RELINT_API_KEY); import needs the admin scope.",
)


@main.command("check", help="Check a YAML playbook offline: every problem with its line.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--type",
    "types",
    multiple=True,
    help="A relationship type of the tenant's own (as scoring names it, e.g. 'Whale'), "
    "besides the default four; repeatable. Publishing checks against scoring's.",
)
def check_command(path: Path, types: tuple[str, ...]) -> None:
    known = tuple(dict.fromkeys([*RELATIONSHIP_TYPES, *(type_key(t) for t in types)]))
    try:
        draft = load_draft(path.read_bytes(), known)
    except InvalidPlaybook as error:
        for problem in error.problems:
            click.echo(f"{path}: {problem.path}: {problem.reason}", err=True)
        sys.exit(1)
    click.echo(f"{path}: {draft.name!r}, {len(draft.standards)} standards, no problems")


@main.command("import", help="Publish a YAML playbook as the tenant's next version.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_URL
@_KEY
def import_command(path: Path, url: str, key: str) -> None:
    response = _call(
        "PUT",
        f"{url}/v1/playbook.yaml",
        key,
        content=path.read_bytes(),
        headers={"Content-Type": "application/yaml"},
    )
    if response.status_code == 422:
        for problem in response.json()["detail"]:
            click.echo(f"{path}: {problem['path']}: {problem['reason']}", err=True)
        sys.exit(1)
    _raise_for(response)
    body = response.json()
    if response.status_code == 200:
        click.echo(f"unchanged: version {body['version']} is this playbook already")
    else:
        click.echo(f"published version {body['version']}: {body['name']!r}")


@main.command("export", help="Write the tenant's playbook (active, or --version) as YAML.")
@click.option("--version", type=click.IntRange(min=0), help="A past version; default: active.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
@_URL
@_KEY
def export_command(version: int | None, output: Path | None, url: str, key: str) -> None:
    params = {"version": version} if version is not None else {}
    response = _call("GET", f"{url}/v1/playbook.yaml", key, params=params)
    _raise_for(response)
    if output is None:
        click.echo(response.text, nl=False)
    else:
        output.write_text(response.text, encoding="utf-8")
        click.echo(f"wrote {output}")


def _call(
    method: str,
    url: str,
    key: str,
    *,
    content: bytes | None = None,
    params: dict[str, int] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    try:
        return httpx.request(
            method,
            url,
            headers={"Authorization": f"Bearer {key}", **(headers or {})},
            content=content,
            params=params,
            timeout=30,
        )
    except httpx.HTTPError as error:
        raise click.ClickException(
            f"cannot reach the playbook service at {url}: {error}"
        ) from error


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    raise click.ClickException(f"{response.status_code}: {detail}")
