"""Alerts out, on real SQLite and PostgreSQL, partners' endpoints mocked with respx: a
violation and an approaching deadline raised by the playbook and scoring's alerts from its
feed are each delivered once, signed, to the subscriptions that want their kind; failures
are retried with backoff, logged, given up on, and can be replayed."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import respx

from playbook.alerts import Event
from playbook.main import MIGRATIONS
from playbook.service import InvalidSubscription, PlaybookService
from relint import webhooks
from relint.db import Database
from tests.playbook.test_judging import NOW, SECOND, FakeScoring, fake_scoring, reply, ticket

HOOK = "https://crm.example.com/hooks/relint"
OTHER = "https://ops.example.com/hook"


@pytest.fixture
def scoring() -> FakeScoring:
    return fake_scoring()


@pytest.fixture
async def service(
    database_factory: Callable[[Path, str], Awaitable[Database]], scoring: FakeScoring
) -> PlaybookService:
    return PlaybookService(await database_factory(MIGRATIONS, "playbook"), scoring)


async def test_subscriptions_are_checked_and_tenants_kept_apart(service: PlaybookService) -> None:
    row, secret = await service.subscribe("t1", HOOK, ["violation", "at_risk"], "CRM")
    assert secret.startswith("whsec_")
    assert [s.id for s in await service.subscriptions("t1")] == [row.id]
    assert await service.subscriptions("t2") == []
    with pytest.raises(InvalidSubscription) as refused:
        await service.subscribe("t1", "http://10.0.0.1/x", ["violation", "nonsense"])
    assert len(refused.value.problems) == 2
    assert refused.value.problems[1].startswith("kinds[1]: unknown kind 'nonsense'")
    with pytest.raises(InvalidSubscription):
        await service.subscribe("t1", HOOK, [])
    assert not await service.unsubscribe("t2", row.id)
    assert await service.unsubscribe("t1", row.id)
    assert await service.subscriptions("t1") == []


@respx.mock
async def test_alerts_are_delivered_signed_once_to_who_wants_them(
    service: PlaybookService, scoring: FakeScoring
) -> None:
    crm, secret = await service.subscribe("t1", HOOK, ["violation", "deadline_approaching"])
    ops, _ = await service.subscribe("t1", OTHER, ["at_risk"])
    await service.subscribe("t2", OTHER, ["violation", "at_risk"])
    hook = respx.post(HOOK).mock(return_value=httpx.Response(204))
    other = respx.post(OTHER).mock(return_value=httpx.Response(200))

    # A ticket 3 h 30 old: its 4 h response is due in 30 min; warned after 3 h.
    await service.receive([ticket("k1", NOW - timedelta(hours=3, minutes=30))])
    # One 2 days old: missed, and recent enough to be sent.
    await service.receive([ticket("k2", NOW - timedelta(days=2))])
    await service.judge_due(now=NOW)
    scoring.feed.append(
        Event("a-1", "t1", "c1", "at_risk", "warning", "quiet for 60 days", NOW, "scoring")
    )
    assert await service.pull_scoring_alerts() == 1
    assert await service.pull_scoring_alerts() == 0  # read again (overlap): kept once
    await service.judge_due(now=NOW)
    async with httpx.AsyncClient() as client:
        assert await service.send_webhooks(client) == 3
        assert await service.send_webhooks(client) == 0
    kinds = sorted(json.loads(c.request.content)["kind"] for c in hook.calls)
    assert kinds == ["deadline_approaching", "violation"]
    [sent] = [c.request for c in hook.calls if b'"violation"' in c.request.content]
    assert webhooks.verify(
        secret, sent.headers[webhooks.SIGNATURE_HEADER], sent.content, int(time.time())
    )
    assert sent.headers[webhooks.EVENT_HEADER] == "violation"
    body = json.loads(sent.content)
    assert body["tenant_id"] == "t1"
    assert body["data"]["customer_id"] == "c1"
    assert body["data"]["reason"].startswith("no first response to service ticket opened #K2")
    assert [json.loads(c.request.content)["kind"] for c in other.calls] == ["at_risk"]
    log = await service.deliveries("t1", crm.id)
    assert {d.status for d in log} == {"delivered"}
    assert all(d.last_status_code == 204 and d.attempts == 1 for d in log)
    assert [d.kind for d in await service.deliveries("t1", ops.id)] == ["at_risk"]
    # What was published reads back, newest first, by kind and customer, per tenant.
    published = await service.alerts("t1")
    assert sorted(a.kind for a in published) == ["at_risk", "deadline_approaching", "violation"]
    assert [a.occurred_at for a in published] == sorted(
        (a.occurred_at for a in published), reverse=True
    )
    [mine] = await service.alerts("t1", kinds=["violation"], customer_ids=["c1"])
    assert mine.reason.startswith("no first response to service ticket opened #K2")
    assert await service.alerts("t2") == []
    with pytest.raises(ValueError, match="unknown alert kinds \\['nonsense'\\]"):
        await service.alerts("t1", kinds=["nonsense"])
    # The playbook's own alerts are acknowledged here, once, by their tenant only;
    # scoring's (relayed) are acknowledged in scoring.
    assert not await service.acknowledge("t2", mine.id, "intruder")
    assert not await service.acknowledge("t1", "a-1", "ops")
    assert await service.acknowledge("t1", mine.id, "ops", now=NOW)
    assert not await service.acknowledge("t1", mine.id, "ops")
    still_open = await service.alerts("t1", open_only=True)
    assert sorted(a.kind for a in still_open) == ["at_risk", "deadline_approaching"]
    [done] = await service.alerts("t1", kinds=["violation"])
    assert (done.acknowledged_at, done.acknowledged_by) == (NOW, "ops")
    assert await service.alerts("t1", customer_ids=["c2", "c9"]) == []


@respx.mock
async def test_a_violation_withdrawn_is_said_and_its_alert_closed(
    service: PlaybookService,
) -> None:
    await service.subscribe("t1", HOOK, ["violation", "violation_withdrawn"])
    hook = respx.post(HOOK).mock(return_value=httpx.Response(204))
    opened = NOW - timedelta(days=2)
    await service.receive([ticket("k2", opened)])
    await service.judge_due(now=NOW)
    [raised] = await service.alerts("t1", kinds=["violation"], open_only=True)
    # The answer, sent an hour after the ticket, is delivered late: the standard was kept.
    await service.receive([reply("r2", opened + timedelta(hours=1))])
    assert (await service.judge_due(now=NOW)).withdrawn == 1
    [said] = await service.alerts("t1", kinds=["violation_withdrawn"])
    assert (said.customer_id, said.severity) == ("c1", "info")
    assert said.reason == f"withdrawn, the standard was kept after all: {raised.reason}"
    assert await service.alerts("t1", kinds=["violation"], open_only=True) == []
    [closed] = await service.alerts("t1", kinds=["violation"])
    assert closed.acknowledged_by == "playbook: the violation was withdrawn"
    async with httpx.AsyncClient() as client:
        assert await service.send_webhooks(client) == 2
    kinds = [json.loads(c.request.content)["kind"] for c in hook.calls]
    assert sorted(kinds) == ["violation", "violation_withdrawn"]
    # A violation no alert was raised for (too old to be news) is withdrawn without a word.
    await service.receive([ticket("k9", NOW - timedelta(days=90), "c2")])
    await service.judge_due(now=NOW)
    await service.receive([reply("r9", NOW - timedelta(days=90) + SECOND, "c2")])
    assert (await service.judge_due(now=NOW)).withdrawn == 1
    assert len(await service.alerts("t1", kinds=["violation_withdrawn"])) == 1


@respx.mock
async def test_failures_are_retried_with_backoff_given_up_and_replayable(
    service: PlaybookService,
) -> None:
    crm, _ = await service.subscribe("t1", HOOK, ["violation"])
    route = respx.post(HOOK).mock(return_value=httpx.Response(503, text="down for maintenance"))
    await service.receive([ticket("k2", NOW - timedelta(days=2))])
    await service.judge_due(now=NOW)
    moment = NOW
    async with httpx.AsyncClient() as client:
        for expected_wait in webhooks.RETRY_SCHEDULE:
            assert await service.send_webhooks(client, now=moment) == 1
            [delivery] = await service.deliveries("t1", crm.id)
            assert delivery.status == "pending"
            assert delivery.last_error.startswith("HTTP 503: down for maintenance")
            assert delivery.next_attempt_at is not None
            wait = (delivery.next_attempt_at - moment).total_seconds()
            assert expected_wait <= wait <= expected_wait * 1.1
            # Not before its time.
            assert await service.send_webhooks(client, now=moment) == 0
            moment = delivery.next_attempt_at
        assert await service.send_webhooks(client, now=moment) == 1
        [given_up] = await service.deliveries("t1", crm.id, status="failed")
        assert given_up.attempts == webhooks.MAX_ATTEMPTS
        assert route.call_count == webhooks.MAX_ATTEMPTS
        # The partner fixed its endpoint; the log lets it have the alert again.
        route.mock(return_value=httpx.Response(200))
        assert not await service.replay("t2", given_up.id)
        assert await service.replay("t1", given_up.id)
        assert await service.send_webhooks(client) == 1
    [delivered] = await service.deliveries("t1", crm.id)
    assert (delivered.status, delivered.attempts) == ("delivered", 1)


async def test_old_violations_of_an_imported_history_are_not_sent(
    service: PlaybookService,
) -> None:
    crm, _ = await service.subscribe("t1", HOOK, ["violation"])
    await service.receive([ticket("k9", NOW - timedelta(days=90))])
    await service.judge_due(now=NOW)
    assert len(await service.violations("t1")) == 1
    assert await service.deliveries("t1", crm.id) == []


async def test_the_feed_is_read_page_by_page_even_when_alerts_share_a_moment(
    service: PlaybookService, scoring: FakeScoring
) -> None:
    """Scoring raises a cohort's alerts at one moment; paging by (moment, id) reads them all,
    once, and ends."""
    crm, _ = await service.subscribe("t1", HOOK, ["out_of_pattern"])
    scoring.feed.extend(
        Event(f"a-{n:04d}", "t1", f"c{n}", "out_of_pattern", "info", "unusual", NOW, "scoring")
        for n in range(1200)
    )
    assert await service.pull_scoring_alerts(page=500) == 1200
    assert await service.pull_scoring_alerts(page=500) == 0
    assert len(await service.deliveries("t1", crm.id, limit=500)) == 500


@respx.mock
async def test_a_rotated_secret_signs_beside_the_old_one_for_the_overlap_only(
    service: PlaybookService,
) -> None:
    crm, old = await service.subscribe("t1", HOOK, ["violation"])
    route = respx.post(HOOK).mock(return_value=httpx.Response(204))
    rotated = await service.rotate_secret("t1", crm.id, overlap_hours=24, now=NOW)
    assert rotated is not None
    row, new = rotated
    assert new.startswith("whsec_")
    assert new != old
    assert row.previous_secret_until == NOW + timedelta(hours=24)
    await service.receive([ticket("k2", NOW - timedelta(days=2))])
    await service.judge_due(now=NOW)

    def signed_with(moment: datetime) -> set[str]:
        request = route.calls.last.request
        header = request.headers[webhooks.SIGNATURE_HEADER]
        at = int(moment.timestamp())
        return {
            name
            for name, secret in (("old", old), ("new", new))
            if webhooks.verify(secret, header, request.content, at)
        }

    async with httpx.AsyncClient() as client:
        during = NOW + timedelta(hours=23, minutes=59)
        assert await service.send_webhooks(client, now=during) == 1
        assert signed_with(during) == {"old", "new"}
        assert route.calls.last.request.headers[webhooks.SIGNATURE_HEADER].count("v1=") == 2
        [delivery] = await service.deliveries("t1", crm.id)
        assert await service.replay("t1", delivery.id)
        after = NOW + timedelta(hours=24)
        assert await service.send_webhooks(client, now=after) == 1
        assert signed_with(after) == {"new"}
        assert route.calls.last.request.headers[webhooks.SIGNATURE_HEADER].count("v1=") == 1


@respx.mock
async def test_a_rotation_without_overlap_stops_the_old_secret_at_once(
    service: PlaybookService,
) -> None:
    crm, old = await service.subscribe("t1", HOOK, ["violation"])
    route = respx.post(HOOK).mock(return_value=httpx.Response(204))
    first = await service.rotate_secret("t1", crm.id, now=NOW)  # 24 h by default
    assert first is not None
    assert first[0].previous_secret_until == NOW + timedelta(hours=24)
    second = await service.rotate_secret("t1", crm.id, overlap_hours=0, now=NOW)
    assert second is not None
    row, new = second
    assert row.previous_secret_until is None
    await service.receive([ticket("k2", NOW - timedelta(days=2))])
    await service.judge_due(now=NOW)
    async with httpx.AsyncClient() as client:
        assert await service.send_webhooks(client, now=NOW) == 1
    request = route.calls.last.request
    header = request.headers[webhooks.SIGNATURE_HEADER]
    at = int(NOW.timestamp())
    assert webhooks.verify(new, header, request.content, at)
    assert not webhooks.verify(first[1], header, request.content, at)
    assert not webhooks.verify(old, header, request.content, at)


async def test_rotation_refuses_another_tenants_subscription_and_a_bad_overlap(
    service: PlaybookService,
) -> None:
    crm, _ = await service.subscribe("t1", HOOK, ["violation"])
    assert await service.rotate_secret("t2", crm.id) is None
    assert await service.rotate_secret("t1", "no-such-id") is None
    for overlap in (-1, 169):
        with pytest.raises(InvalidSubscription) as refused:
            await service.rotate_secret("t1", crm.id, overlap_hours=overlap)
        assert refused.value.problems == [f"overlap_hours: must be 0..168, got {overlap}"]
    assert await service.rotate_secret("t1", crm.id, overlap_hours=168) is not None
    assert await service.unsubscribe("t1", crm.id)
    assert await service.rotate_secret("t1", crm.id) is None  # unsubscribed
