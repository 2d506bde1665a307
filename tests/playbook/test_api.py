"""Playbook's REST API through its real FastAPI app, lifespan included, on SQLite, with
API keys answered by a fake verifier instead of ingest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from playbook.domain import DEFAULT_PLAYBOOK, draft_from_dict, draft_to_dict, validate
from playbook.evaluation import Touch
from playbook.main import MIGRATIONS, create_app
from playbook.repository import PlaybookRepository
from playbook.service import Delivered, PlaybookService
from playbook.settings import PlaybookSettings
from playbook.yaml_io import dump_draft
from relint.auth import SCOPE_ADMIN, SCOPE_GRAPH_READ, SCOPE_GRAPH_WRITE, Principal
from relint.db import migrate

KEYS = {
    "reader": Principal("acme", "crm", frozenset({SCOPE_GRAPH_READ})),
    "admin": Principal("acme", "console", frozenset({SCOPE_ADMIN})),
    "other-admin": Principal("globex", "console", frozenset({SCOPE_ADMIN})),
}
READER = {"Authorization": "Bearer reader"}
ADMIN = {"Authorization": "Bearer admin"}


class FakeKeyVerifier:
    async def verify(self, key: str) -> Principal | None:
        return KEYS.get(key)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'playbook.db'}"
    await asyncio.to_thread(migrate, MIGRATIONS, url)
    app: FastAPI = create_app(PlaybookSettings(database_url=url, grpc_port=0))
    async with app.router.lifespan_context(app):
        app.state.key_verifier = FakeKeyVerifier()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://playbook") as http:
            http.app = app  # type: ignore[attr-defined]
            yield http


def draft(name: str = "Ours") -> dict[str, Any]:
    return {**draft_to_dict(DEFAULT_PLAYBOOK), "name": name}


async def test_keys_and_scopes_are_required(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/playbook")).status_code == 401
    unknown = await client.get("/v1/playbook", headers={"Authorization": "Bearer nope"})
    assert unknown.status_code == 401
    forbidden = await client.put("/v1/playbook", json=draft(), headers=READER)
    assert forbidden.status_code == 403
    assert "admin" in forbidden.json()["detail"]


async def test_the_default_playbook_is_active_until_one_is_published(
    client: httpx.AsyncClient,
) -> None:
    default = await client.get("/v1/playbook", headers=READER)
    assert default.status_code == 200
    body = default.json()
    assert (body["version"], body["name"], body["created_at"]) == (0, DEFAULT_PLAYBOOK.name, None)
    assert body["standards"][1]["rule"] == {
        "kind": "respond_within",
        "trigger": {"channel": "service", "kind": "ticket_opened"},
        "within_hours": 4,
    }

    published = await client.put("/v1/playbook", json=draft(), headers=ADMIN)
    assert published.status_code == 201, published.text
    assert published.json()["version"] == 1
    assert published.headers["Location"] == "/v1/playbook/versions/1"
    active = (await client.get("/v1/playbook", headers=READER)).json()
    assert (active["version"], active["name"], active["id"]) == (1, "Ours", published.json()["id"])
    assert active["created_at"] is not None
    assert active["standards"] == body["standards"]
    # The same again (a CI job publishing every commit): 200, the same version, none new.
    again = await client.put("/v1/playbook", json=draft(), headers=ADMIN)
    assert again.status_code == 200, again.text
    assert (again.json()["version"], again.json()["id"]) == (1, published.json()["id"])
    assert again.headers["Location"] == "/v1/playbook/versions/1"
    as_yaml = (await client.get("/v1/playbook.yaml", headers=READER)).content
    yaml_again = await client.put(
        "/v1/playbook.yaml", content=as_yaml, headers=ADMIN | {"Content-Type": "application/yaml"}
    )
    assert (yaml_again.status_code, yaml_again.json()["version"]) == (200, 1)


async def test_versions_are_listed_and_readable_per_tenant(client: httpx.AsyncClient) -> None:
    await client.put("/v1/playbook", json=draft("First"), headers=ADMIN)
    await client.put("/v1/playbook", json=draft("Second"), headers=ADMIN)
    other = {"Authorization": "Bearer other-admin"}
    await client.put("/v1/playbook", json=draft("Globex"), headers=other)
    listed = (await client.get("/v1/playbook/versions", headers=READER)).json()["versions"]
    assert [(v["version"], v["name"]) for v in listed] == [
        (0, DEFAULT_PLAYBOOK.name),
        (1, "First"),
        (2, "Second"),
    ]
    assert listed[1]["standard_count"] == len(DEFAULT_PLAYBOOK.standards)
    newest = await client.get("/v1/playbook/versions?limit=2", headers=READER)
    assert [v["version"] for v in newest.json()["versions"]] == [1, 2]
    for refused in ("0", "101"):
        answer = await client.get(f"/v1/playbook/versions?limit={refused}", headers=READER)
        assert answer.status_code == 422
    first = await client.get("/v1/playbook/versions/1", headers=READER)
    assert first.json()["name"] == "First"
    assert (await client.get("/v1/playbook/versions/3", headers=READER)).status_code == 404
    assert (await client.get("/v1/playbook/versions/-1", headers=READER)).status_code == 422
    # Beyond what a version can be (a 500 before; found by schemathesis).
    huge = await client.get(f"/v1/playbook/versions/{2**31}", headers=READER)
    assert huge.status_code == 422
    assert (
        await client.get(f"/v1/playbook.yaml?version={2**63}", headers=READER)
    ).status_code == 422
    theirs = (await client.get("/v1/playbook", headers=other)).json()
    assert (theirs["version"], theirs["name"]) == (1, "Globex")


async def test_a_draft_with_problems_is_refused_with_their_paths(
    client: httpx.AsyncClient,
) -> None:
    invalid = draft()
    invalid["standards"][2]["rule"]["every_days"] = 0
    invalid["standards"][3]["relationship_types"] = ["frenemy"]
    refused = await client.put("/v1/playbook", json=invalid, headers=ADMIN)
    assert refused.status_code == 422
    assert refused.json()["detail"] == [
        {"path": "standards[2].rule.every_days", "reason": "must be positive"},
        {
            "path": "standards[3].relationship_types[0]",
            "reason": "unknown relationship type 'frenemy'; "
            "known: acquaintance, fair_weather_friend, bff, partner",
        },
    ]

    misshapen = draft()
    misshapen["standards"][0]["rule"] = {"kind": "vibes"}
    refused = await client.put("/v1/playbook", json=misshapen, headers=ADMIN)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["path"] == "standards[0].rule.kind"
    assert set(refused.json()["detail"][0]) == {"path", "reason"}

    listed = (await client.get("/v1/playbook/versions", headers=READER)).json()["versions"]
    assert [v["version"] for v in listed] == [0]


async def test_an_oversized_draft_is_refused(client: httpx.AsyncClient) -> None:
    huge = draft()
    huge["standards"][0]["description"] = "x" * (1024 * 1024)
    assert (await client.put("/v1/playbook", json=huge, headers=ADMIN)).status_code == 413


async def test_every_route_is_documented(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    routes = [
        ("/v1/playbook", "get"),
        ("/v1/playbook", "put"),
        ("/v1/playbook/versions", "get"),
        ("/v1/playbook/versions/{version}", "get"),
        ("/v1/playbook.yaml", "get"),
        ("/v1/playbook.yaml", "put"),
        ("/v1/customers/{customer_id}/obligations", "get"),
        ("/v1/customers/{customer_id}/violations", "get"),
        ("/v1/customers/{customer_id}/next-best-actions", "get"),
        ("/v1/violations", "get"),
        ("/v1/worklist", "get"),
        ("/v1/webhooks", "post"),
        ("/v1/webhooks", "get"),
        ("/v1/webhooks/{subscription_id}", "delete"),
        ("/v1/webhooks/{subscription_id}/deliveries", "get"),
        ("/v1/webhooks/deliveries/{delivery_id}:replay", "post"),
    ]
    for path, method in routes:
        assert paths[path][method]["summary"], (path, method)
    problems = paths["/v1/playbook"]["put"]["responses"]["422"]
    assert problems["content"]["application/json"]["schema"]["$ref"].endswith("ProblemsOut")
    # The example draft publishes, and shows a standard that names what answers it.
    body = paths["/v1/playbook"]["put"]["requestBody"]["content"]["application/json"]
    [example] = body["schema"]["examples"]
    assert validate(draft_from_dict(example)) == []
    assert [s["key"] for s in example["standards"] if "answered_by" in s["rule"]] == [
        "answer-social-complaints"
    ]


YAML = {"Content-Type": "application/yaml"}


async def test_a_yaml_file_round_trips_and_one_with_an_error_names_its_line(
    client: httpx.AsyncClient,
) -> None:
    exported = await client.get("/v1/playbook.yaml", headers=READER)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/yaml")
    assert exported.text == dump_draft(DEFAULT_PLAYBOOK)
    edited = exported.text.replace("within_hours: 4\n", "within_hours: 2\n")
    published = await client.put("/v1/playbook.yaml", content=edited, headers={**ADMIN, **YAML})
    assert published.status_code == 201
    assert published.json()["version"] == 1
    again = await client.get("/v1/playbook.yaml", headers=READER)
    assert "within_hours: 2\n" in again.text
    assert (await client.get("/v1/playbook.yaml?version=0", headers=READER)).text == exported.text
    assert (await client.get("/v1/playbook.yaml?version=7", headers=READER)).status_code == 404
    line = next(
        n for n, text in enumerate(edited.splitlines(), 1) if text.endswith("within_hours: 2")
    )
    broken = edited.replace("within_hours: 2\n", "within_hours: 0\n")
    refused = await client.put("/v1/playbook.yaml", content=broken, headers={**ADMIN, **YAML})
    assert refused.status_code == 422
    [problem] = refused.json()["detail"]
    assert problem["path"] == "standards[1].rule.within_hours"
    assert problem["reason"].startswith(f"line {line}, column ")
    assert problem["reason"].endswith("must be positive")
    assert (await client.get("/v1/playbook", headers=READER)).json()["version"] == 1
    as_json = await client.put("/v1/playbook.yaml", content=edited, headers=ADMIN)
    assert as_json.status_code == 415
    assert (
        await client.put("/v1/playbook.yaml", content=edited, headers=READER)
    ).status_code == 403


async def test_obligations_violations_actions_and_worklists_per_tenant(
    client: httpx.AsyncClient,
) -> None:
    service: PlaybookService = client.app.state.playbook  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    complaint = Touch(
        "k1", now - timedelta(hours=2), "service", "complaint", "inbound", "ana", "T-9"
    )
    old = Touch("k0", now - timedelta(days=9), "service", "complaint", "inbound", "ana", "T-1")
    # Complaints resolved (one 12 days ago, one 3 hours ago): each is owed a check-in.
    resolved = [
        Touch(f"r{n}", now - ago, "service", "complaint_resolved", "outbound", "ana", f"T-0{n}")
        for n, ago in enumerate([timedelta(days=12), timedelta(hours=3)])
    ]
    await service.receive([Delivered("acme", "c1", t) for t in (complaint, old, *resolved)])
    await service.judge_due()
    owed = (await client.get("/v1/customers/c1/obligations", headers=READER)).json()
    # The check-in missed ten days ago is still owed (overdue) beside the two coming.
    assert sorted(o["standard_key"] for o in owed["obligations"]) == [
        "answer-complaints",
        "complaint-check-in",
        "complaint-check-in",
    ]
    missed = (await client.get("/v1/customers/c1/violations", headers=READER)).json()
    assert sorted(v["standard_key"] for v in missed["violations"]) == [
        "answer-complaints",
        "complaint-check-in",
    ]
    assert {v["standard_key"]: v["interaction_ids"] for v in missed["violations"]} == {
        "answer-complaints": ["k0", "r1"],  # answered, days late, by the latest resolution
        "complaint-check-in": ["r0"],
    }
    actions = (await client.get("/v1/customers/c1/next-best-actions", headers=READER)).json()
    # The overdue check-in first, then what is owed within two days (the nearest deadline
    # first), then the late answer to make amends for. The missed check-in has no amends
    # of its own: it is still owed, and doing it is the action.
    assert [(a["kind"], a["standard_key"]) for a in actions["actions"]] == [
        ("obligation", "complaint-check-in"),
        ("obligation", "answer-complaints"),
        ("obligation", "complaint-check-in"),
        ("amends", "answer-complaints"),
    ]
    overdue, first = actions["actions"][:2]
    assert overdue["title"] == "Service check in after service complaint resolved #T-00"
    assert overdue["reason"] == (
        "overdue by 10 days, company standard: A check-in within 2 days after a resolved complaint"
    )
    assert overdue["urgency"] == 1.0
    assert first["title"] == "First response to service complaint #T-9"
    assert first["reason"].startswith("due in 21 h, company standard: Answer every complaint")
    work = (await client.get("/v1/worklist?team=company", headers=READER)).json()
    assert [a["standard_key"] for a in work["actions"]] == ["answer-complaints"]
    # A team's worklist holds the universal precepts beside its own standards.
    service_work = (await client.get("/v1/worklist?team=service", headers=READER)).json()
    assert [a["standard_key"] for a in service_work["actions"]] == [
        "complaint-check-in",
        "answer-complaints",
        "complaint-check-in",
    ]
    # Misses days old are not news: nothing was published (tests/playbook/test_webhooks.py).
    published = await client.get("/v1/alerts?kind=violation&customer_id=c1", headers=READER)
    assert published.json() == {"alerts": []}
    # No program has picked anyone here yet (tests/playbook/test_judging.py picks).
    picks = await client.get(
        "/v1/programs/picks?standard_key=acquaintance-conversion", headers=READER
    )
    assert (picks.status_code, picks.json()) == (200, {"picks": []})
    bad_kind = await client.get("/v1/alerts?kind=gossip", headers=READER)
    assert bad_kind.status_code == 422
    assert "unknown alert kinds ['gossip']" in bad_kind.json()["detail"]
    by_team = (await client.get("/v1/violations?team=service", headers=READER)).json()
    assert [v["standard_key"] for v in by_team["violations"]] == ["complaint-check-in"]
    naive = await client.get("/v1/violations?since=2026-01-01T00:00:00", headers=READER)
    assert naive.status_code == 422
    # A page at a time, newest due first, each page starting where the last ended.
    whole = (await client.get("/v1/violations", headers=READER)).json()
    assert "next_page_token" not in whole or whole["next_page_token"] is None
    paged, token = [], None
    while True:
        query = "/v1/violations?limit=1" + (f"&page_token={token}" if token else "")
        page = (await client.get(query, headers=READER)).json()
        paged.extend(v["id"] for v in page["violations"])
        token = page["next_page_token"]
        if token is None:
            break
    assert paged == [v["id"] for v in whole["violations"]]
    assert len(paged) == 2
    bad = await client.get("/v1/violations?page_token=not-a-token", headers=READER)
    assert bad.status_code == 422
    assert "page_token is malformed" in bad.json()["detail"]
    # Another tenant sees none of it, by any path.
    other = {"Authorization": "Bearer other-admin"}
    KEYS["other-reader"] = Principal("globex", "crm", frozenset({SCOPE_GRAPH_READ}))
    other = {"Authorization": "Bearer other-reader"}
    for path in (
        "/v1/customers/c1/obligations",
        "/v1/customers/c1/violations",
        "/v1/violations",
    ):
        body = (await client.get(path, headers=other)).json()
        assert body.pop("next_page_token", None) is None, path  # nothing after
        assert body == {path.rsplit("/", 1)[-1]: []}, path
    assert (await client.get("/v1/worklist", headers=other)).json() == {"actions": []}
    nothing = await client.get("/v1/customers/c1/next-best-actions", headers=other)
    assert nothing.json() == {"actions": []}
    assert (await client.get("/v1/worklist?limit=501", headers=READER)).status_code == 422


async def test_a_standard_that_names_what_answers_is_published_and_judged_by_it(
    client: httpx.AsyncClient,
) -> None:
    """Complaints answered only by their resolution or a sales call: published in JSON, read
    back with its sentence, exported and republished as YAML (no new version), and an
    email that answers the default playbook's complaint leaves this one owed."""
    ours = draft()
    complaints = ours["standards"][0]
    assert complaints["key"] == "answer-complaints"
    answered_by = [{"channel": "service", "kind": "complaint_resolved"}, {"channel": "sales"}]
    complaints["rule"]["answered_by"] = answered_by
    complaints["description"] = ""
    published = await client.put("/v1/playbook", json=ours, headers=ADMIN)
    assert published.status_code == 201, published.text
    [read] = [s for s in published.json()["standards"] if s["key"] == "answer-complaints"]
    assert read["rule"] == {
        "kind": "respond_within",
        "trigger": {"channel": "service", "kind": "complaint"},
        "within_hours": 24,
        "answered_by": answered_by,
    }
    assert read["description"] == (
        "Every service complaint gets a first response (a sales touch or a service complaint "
        "resolved) within 24 hours."
    )
    # The same again, in JSON or as the YAML file exported: no new version.
    again = await client.put("/v1/playbook", json=ours, headers=ADMIN)
    assert (again.status_code, again.json()["version"]) == (200, 1)
    exported = (await client.get("/v1/playbook.yaml", headers=READER)).text
    assert (
        "      answered_by:\n        - channel: service\n          kind: complaint_resolved\n"
        in (exported)
    )
    as_yaml = await client.put("/v1/playbook.yaml", content=exported, headers={**ADMIN, **YAML})
    assert (as_yaml.status_code, as_yaml.json()["version"]) == (200, 1)

    service: PlaybookService = client.app.state.playbook  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    complaint = Touch("k1", now - timedelta(hours=2), "service", "complaint", "inbound", "", "T-9")
    email = Touch("e1", now - timedelta(hours=1), "email", "email_sent", "outbound", "ana")
    await service.receive([Delivered("acme", "c1", t) for t in (complaint, email)])
    await service.judge_due()
    owed = (await client.get("/v1/customers/c1/obligations", headers=READER)).json()
    what = (
        "First response (a sales touch or a service complaint resolved) to service complaint #T-9"
    )
    assert [(o["standard_key"], o["what"]) for o in owed["obligations"]] == [
        ("answer-complaints", what)
    ]
    actions = (await client.get("/v1/customers/c1/next-best-actions", headers=READER)).json()
    assert [a["title"] for a in actions["actions"]] == [what]
    work = (await client.get("/v1/worklist?team=company", headers=READER)).json()
    assert [a["title"] for a in work["actions"]] == [what]
    # A sales call answers it: nothing owed, nothing missed.
    call = Touch("s1", now - timedelta(minutes=30), "sales", "call", "outbound", "bo")
    await service.receive([Delivered("acme", "c1", call)])
    await service.judge_due()
    assert (await client.get("/v1/customers/c1/obligations", headers=READER)).json() == {
        "obligations": []
    }
    missed = (await client.get("/v1/customers/c1/violations", headers=READER)).json()
    assert missed["violations"] == []

    wrong = draft("Wrong")
    wrong["standards"][0]["rule"]["answered_by"] = [{"channel": "phone"}, {"channel": "sales"}]
    wrong["standards"][1]["rule"]["answered_by"] = []
    refused = await client.put("/v1/playbook", json=wrong, headers=ADMIN)
    assert refused.status_code == 422
    assert [p["path"] for p in refused.json()["detail"]] == ["standards[1].rule.answered_by"]
    wrong["standards"][1]["rule"].pop("answered_by")
    refused = await client.put("/v1/playbook", json=wrong, headers=ADMIN)
    assert [p["path"] for p in refused.json()["detail"]] == [
        "standards[0].rule.answered_by[0].channel"
    ]


