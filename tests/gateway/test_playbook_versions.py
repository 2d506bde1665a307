"""A tenant's earlier playbook versions through the graph, from the real playbook service (in
process on SQLite, over its gRPC port)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.backends import Backends
from gateway.context import GatewayContext
from gateway.schema import build_schema
from playbook.domain import DEFAULT_PLAYBOOK
from playbook.yaml_io import dump_draft
from relint.auth import SCOPE_ADMIN, SCOPE_GRAPH_READ, Principal
from tests.playbook_app import served_playbook

PUBLISH = """mutation ($yaml: String!) { publishPlaybook(yaml: $yaml) {
  ... on Playbook { version } ... on InvalidPlaybook { problems { path } } } }"""


@pytest.fixture
async def backends(tmp_path: Path) -> AsyncIterator[Backends]:
    async with served_playbook(tmp_path) as application:
        address = f"127.0.0.1:{application.state.grpc_port}"
        backends = Backends(address, address, address)
        try:
            yield backends
        finally:
            await backends.close()


async def test_earlier_versions_stay_readable_in_the_graph(backends: Backends) -> None:
    schema = build_schema(max_depth=6, max_tokens=400, max_aliases=5, mask_errors=True)

    async def run(tenant_id: str, query: str, **variables: Any) -> Any:
        principal = Principal(tenant_id, "console", frozenset({SCOPE_GRAPH_READ, SCOPE_ADMIN}))
        return await schema.execute(
            query,
            variable_values=variables,
            context_value=GatewayContext(backends=backends, principal=principal),
        )

    for name in ("Spring", "Summer", "Autumn"):
        yaml = dump_draft(DEFAULT_PLAYBOOK).replace(
            f"name: {DEFAULT_PLAYBOOK.name}", f"name: {name}"
        )
        published = await run("t1", PUBLISH, yaml=yaml)
        assert published.errors is None, published.errors
        assert "version" in published.data["publishPlaybook"]

    listed = await run("t1", "{ playbookVersions { version name createdAt } }")
    assert listed.errors is None, listed.errors
    versions = listed.data["playbookVersions"]
    assert [(v["version"], v["name"]) for v in versions] == [
        (0, DEFAULT_PLAYBOOK.name),
        (1, "Spring"),
        (2, "Summer"),
        (3, "Autumn"),
    ]
    assert versions[0]["createdAt"] is None  # the default was never published
    stamps = [datetime.fromisoformat(v["createdAt"]) for v in versions[1:]]
    assert stamps == sorted(stamps)

    newest = await run("t1", "{ playbookVersions(limit: 2) { version } }")
    assert newest.data == {"playbookVersions": [{"version": 2}, {"version": 3}]}
    earlier = await run("t1", "{ playbook(version: 1) { name version standards { key } } }")
    assert earlier.data["playbook"]["name"] == "Spring"
    assert [s["key"] for s in earlier.data["playbook"]["standards"]] == [
        s.key for s in DEFAULT_PLAYBOOK.standards
    ]
    active = await run("t1", "{ playbook { version } }")
    assert active.data == {"playbook": {"version": 3}}
    # Another tenant reads its own history only.
    theirs = await run("t2", "{ playbookVersions { version } playbook(version: 1) { name } }")
    assert theirs.data == {"playbookVersions": [{"version": 0}], "playbook": None}

    for refused, reason in (
        ("{ playbook(version: -1) { name } }", "version must be 0 or more"),
        ("{ playbookVersions(limit: 0) { name } }", "limit must be 1..100"),
        ("{ playbookVersions(limit: 101) { name } }", "limit must be 1..100"),
    ):
        answer = await run("t1", refused)
        assert answer.errors is not None
        assert answer.errors[0].message == reason
        assert answer.errors[0].extensions == {"code": "BAD_INPUT"}
