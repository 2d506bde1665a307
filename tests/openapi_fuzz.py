"""Schemathesis over every operation of a running service's OpenAPI schema: whatever a client
sends that the schema allows (and much it does not), the service never answers 5xx. Every
operation is tried, and every one that fails is reported."""

from __future__ import annotations

import os
from collections.abc import Mapping

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup

# Every example count is multiplied by this for a deeper run: RELINT_FUZZ_SCALE=20 pytest ...
FUZZ_SCALE = int(os.environ.get("RELINT_FUZZ_SCALE", "1"))


def assert_no_server_errors(
    url: str, key: str, examples: Mapping[str, int], others: int, at_least: int
) -> None:
    """Tries each operation with `examples["METHOD /path"]` cases (`others` when unnamed),
    authorised by `key` (times `FUZZ_SCALE`); the schema must hold at least `at_least`
    operations."""
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= at_least, [f"{o.method} {o.path}" for o in operations]
    failures: dict[str, str] = {}
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples.get(label, others) * FUZZ_SCALE,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def no_server_error(case: schemathesis.Case) -> None:
            case.call_and_validate(
                base_url=url,
                headers={"Authorization": f"Bearer {key}"},
                checks=[not_a_server_error],
            )

        try:
            no_server_error()
        except (Exception, FailureGroup) as error:
            failures[label] = str(error)[:2000]
    assert not failures, "\n\n".join(f"{k}: {v}" for k, v in failures.items())
    # Still up and ready: no request took the service or its database down.
    assert httpx.get(url + "/readyz", timeout=5).status_code == 200
