"""Key management through the admin API: issue, list, rotate with overlap, revoke — each
confined to the caller's tenant, each answered precisely."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from sqlalchemy import text

from ingest.cli import main
from ingest.schemas import EXAMPLE_INTERACTION
from ingest.service import IngestService

if TYPE_CHECKING:
    from tests.ingest.conftest import AsgiClient, RunningIngest


@pytest.fixture
async def app(tmp_path: Path, running_ingest: RunningIngest) -> AsyncIterator[FastAPI]:
    async with running_ingest(f"sqlite+aiosqlite:///{tmp_path / 'ingest.db'}") as application:
        yield application


@pytest.fixture
async def http(app: FastAPI, asgi_client: AsgiClient) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        yield client


async def _bearer(app: FastAPI, tenant: str, scopes: list[str]) -> dict[str, str]:
    service: IngestService = app.state.ingest
    issued = await service.create_tenant_key(tenant, "operator", scopes)
    return {"Authorization": f"Bearer {issued.api_key}"}


async def _post_works(http: httpx.AsyncClient, key: str) -> int:
    reply = await http.post(
        "/v1/interactions",
        json=EXAMPLE_INTERACTION,
        headers={"Authorization": f"Bearer {key}"},
    )
    return reply.status_code


async def test_issue_rotate_and_revoke_with_an_overlap(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    admin = await _bearer(app, "acme", ["admin"])
    issued = await http.post(
        "/v1/admin/keys", json={"partner": "helpdesk", "scopes": ["ingest:write"]}, headers=admin
    )
    assert issued.status_code == 201
    old = issued.json()
    assert old["api_key"].startswith(f"rik_{old['lookup_id']}_")
    assert await _post_works(http, old["api_key"]) == 201

    rotated = await http.post(f"/v1/admin/keys/{old['lookup_id']}:rotate", headers=admin)
    assert rotated.status_code == 201
    new = rotated.json()
    assert new["lookup_id"] != old["lookup_id"]
    assert (new["partner_id"], new["scopes"]) == (old["partner_id"], ["ingest:write"])
    # Both valid until the old one is revoked.
    assert await _post_works(http, old["api_key"]) == 201  # replayed
    assert await _post_works(http, new["api_key"]) == 201

    revoked = await http.delete(f"/v1/admin/keys/{old['lookup_id']}", headers=admin)
    assert revoked.status_code == 204
    assert await _post_works(http, old["api_key"]) == 401
    assert await _post_works(http, new["api_key"]) == 201

    listed = (await http.get("/v1/admin/keys", headers=admin)).json()["keys"]
    by_id = {k["lookup_id"]: k for k in listed}
    assert by_id[old["lookup_id"]]["revoked_at"] is not None
    assert by_id[new["lookup_id"]]["revoked_at"] is None
    assert by_id[new["lookup_id"]]["partner"] == "helpdesk"
    assert all("api_key" not in k for k in listed), "a key is shown once, never listed"

    again = await http.delete(f"/v1/admin/keys/{old['lookup_id']}", headers=admin)
    assert again.status_code == 404
    assert (
        await http.post(f"/v1/admin/keys/{old['lookup_id']}:rotate", headers=admin)
    ).status_code == 404


async def test_a_tenant_cannot_see_or_touch_another_tenants_keys(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    acme = await _bearer(app, "acme", ["admin"])
    rival = await _bearer(app, "rival", ["admin"])
    theirs = (
        await http.post(
            "/v1/admin/keys", json={"partner": "crm", "scopes": ["graph:read"]}, headers=acme
        )
    ).json()
    lookup = theirs["lookup_id"]
    assert (await http.delete(f"/v1/admin/keys/{lookup}", headers=rival)).status_code == 404
    assert (await http.post(f"/v1/admin/keys/{lookup}:rotate", headers=rival)).status_code == 404
    rival_keys = (await http.get("/v1/admin/keys", headers=rival)).json()["keys"]
    assert lookup not in {k["lookup_id"] for k in rival_keys}
    acme_keys = (await http.get("/v1/admin/keys", headers=acme)).json()["keys"]
    assert lookup in {k["lookup_id"] for k in acme_keys}


async def test_admin_routes_need_the_admin_scope(app: FastAPI, http: httpx.AsyncClient) -> None:
    writer = await _bearer(app, "acme", ["ingest:write", "graph:read"])
    assert (await http.get("/v1/admin/keys")).status_code == 401
    assert (await http.get("/v1/admin/keys", headers=writer)).status_code == 403


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"partner": "crm", "scopes": ["root"]}, 422),
        ({"partner": "crm", "scopes": []}, 422),
        ({"partner": "", "scopes": ["admin"]}, 422),
        ({"scopes": ["admin"]}, 422),
    ],
)
async def test_bad_key_requests_are_refused(
    app: FastAPI, http: httpx.AsyncClient, body: dict[str, object], status: int
) -> None:
    admin = await _bearer(app, "acme", ["admin"])
    before = len((await http.get("/v1/admin/keys", headers=admin)).json()["keys"])
    assert (await http.post("/v1/admin/keys", json=body, headers=admin)).status_code == status
    assert len((await http.get("/v1/admin/keys", headers=admin)).json()["keys"]) == before
    assert (await http.delete("/v1/admin/keys/not-a-lookup", headers=admin)).status_code == 422


def test_the_cli_issues_rotates_and_revokes(tmp_path: Path) -> None:
    env = {"INGEST_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"], env=env).exit_code == 0
    issue = ["admin", "issue-key", "--tenant", "acme", "--partner", "crm"]
    issued = runner.invoke(main, [*issue, "--create-tenant"], env=env)
    assert issued.exit_code == 0, issued.output
    first = json.loads(issued.stdout.strip().splitlines()[0])
    # The tenant exists now: a second key for it needs no flag.
    assert runner.invoke(main, issue, env=env).exit_code == 0
    rotated = runner.invoke(main, ["admin", "rotate-key", first["lookup_id"]], env=env)
    assert rotated.exit_code == 0, rotated.output
    second = json.loads(rotated.stdout.strip().splitlines()[0])
    assert second["partner_id"] == first["partner_id"]
    assert second["lookup_id"] != first["lookup_id"]
    revoked = runner.invoke(main, ["admin", "revoke-key", first["lookup_id"]], env=env)
    assert revoked.exit_code == 0
    missing = runner.invoke(main, ["admin", "rotate-key", first["lookup_id"]], env=env)
    assert missing.exit_code != 0
    assert "no active key" in missing.output


async def test_a_tenant_maps_its_own_kinds_onto_the_taxonomy(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    admin = await _bearer(app, "acme", ["admin", "ingest:write"])
    rival = await _bearer(app, "rival", ["admin", "ingest:write"])
    own_kind = {**EXAMPLE_INTERACTION, "kind": "Case Created", "source_id": "case-1"}
    before = await http.post("/v1/interactions", json=own_kind, headers=admin)
    assert before.status_code == 422
    assert before.json()["detail"][0]["loc"] == ["body", "kind"]
    assert "PUT /v1/admin/kind-mappings" in before.json()["detail"][0]["msg"]

    table = {
        "mappings": [{"channel": "service", "source_kind": "Case Created", "kind": "ticket_opened"}]
    }
    put = await http.put("/v1/admin/kind-mappings", json=table, headers=admin)
    assert put.status_code == 200
    assert (await http.get("/v1/admin/kind-mappings", headers=admin)).json() == table

    stored = await http.post("/v1/interactions", json=own_kind, headers=admin)
    assert stored.status_code == 201
    service: IngestService = app.state.ingest
    async with service.db.read() as session:
        kind, attributes = (
            await session.execute(
                text("SELECT kind, attributes FROM interaction WHERE source_id = 'case-1'")
            )
        ).one()
    assert kind == "ticket_opened"
    assert (json.loads(attributes) if isinstance(attributes, str) else attributes)[
        "source_kind"
    ] == "Case Created"

    # Another tenant's table is its own.
    theirs = await http.post(
        "/v1/interactions:batch", json={"interactions": [own_kind]}, headers=rival
    )
    [item] = theirs.json()["results"]
    assert item["status"] == "rejected"
    assert item["errors"][0]["path"] == "interactions[0].kind"
    assert (await http.get("/v1/admin/kind-mappings", headers=rival)).json() == {"mappings": []}


async def test_a_bad_mapping_table_is_refused_whole(app: FastAPI, http: httpx.AsyncClient) -> None:
    admin = await _bearer(app, "acme", ["admin"])
    good = {"channel": "service", "source_kind": "Case Created", "kind": "ticket_opened"}
    await http.put("/v1/admin/kind-mappings", json={"mappings": [good]}, headers=admin)
    bad = {"channel": "sales", "source_kind": "Deal Won", "kind": "ticket_opened"}
    reply = await http.put(
        "/v1/admin/kind-mappings",
        json={"mappings": [{**good, "source_kind": "Escalation"}, bad]},
        headers=admin,
    )
    assert reply.status_code == 422
    assert reply.json()["detail"][0].startswith("mappings[1].kind:")
    assert (await http.get("/v1/admin/kind-mappings", headers=admin)).json() == {"mappings": [good]}


async def test_a_tenant_admin_manages_its_tenant_and_partners(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    admin = await _bearer(app, "acme", ["admin"])
    other = await _bearer(app, "globex", ["admin"])
    tenant = (await http.get("/v1/admin/tenant", headers=admin)).json()
    assert (tenant["name"], tenant["email_domains"]) == ("acme", [])
    patched = await http.patch(
        "/v1/admin/tenant",
        json={"email_domains": ["Acme.example", "@mail.acme.example", "acme.example"]},
        headers=admin,
    )
    assert patched.json()["email_domains"] == ["acme.example", "mail.acme.example"]
    bad = await http.patch(
        "/v1/admin/tenant", json={"email_domains": ["not a domain"]}, headers=admin
    )
    assert bad.status_code == 422
    assert bad.json()["detail"] == "not a mail domain: 'not a domain'"
    taken = await http.patch("/v1/admin/tenant", json={"name": "globex"}, headers=admin)
    assert taken.status_code == 409

    added = await http.post("/v1/admin/partners", json={"name": "billing"}, headers=admin)
    assert added.status_code == 201
    partner_id = added.json()["id"]
    again = await http.post("/v1/admin/partners", json={"name": "billing"}, headers=admin)
    assert again.status_code == 409
    key = await http.post(
        "/v1/admin/keys", json={"partner": "billing", "scopes": ["ingest:write"]}, headers=admin
    )
    partner_key = key.json()["api_key"]
    assert await _post_works(http, partner_key) == 201
    listed = (await http.get("/v1/admin/partners", headers=admin)).json()["partners"]
    assert {p["name"]: p["active_keys"] for p in listed} == {"billing": 1, "operator": 1}
    # Another tenant can neither see nor remove it.
    assert [
        p["name"] for p in (await http.get("/v1/admin/partners", headers=other)).json()["partners"]
    ] == ["operator"]
    assert (await http.delete(f"/v1/admin/partners/{partner_id}", headers=other)).status_code == 404
    # Removing a partner revokes its keys at once, and it gets no new ones.
    assert (await http.delete(f"/v1/admin/partners/{partner_id}", headers=admin)).status_code == 204
    assert await _post_works(http, partner_key) == 401
    refused = await http.post(
        "/v1/admin/keys", json={"partner": "billing", "scopes": ["ingest:write"]}, headers=admin
    )
    assert refused.status_code == 409
    assert (await http.delete(f"/v1/admin/partners/{partner_id}", headers=admin)).status_code == 404


def test_the_cli_creates_tenants_and_manages_partners(tmp_path: Path) -> None:
    env = {"INGEST_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"], env=env).exit_code == 0
    created = runner.invoke(
        main, ["admin", "create-tenant", "acme", "--email-domain", "acme.example"], env=env
    )
    assert created.exit_code == 0, created.output
    first = json.loads(created.stdout.strip().splitlines()[0])
    assert first["scopes"] == ["admin"]
    assert first["api_key"].startswith("rik_")
    twice = runner.invoke(main, ["admin", "create-tenant", "acme"], env=env)
    assert twice.exit_code != 0
    assert "a tenant named 'acme' exists" in twice.output
    bad = runner.invoke(main, ["admin", "create-tenant", "x", "--email-domain", "nope"], env=env)
    assert bad.exit_code == 2
    assert "not a mail domain" in bad.output
    runner.invoke(main, ["admin", "issue-key", "--tenant", "acme", "--partner", "crm"], env=env)
    tenants = runner.invoke(main, ["admin", "tenants"], env=env)
    assert "acme  partners=2 keys=2 domains=acme.example" in tenants.output
    domains = runner.invoke(
        main, ["admin", "set-email-domains", "--tenant", "acme", "acme.example", "acme.io"], env=env
    )
    assert domains.output.strip() == "acme: acme.example, acme.io"
    removed = runner.invoke(main, ["admin", "remove-partner", "--tenant", "acme", "crm"], env=env)
    assert removed.exit_code == 0, removed.output
    partners = runner.invoke(main, ["admin", "partners", "--tenant", "acme"], env=env)
    assert "crm  keys=0  removed" in partners.output
    assert "operator  keys=1  active" in partners.output
    unknown = runner.invoke(main, ["admin", "partners", "--tenant", "nope"], env=env)
    assert "no tenant 'nope'" in unknown.output


def test_issue_key_refuses_a_tenant_that_does_not_exist(tmp_path: Path) -> None:
    """A mistyped tenant name must not create a second tenant holding the partner's key."""
    env = {"INGEST_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"], env=env).exit_code == 0
    assert runner.invoke(main, ["admin", "create-tenant", "acme"], env=env).exit_code == 0
    typo = runner.invoke(
        main, ["admin", "issue-key", "--tenant", "acmee", "--partner", "crm"], env=env
    )
    assert typo.exit_code != 0
    assert "no tenant 'acmee'" in typo.output
    assert "ingest admin create-tenant" in typo.output
    assert "--create-tenant" in typo.output
    tenants = runner.invoke(main, ["admin", "tenants"], env=env).output
    assert "acmee" not in tenants
    assert "acme  partners=1 keys=1" in tenants