async def test_the_playbooks_alerts_are_listed_open_and_acknowledged_over_rest(
    client: httpx.AsyncClient,
) -> None:
    service: PlaybookService = client.app.state.playbook  # type: ignore[attr-defined]
    # A complaint five days ago, resolved a day and a half late: two fresh misses.
    now = datetime.now(UTC)
    complaint = Touch("k1", now - timedelta(days=5), "service", "complaint", "inbound", "", "T-1")
    resolved = Touch(
        "r1",
        now - timedelta(days=3, hours=12),
        "service",
        "complaint_resolved",
        "outbound",
        "",
        "T-1",
    )
    await service.receive([Delivered("acme", "c1", t) for t in (complaint, resolved)])
    await service.judge_due()
    listed = (await client.get("/v1/alerts?open_only=true", headers=READER)).json()["alerts"]
    assert [a["kind"] for a in listed] == ["violation", "violation"]
    assert all(a["acknowledged_at"] is None for a in listed)
    first = listed[0]["id"]
    path = f"/v1/alerts/{first}:acknowledge"
    assert (await client.post(path, headers=READER)).status_code == 403
    KEYS["writer"] = Principal("acme", "console", frozenset({SCOPE_GRAPH_WRITE}))
    KEYS["other-writer"] = Principal("globex", "console", frozenset({SCOPE_GRAPH_WRITE}))
    theirs = await client.post(path, headers={"Authorization": "Bearer other-writer"})
    assert theirs.status_code == 404
    done = await client.post(path, headers={"Authorization": "Bearer writer"})
    assert done.status_code == 204, done.text
    again = await client.post(path, headers={"Authorization": "Bearer writer"})
    assert again.status_code == 404
    assert "scoring's alerts are acknowledged in scoring" in again.json()["detail"]
    still_open = (await client.get("/v1/alerts?open_only=true", headers=READER)).json()
    assert [a["id"] for a in still_open["alerts"]] == [listed[1]["id"]]
    [acknowledged] = [
        a
        for a in (await client.get("/v1/alerts", headers=READER)).json()["alerts"]
        if a["id"] == first
    ]
    assert acknowledged["acknowledged_by"] == "console"


