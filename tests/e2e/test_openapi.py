"""Schemathesis against scoring's and the playbook's own OpenAPI schemas, on the stack's real
processes (ingest verifies the key), on SQLite and on PostgreSQL: whatever a client sends
to any of their operations, neither answers 5xx. Ingest's own operations are fuzzed in
`tests/ingest/test_openapi.py`; the gateway answers GraphQL, not OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from relint.auth import SCOPE_ADMIN
from relint_devstack.launcher import DATABASE_SERVICES, Stack
from tests.conftest import PostgresDatabases
from tests.openapi_fuzz import assert_no_server_errors

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, str]]:
    databases = PostgresDatabases()
    urls = (
        {name: databases.create(name) for name in DATABASE_SERVICES}
        if request.param == "postgres"
        else {}
    )
    stack = Stack.on_free_ports(Path(tmp_path_factory.mktemp("stack")), database_urls=urls)
    try:
        stack.migrate()
        key = str(stack.issue_key("acme", "console", (SCOPE_ADMIN,))["api_key"])
        with stack.running():
            yield stack, key
    finally:
        databases.drop_all()


@pytest.mark.parametrize(("service", "operations"), [("scoring", 15), ("playbook", 18)])
def test_no_request_to_any_operation_causes_a_server_error(
    stack: tuple[Stack, str], service: str, operations: int
) -> None:
    running, key = stack
    assert_no_server_errors(running.url(service), key, {}, others=25, at_least=operations)