def test_the_cli_lists_a_tenants_keys_without_their_secrets(tmp_path: Path) -> None:
    env = {"INGEST_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"], env=env).exit_code == 0
    admin = json.loads(runner.invoke(main, ["admin", "create-tenant", "acme"], env=env).stdout)
    issue = ["admin", "issue-key", "--tenant", "acme", "--partner", "crm", "--scope"]
    crm = json.loads(runner.invoke(main, [*issue, "ingest:write"], env=env).stdout)
    rotated = runner.invoke(main, ["admin", "rotate-key", crm["lookup_id"]], env=env)
    successor = json.loads(rotated.stdout)
    assert runner.invoke(main, ["admin", "revoke-key", crm["lookup_id"]], env=env).exit_code == 0

    listed = runner.invoke(main, ["admin", "keys", "--tenant", "acme"], env=env)
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.strip().splitlines()
    assert {tuple(line.split("  ")[:3]) for line in lines} == {
        (successor["lookup_id"], "crm", "ingest:write"),
        (admin["lookup_id"], "operator", "admin"),
    }  # the revoked key only with --all
    assert all(line.endswith("active") and "  created " in line for line in lines)
    for key in (admin, crm, successor):
        assert key["api_key"] not in listed.output
        # rik_<lookup id>_<secret>; the secret may hold "_" itself (URL-safe base64).
        secret = key["api_key"].split("_", 2)[2]
        assert len(secret) >= 24
        assert secret not in listed.output

    everything = runner.invoke(
        main, ["admin", "keys", "--tenant", "acme", "--partner", "crm", "--all"], env=env
    )
    assert everything.exit_code == 0, everything.output
    states = {line.split("  ")[0]: line for line in everything.stdout.strip().splitlines()}
    assert set(states) == {crm["lookup_id"], successor["lookup_id"]}
    assert "  revoked " in states[crm["lookup_id"]]
    assert states[successor["lookup_id"]].endswith("active")

    unknown = runner.invoke(main, ["admin", "keys", "--tenant", "nope"], env=env)
    assert unknown.exit_code == 1
    assert "no tenant 'nope'" in unknown.output
    no_partner = runner.invoke(
        main, ["admin", "keys", "--tenant", "acme", "--partner", "x"], env=env
    )
    assert no_partner.exit_code == 1
    assert "no partner 'x' in 'acme'" in no_partner.output
