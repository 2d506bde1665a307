"""Schemathesis against scoring's and the playbook's OpenAPI schemas and the gateway's GraphQL
schema, on the stack's real processes (ingest verifies the key), on SQLite and on
PostgreSQL: whatever a client sends to any of their operations or fields, none answers 5xx
or an untyped error. Ingest's own operations are fuzzed in `tests/ingest/test_openapi.py`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.failures import FailureGroup

from relint.auth import SCOPE_ADMIN
from relint_devstack.launcher import DATABASE_SERVICES, Stack
from tests.conftest import PostgresDatabases
from tests.openapi_fuzz import FUZZ_SCALE, assert_no_server_errors

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
            _a_little_history(stack, key)
            yield stack, key
    finally:
        databases.drop_all()


def _a_little_history(stack: Stack, key: str) -> None:
    """Ten customers with a few months of purchases, tickets and complaints each, so that
    the analysis, lookalikes and the playbook have something to work on, not only nothing."""
    now = datetime.now(UTC)
    kinds = [("sales", "purchase"), ("service", "ticket_opened"), ("service", "complaint")]
    items = [
        {
            "customer": {"external_id": f"c{n % 10}", "name": f"Customer {n % 10}"},
            "occurred_at": (now - timedelta(days=3 * n + 1)).isoformat(),
            "channel": kinds[n % 3][0],
            "kind": kinds[n % 3][1],
            "direction": "inbound",
            "sentiment": 0.5 if n % 3 == 0 else -0.5,
            **(
                {"amount": "100.00", "amount_type": "revenue", "currency": "EUR"}
                if n % 3 == 0
                else {}
            ),
            "text": f"note {n}",
            "source": "crm",
            "source_id": f"h-{n}",
        }
        for n in range(60)
    ]
    reply = httpx.post(
        stack.url("ingest") + "/v1/interactions:batch",
        json={"interactions": items},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["accepted"] == len(items), reply.text


@pytest.mark.parametrize(("service", "operations"), [("scoring", 15), ("playbook", 18)])
def test_no_request_to_any_operation_causes_a_server_error(
    stack: tuple[Stack, str], service: str, operations: int
) -> None:
    running, key = stack
    assert_no_server_errors(running.url(service), key, {}, others=25, at_least=operations)


# What a resolver may answer besides data: typed, expected errors. Anything else (a masked
# "Unexpected error.", an exception's own message) is a fault.
EXPECTED_CODES = {"BAD_INPUT", "UNAUTHENTICATED", "QUERY_TOO_COSTLY"}


def test_no_graphql_query_causes_a_server_error(stack: tuple[Stack, str]) -> None:
    """Every field of the gateway's schema, with generated arguments: never a 5xx, and no
    error from a resolver but the typed ones (validation errors, with no path, are fine)."""
    running, key = stack
    headers = {"Authorization": f"Bearer {key}"}
    schema = schemathesis.graphql.from_url(running.url("gateway") + "/graphql", headers=headers)
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=10 * FUZZ_SCALE,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def no_server_error(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            assert response.status_code < 500, response.text
            unexpected = [
                e
                for e in response.json().get("errors", [])
                if e.get("path") and (e.get("extensions") or {}).get("code") not in EXPECTED_CODES
            ]
            assert not unexpected, (case.body, unexpected)

        try:
            no_server_error()
        except (Exception, FailureGroup) as error:
            failures[operation.label] = str(error)[:2000]
    assert not failures, "\n\n".join(f"{k}: {v}" for k, v in failures.items())
