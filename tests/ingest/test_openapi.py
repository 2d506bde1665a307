"""Schemathesis against ingest's own OpenAPI schema, on the real process, on SQLite and
PostgreSQL: whatever a client sends to any operation, ingest never answers 5xx."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from relint_devstack.launcher import Stack
from tests.conftest import PostgresDatabases
from tests.openapi_fuzz import assert_no_server_errors


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def ingest_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    databases = PostgresDatabases()
    urls = {"ingest": databases.create("ingest")} if request.param == "postgres" else {}
    stack = Stack.on_free_ports(Path(tmp_path_factory.mktemp("ingest")), database_urls=urls)
    stack.run_cli("ingest", "migrate")
    # Every scope, so that every operation is reached past its scope check.
    key = str(stack.issue_key("acme", "crm", ("ingest:write", "graph:read", "admin"))["api_key"])
    process = subprocess.Popen(
        [sys.executable, "-m", "ingest", "serve"],
        env=stack.env("ingest"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = stack.url("ingest")
    try:
        deadline = time.monotonic() + 90  # a loaded 2-core machine starts it slowly
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, "ingest exited while starting"
            assert time.monotonic() < deadline, "ingest not ready after 90s"
            time.sleep(0.1)
        yield url, key
    finally:
        process.terminate()
        process.wait(20)
        databases.drop_all()


def test_no_request_to_any_operation_causes_a_server_error(
    ingest_server: tuple[str, str],
) -> None:
    url, key = ingest_server
    # The hot paths get more examples; the customers, admin and Segment routes some each.
    hot = {"POST /v1/interactions": 80, "POST /v1/interactions:batch": 80}
    assert_no_server_errors(url, key, hot, others=25, at_least=25)
    # No random id named the key's partner or the key itself.
    alive = httpx.get(url + "/v1/admin/tenant", headers={"Authorization": f"Bearer {key}"})
    assert alive.status_code == 200


def test_the_schema_documents_the_interaction_with_an_example(
    ingest_server: tuple[str, str],
) -> None:
    url, _ = ingest_server
    document = httpx.get(url + "/openapi.json", timeout=5).json()
    interaction = document["components"]["schemas"]["InteractionIn"]
    assert interaction["examples"][0]["channel"] == "service"
    assert {"customer", "occurred_at", "channel", "kind", "direction"} <= set(
        interaction["required"]
    )
    # The batch, and the answer per item, have theirs.
    schemas = document["components"]["schemas"]
    assert len(schemas["InteractionBatchIn"]["examples"][0]["interactions"]) == 2
    assert [r["status"] for r in schemas["BatchResult"]["examples"][0]["results"]] == [
        "accepted",
        "rejected",
    ]
    assert schemas["ItemResult"]["examples"][1]["errors"][0]["path"] == "interactions[1].kind"