async def test_the_playbooks_alerts_as_of_a_moment_over_rest(client: httpx.AsyncClient) -> None:
    """`as_of`: the alerts raised by then, each as it stood (one acknowledged later was
    open, and `open_only` keeps it); a moment needs its zone, and one in no year of UTC's
    is refused."""
    service: PlaybookService = client.app.state.playbook  # type: ignore[attr-defined]
    day = datetime(2026, 3, 2, tzinfo=UTC)
    async with service.db.transaction() as session:
        await PlaybookRepository(session).add_events(
            [
                {
                    "id": f"v{hour}",
                    "tenant_id": "acme",
                    "customer_id": "c1",
                    "kind": "violation",
                    "severity": "warning",
                    "reason": "missed",
                    "occurred_at": day + timedelta(hours=hour),
                    "source": "playbook",
                }
                for hour in (10, 11, 13)
            ]
        )
    assert await service.acknowledge("acme", "v10", "ana", now=day + timedelta(hours=12))

    async def listed(**params: str) -> list[tuple[str, str | None, str | None]]:
        answer = await client.get("/v1/alerts", params=params, headers=READER)
        assert answer.status_code == 200, answer.text
        return [
            (a["id"], a["acknowledged_at"], a["acknowledged_by"]) for a in answer.json()["alerts"]
        ]

    then = "2026-03-02T13:30:00+02:00"  # 11:30 UTC: v10 was open then
    assert await listed(as_of=then) == [("v11", None, None), ("v10", None, None)]
    assert await listed(as_of=then, open_only="true") == [
        ("v11", None, None),
        ("v10", None, None),
    ]
    assert await listed(as_of="2026-03-02T12:00:00Z", open_only="true") == [("v11", None, None)]
    assert await listed(as_of="2026-03-02T12:00:00Z") == [
        ("v11", None, None),
        ("v10", "2026-03-02T12:00:00Z", "ana"),
    ]
    assert await listed(open_only="true") == [("v13", None, None), ("v11", None, None)]
    for refused in ("2026-03-02T12:00:00", "0001-01-01T00:00:00+01:00", "soon"):
        answer = await client.get("/v1/alerts", params={"as_of": refused}, headers=READER)
        assert answer.status_code == 422, refused


