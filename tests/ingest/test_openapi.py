"""Schemathesis against ingest's own OpenAPI schema, on the real process: whatever a client
sends that the schema allows (and much it does not), ingest never answers 5xx."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from relint_devstack.launcher import Stack


@pytest.fixture(scope="module")
def ingest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    stack = Stack.on_free_ports(Path(tmp_path_factory.mktemp("ingest")))
    stack.run_cli("ingest", "migrate")
    key = str(stack.issue_key("acme", "crm", ("ingest:write",))["api_key"])
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


@pytest.mark.parametrize(
    "operation",
    ["POST /v1/interactions", "POST /v1/interactions:batch", "GET /healthz", "GET /readyz"],
)
def test_no_request_causes_a_server_error(operation: str, ingest_server: tuple[str, str]) -> None:
    url, key = ingest_server
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    method, path = operation.split(" ", 1)
    api_operation = schema[path][method]

    @given(case=api_operation.as_strategy())
    @settings(
        max_examples=80,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def no_server_error(case: schemathesis.Case) -> None:
        case.call_and_validate(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, checks=[not_a_server_error]
        )

    no_server_error()


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
