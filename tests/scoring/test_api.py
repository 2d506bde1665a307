"""Scoring's REST routes through the real FastAPI app on real SQLite and PostgreSQL: the
tenant's settings, who may read and change them, and what a bad body answers; the at-risk
ranking and the alerts as of a past moment."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from relint.auth import SCOPE_ADMIN, SCOPE_GRAPH_READ, Principal
from relint.db import Database
from relint.errors import install_error_handlers
from scoring import api
from scoring.main import MIGRATIONS
from scoring.repository import ScoringRepository
from scoring.service import Delivered, ScoringService
from tests.scoring.risk_support import RANKED_NOW, RANKED_THEN, alert_row, risks_that_moved

KEYS = {
    "reader": Principal("t1", "crm", frozenset({SCOPE_GRAPH_READ})),
    "admin": Principal("t1", "ops", frozenset({SCOPE_ADMIN})),
}
READER = {"Authorization": "Bearer reader"}
ADMIN = {"Authorization": "Bearer admin", "Content-Type": "application/json"}


class FakeKeyVerifier:
    async def verify(self, key: str) -> Principal | None:
        return KEYS.get(key)


@pytest.fixture
async def service(database_factory: Callable[[Path, str], Awaitable[Database]]) -> ScoringService:
    return ScoringService(await database_factory(MIGRATIONS, "scoring"))


@pytest.fixture
async def http(service: ScoringService) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(api.router)
    install_error_handlers(app)
    app.state.scoring = service
    app.state.key_verifier = FakeKeyVerifier()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
        yield client


async def test_settings_are_read_with_a_graph_read_key_and_changed_with_an_admin_key(
    http: httpx.AsyncClient,
) -> None:
    """Weights and types hold nothing secret: the GraphQL `relationshipTypes` shows the same
    types to any reader. Changing them weighs the whole history again: admin only."""
    read = await http.get("/v1/settings", headers=READER)
    assert read.status_code == 200
    assert [t["name"] for t in read.json()["types"]][-1] == "Acquaintance"
    body = {"types": [{"name": "Everyone"}]}
    assert (await http.put("/v1/settings", json=body, headers=READER)).status_code == 403
    changed = await http.put("/v1/settings", json=body, headers=ADMIN)
    assert changed.status_code == 200
    assert [t["name"] for t in changed.json()["types"]] == ["Everyone"]


async def test_outcome_weights_are_read_and_set_with_the_other_weights(
    http: httpx.AsyncClient,
) -> None:
    read = (await http.get("/v1/settings", headers=READER)).json()
    assert read["outcomes"]["won"] == 2.0
    body = {"weights": {"outcomes": {"won": 4}}}
    changed = await http.put("/v1/settings", json=body, headers=ADMIN)
    assert changed.status_code == 200, changed.text
    assert changed.json()["outcomes"] == {**read["outcomes"], "won": 4.0}
    assert (await http.get("/v1/settings", headers=READER)).json() == changed.json()


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ('{"weights": {"weights": null}}', "weights"),
        ('{"weights": {"weights": {"complaint": NaN}}}', "weights.complaint"),
        ('{"weights": {"negativity": Infinity}}', "negativity"),
        ('{"weights": {"negativity": 3, "outcomes": {"won": NaN}}}', "outcomes.won"),
        ('{"weights": {"negativity": 3, "outcomes": {"tied": 1}}}', "outcomes.tied"),
        ('{"weights": {"outcomes": [1]}}', "outcomes"),
        ('{"types": [{"name": "A", "when": null}]}', "types[0].when"),
        (
            '{"types": [{"name": "A", "when": [{"feature": "revenue", "at_least": NaN}]},'
            ' {"name": "B"}]}',
            "types[0].when[0].at_least",
        ),
        ('{"types": [{"name": "BFF"}, {"name": "BFF "}]}', "types[1].name"),
        ('{"types": [{"name": "A", "colour": NaN}]}', "types[0].colour"),
    ],
)
async def test_bad_settings_answer_422_naming_the_field_and_change_nothing(
    http: httpx.AsyncClient, service: ScoringService, body: str, path: str
) -> None:
    """JSON's null and the NaN and Infinity that Python's reader takes: each answers 422 with
    its field, before anything is stored (a NaN weight, stored, made every complaint applied
    afterwards fail)."""
    now = datetime.now(UTC)
    complaint = Delivered("i1", "t1", "c1", now - timedelta(days=1), "service", "complaint")
    await service.apply([complaint])
    before = (await http.get("/v1/settings", headers=READER)).json()
    [state] = await service.relationships("t1", ["c1"])
    answer = await http.put("/v1/settings", content=body, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    problems = answer.json()["detail"]
    assert any(p.startswith(f"{path}: ") for p in problems), problems
    assert (await http.get("/v1/settings", headers=READER)).json() == before
    # Complaints keep being weighed with the stored table.
    later = Delivered("i2", "t1", "c1", now, "service", "complaint")
    assert (await service.apply([later])).applied == 1
    [after] = await service.relationships("t1", ["c1"])
    assert after.last_contribution == state.last_contribution


async def test_the_riskiest_as_of_a_past_moment_are_ranked_by_their_risk_then(
    http: httpx.AsyncClient, service: ScoringService
) -> None:
    _, then = await risks_that_moved(service)

    async def ranked(**params: object) -> list[dict[str, Any]]:
        answer = await http.get("/v1/at-risk", params=params, headers=READER)
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()
        return found

    ranked_then = await ranked(as_of=then.isoformat(), limit=10)
    assert [r["customer_id"] for r in ranked_then] == RANKED_THEN
    expected = await service.at_risk("t1", 10, then)
    assert [(r["customer_id"], r["risk"]) for r in ranked_then] == [
        (v.customer_id, round(v.risk, 6)) for v in expected
    ]
    assert {datetime.fromisoformat(r["as_of"]) for r in ranked_then} == {then}
    assert [r["customer_id"] for r in await ranked(limit=10)] == RANKED_NOW
    assert [r["customer_id"] for r in await ranked(as_of=then.isoformat(), limit=1)] == ["c"]
    # A moment must say its zone, and be one in UTC too (a 500 before, on every as_of).
    for moment in ("2026-01-01T00:00:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:00-05:00"):
        for path in (
            "/v1/at-risk",
            "/v1/alerts",
            "/v1/potential",
            "/v1/customers/a/relationship",
        ):
            refused = await http.get(path, params={"as_of": moment}, headers=READER)
            assert refused.status_code == 422, (path, moment, refused.text)


async def test_alerts_as_of_a_moment_are_those_raised_by_then_as_they_stood(
    http: httpx.AsyncClient, service: ScoringService
) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    hour = timedelta(hours=1)
    async with service.db.transaction() as session:
        repo = ScoringRepository(session)
        await repo.raise_alerts([alert_row(n, start + n * hour) for n in range(3)])
        assert await repo.acknowledge("t1", "a0", "ana", start + 5 * hour)

    async def listed(**params: object) -> list[dict[str, Any]]:
        answer = await http.get("/v1/alerts", params=params, headers=READER)
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()
        return found

    as_of = (start + 90 * timedelta(minutes=1)).isoformat()
    then = await listed(as_of=as_of, open_only=True)
    # a2 came later; a0, acknowledged later, was open then.
    assert [(a["id"], a["acknowledged_at"]) for a in then] == [("a1", None), ("a0", None)]
    assert [a["id"] for a in await listed(open_only=True)] == ["a2", "a1"]