async def test_webhook_subscriptions_over_rest(client: httpx.AsyncClient) -> None:
    hook = {"url": "https://crm.example.com/hook", "kinds": ["violation", "at_risk"]}
    assert (await client.post("/v1/webhooks", json=hook, headers=READER)).status_code == 403
    created = await client.post("/v1/webhooks", json=hook, headers=ADMIN)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_")
    listed = (await client.get("/v1/webhooks", headers=ADMIN)).json()["subscriptions"]
    assert [s["id"] for s in listed] == [body["id"]]
    assert "secret" not in listed[0]
    bad = await client.post(
        "/v1/webhooks",
        json={"url": "http://169.254.169.254/latest", "kinds": ["gossip"]},
        headers=ADMIN,
    )
    assert bad.status_code == 422
    assert [p.split(":")[0] for p in bad.json()["detail"]] == ["url", "kinds[0]"]
    other = {"Authorization": "Bearer other-admin"}
    assert (await client.get("/v1/webhooks", headers=other)).json() == {"subscriptions": []}
    log = await client.get(f"/v1/webhooks/{body['id']}/deliveries", headers=other)
    assert log.json() == {"deliveries": []}
    assert (await client.delete(f"/v1/webhooks/{body['id']}", headers=other)).status_code == 404
    missing = await client.post("/v1/webhooks/deliveries/nope:replay", headers=ADMIN)
    assert missing.status_code == 404
    bad_status = await client.get(f"/v1/webhooks/{body['id']}/deliveries?status=x", headers=ADMIN)
    assert bad_status.status_code == 422
    rotate = f"/v1/webhooks/{body['id']}:rotate-secret"
    assert (await client.post(rotate, headers=READER)).status_code == 403
    assert (await client.post(rotate, headers=other)).status_code == 404
    for overlap in (-1, 169, "24", 1.5):
        refused = await client.post(rotate, json={"overlap_hours": overlap}, headers=ADMIN)
        assert refused.status_code == 422, overlap
    rotated = await client.post(rotate, json={"overlap_hours": 2}, headers=ADMIN)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["id"] == body["id"]
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != body["secret"]
    assert rotated.json()["previous_secret_until"] is not None
    default = (await client.post(rotate, headers=ADMIN)).json()  # no body: 24 h
    until = datetime.fromisoformat(default["previous_secret_until"])
    assert timedelta(hours=23) < until - datetime.now(UTC) <= timedelta(hours=24)
    at_once = (await client.post(rotate, json={"overlap_hours": 0}, headers=ADMIN)).json()
    assert at_once["previous_secret_until"] is None
    assert (
        "secret" not in (await client.get("/v1/webhooks", headers=ADMIN)).json()["subscriptions"][0]
    )
    assert (await client.delete(f"/v1/webhooks/{body['id']}", headers=ADMIN)).status_code == 204
    assert (await client.get("/v1/webhooks", headers=ADMIN)).json() == {"subscriptions": []}
    assert (await client.post(rotate, headers=ADMIN)).status_code == 404
