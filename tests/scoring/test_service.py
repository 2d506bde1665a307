"""Scoring's use cases against real SQLite and real PostgreSQL: exactly-once apply, order
independence with late events, as-of reads, stages with alerts, types, settings."""

from __future__ import annotations

import asyncio
import math
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relint.db import Database
from scoring.domain import DEFAULT_TABLE, Applied, Touch, contribution, value_at
from scoring.main import MIGRATIONS
from scoring.models import Relationship
from scoring.repository import LockedStanding, RelationshipFilter, ScoringRepository
from scoring.risk import Risk
from scoring.service import (
    NO_OUTLOOK,
    Assessment,
    Delivered,
    InvalidSettings,
    ScoringService,
    _stored_assessment,
)
from scoring.worker import ScoringWorker
from tests.scoring.demo_support import demo
from tests.scoring.risk_support import RANKED_NOW, RANKED_THEN, alert_row, risks_that_moved

T0 = datetime(2026, 2, 1, tzinfo=UTC)
KINDS = ["purchase", "complaint", "ticket_opened", "ticket_resolved", "renewal", "refund"]


def delivered(n: int, customer: str = "c1", tenant: str = "t1", **changes: object) -> Delivered:
    kind = KINDS[n % len(KINDS)]
    item = Delivered(
        interaction_id=f"{tenant}-{customer}-{n}",
        tenant_id=tenant,
        customer_id=customer,
        occurred_at=T0 + timedelta(hours=n),
        channel="sales",
        kind=kind,
        sentiment=((n % 5) - 2) / 2,
        revenue=float(n * 10),
        direction="inbound",
    )
    return replace(item, **changes)  # type: ignore[arg-type]


def expected_value(items: list[Delivered], at: datetime) -> float:
    history = [
        Applied(
            d.interaction_id,
            d.occurred_at,
            contribution(Touch(d.kind, d.sentiment, d.revenue, d.channel, d.outcome, d.refund)),
        )
        for d in items
    ]
    return value_at(DEFAULT_TABLE, history, at)


@pytest.fixture
async def service(database_factory: Callable[[Path, str], Awaitable[Database]]) -> ScoringService:
    return ScoringService(await database_factory(MIGRATIONS, "scoring"))


async def test_value_is_the_faded_sum_of_contributions(service: ScoringService) -> None:
    batch = [delivered(n) for n in range(12)]
    result = await service.apply(batch)
    assert (result.applied, result.duplicates) == (12, 0)
    [now] = await service.relationships("t1", ["c1"])
    assert now.value == pytest.approx(expected_value(batch, now.as_of), rel=1e-9)
    assert now.interaction_count == 12
    assert now.last_interaction_at == T0 + timedelta(hours=11)
    # As of a past moment: only what had happened by then, faded to then.
    as_of = T0 + timedelta(hours=5, minutes=30)
    [then] = await service.relationships("t1", ["c1"], as_of)
    assert then.value == pytest.approx(expected_value(batch[:6], as_of), rel=1e-12)
    assert (then.interaction_count, then.as_of) == (6, as_of)
    assert await service.relationships("t1", ["c1"], T0 - timedelta(days=1)) == []


async def test_the_trend_is_the_values_change_over_the_last_30_days(
    service: ScoringService,
) -> None:
    now = datetime.now(UTC)
    old = [
        delivered(n, occurred_at=now - timedelta(days=100 - n), kind="purchase", sentiment=0.5)
        for n in range(6)
    ]
    recent = [
        delivered(n, occurred_at=now - timedelta(days=10 - n), kind="complaint", sentiment=-1.0)
        for n in range(6, 9)
    ]
    await service.apply(old + recent)
    [current] = await service.relationships("t1", ["c1"])
    month_ago = current.as_of - timedelta(days=30)
    expected = expected_value(old + recent, current.as_of) - expected_value(old, month_ago)
    assert current.trend == pytest.approx(expected, rel=1e-9)
    assert current.trend < 0  # three complaints this month
    # The lists give it too, and as of a past moment it is that moment's last 30 days.
    # (A list reads a moment later: its trend is reckoned at its own as_of.)
    [(listed, _)] = await service.list_relationships("t1", RelationshipFilter(), 10)
    assert listed.trend == pytest.approx(
        expected_value(old + recent, listed.as_of)
        - expected_value(old, listed.as_of - timedelta(days=30)),
        rel=1e-9,
    )
    as_of = now - timedelta(days=90)
    [then] = await service.relationships("t1", ["c1"], as_of)
    assert then.trend == pytest.approx(
        expected_value(old, as_of) - expected_value(old, as_of - timedelta(days=30)), rel=1e-12
    )
    assert then.trend > 0  # six purchases that month


async def test_applying_again_changes_nothing(service: ScoringService) -> None:
    batch = [delivered(n) for n in range(6)]
    await service.apply(batch)
    [before] = await service.relationships("t1", ["c1"], T0 + timedelta(days=1))
    again = await service.apply(batch + batch[:2])
    assert (again.applied, again.duplicates) == (0, 8)
    [after] = await service.relationships("t1", ["c1"], T0 + timedelta(days=1))
    assert (after.value, after.interaction_count) == (before.value, before.interaction_count)


async def _states(service: ScoringService, customers: list[str]) -> list[tuple[object, ...]]:
    """Each customer's state after a worker pass, its value read at one moment for all (the
    value fades between two reads)."""
    await ScoringWorker(service).run_once()
    found = {r.customer_id: r for r in await service.relationships("t1", customers)}
    async with service.db.read() as session:
        changes = await ScoringRepository(session).state_changes("t1", customers)
    return [
        (
            found[c].value,
            found[c].interaction_count,
            found[c].first_interaction_at,
            found[c].last_interaction_at,
            found[c].last_contribution,
            found[c].stage,
            [(s.at, s.current) for s in changes if s.dimension == "stage" and s.customer_id == c],
        )
        for c in customers
    ]


async def test_any_arrival_order_with_late_events_gives_the_same_state(
    service: ScoringService,
) -> None:
    """Time order against a shuffled order delivered in several batches, where later batches
    bring interactions older than those already evaluated (late events: a replay)."""
    spread = [dict(occurred_at=T0 + timedelta(days=3 * n)) for n in range(40)]
    in_order = [delivered(n, "ordered", **spread[n]) for n in range(40)]
    await service.apply(in_order)
    shuffled = [delivered(n, "shuffled", **spread[n]) for n in range(40)]
    random.Random(3).shuffle(shuffled)
    for start in range(0, 40, 9):
        await service.apply(shuffled[start : start + 9])
        await ScoringWorker(service).run_once()  # evaluate between batches: later ones are late
    ordered, mixed = await _states(service, ["ordered", "shuffled"])
    # The sums added in another order: equal to the last bits.
    assert mixed[0] == pytest.approx(ordered[0], rel=1e-12)
    assert mixed[1:] == ordered[1:]
    assert ordered[5]  # a stage was evaluated


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
async def test_retries_of_any_subset_apply_each_once(
    service: ScoringService, data: st.DataObject
) -> None:
    customer = f"c{data.draw(st.integers(0, 10**9))}"
    items = [delivered(n, customer) for n in range(8)]
    deliveries = data.draw(
        st.lists(st.lists(st.sampled_from(items), min_size=1, max_size=8), min_size=1, max_size=5)
    )
    for batch in [items, *deliveries]:
        await service.apply(batch)
    at = T0 + timedelta(days=2)
    [state] = await service.relationships("t1", [customer], at)
    assert state.interaction_count == 8
    assert state.value == pytest.approx(expected_value(items, at), rel=1e-12)


async def test_tenants_are_isolated(service: ScoringService) -> None:
    await service.apply([delivered(0, "c1", "t1"), delivered(1, "c1", "t2")])
    assert [r.tenant_id for r in await service.relationships("t1", ["c1"])] == ["t1"]
    assert await service.relationships("t3", ["c1"]) == []


async def test_an_interaction_delivered_again_under_a_merged_customer_moves(
    service: ScoringService,
) -> None:
    """Ingest merged c2 into c1 and delivers c2's interactions again with c1 as customer."""
    kept = [delivered(n, "c1") for n in range(3)]
    await service.apply(kept)
    moved = [delivered(n, "c2") for n in range(3, 6)]
    await service.apply(moved)
    again = [replace(d, customer_id="c1") for d in moved]
    result = await service.apply(again)
    assert (result.applied, result.duplicates, result.moved) == (0, 0, 3)
    assert (await service.apply(again)).duplicates == 3  # and only once
    by_customer = {r.customer_id: r for r in await service.relationships("t1", ["c1", "c2"])}
    at = by_customer["c1"].as_of
    assert by_customer["c1"].value == pytest.approx(expected_value(kept + moved, at), rel=1e-9)
    assert by_customer["c1"].interaction_count == 6
    assert by_customer["c2"].interaction_count == 0
    assert by_customer["c2"].value == pytest.approx(0.0, abs=1e-9)


def steady_buyers(
    now: datetime,
    count: int = 20,
    *,
    tenant: str = "t1",
    prefix: str = "k",
    scale: float = 100.0,
    days: int = 300,
) -> list[Delivered]:
    """`count` customers buying every ten days from `days` days before `now`, customer c
    5 + c times at `scale` x (c + 1) a purchase: a tenant whose types spread by revenue."""
    return [
        delivered(
            1000 * c + n,
            f"{prefix}{c:02d}",
            tenant,
            kind="purchase",
            sentiment=None,
            revenue=scale * (c + 1),
            occurred_at=now - timedelta(days=days - 10 * n),
        )
        for c in range(count)
        for n in range(5 + c)
    ]


async def _a_loyal_buyer_with_two_grievances(service: ScoringService, days_ago: int) -> datetime:
    """c9 bought every ten days for a year, then complained and escalated a ticket, the
    last `days_ago` days before now; returns now."""
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=400)
    history = [
        delivered(n, "c9", kind="purchase", occurred_at=start + timedelta(days=10 * n))
        for n in range(38)
    ]
    history += [
        delivered(100, "c9", kind="complaint", occurred_at=now - timedelta(days=days_ago + 1)),
        delivered(101, "c9", kind="ticket_escalated", occurred_at=now - timedelta(days=days_ago)),
    ]
    await service.apply(history)
    return now


async def test_a_move_into_the_coming_apart_half_raises_one_alert(
    service: ScoringService,
) -> None:
    await _a_loyal_buyer_with_two_grievances(service, days_ago=2)
    worker = ScoringWorker(service)
    await worker.run_once()
    [state] = await service.relationships("t1", ["c9"])
    assert state.stage == "differentiating"
    assert state.stage_reason == "2 grievances in 60 days (complaint, ticket escalated)"
    [riskiest] = await service.at_risk("t1", 1)
    assert riskiest.customer_id == "c9"
    assert riskiest.risk > 0.2
    assert riskiest.risk_reasons[:2] == ("stage differentiating", "2 grievances in 90 days")
    raised = await service.alerts("t1", ["c9"])
    [alert] = [a for a in raised if a.kind == "stage_change"]
    assert (alert.kind, alert.severity) == ("stage_change", "warning")
    # The same two grievances are also out of the customer's own pattern.
    [unusual] = [a for a in raised if a.kind == "out_of_pattern"]
    assert unusual.reason.startswith("value swing: value fell ")
    assert alert.reason.startswith("moved from ")
    assert "to differentiating: 2 grievances in 60 days" in alert.reason
    # And it crossed the at-risk line (below).
    [risky] = [a for a in raised if a.kind == "at_risk"]
    await service.mark_all_dirty()
    await worker.run_once()  # evaluated again: the same transition, no second alert
    assert len(await service.alerts("t1", ["c9"])) == 3
    assert await service.acknowledge("t1", alert.id, "ana")
    assert not await service.acknowledge("t1", alert.id, "ana")
    assert not await service.acknowledge("t2", alert.id, "eve")
    assert {a.id for a in await service.alerts("t1", open_only=True)} == {unusual.id, risky.id}


async def test_a_pass_stores_its_customers_together_or_not_at_all(
    service: ScoringService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass's assessments of a tenant are stored in one transaction: when a write fails,
    no customer of it has a stage, an alert or a cleared mark, and the next pass stores
    them all."""
    await _a_loyal_buyer_with_two_grievances(service, days_ago=2)
    await service.apply([delivered(n, f"c{n}", kind="purchase") for n in range(3)])

    async def failing(_: ScoringRepository, rows: list[object]) -> int:
        if rows:  # c9's alerts, the last customer of the pass
            raise RuntimeError("the store went away")
        return 0

    monkeypatch.setattr(ScoringRepository, "raise_alerts", failing)
    with pytest.raises(RuntimeError, match="went away"):
        await service.evaluate_stages()
    monkeypatch.undo()
    customers = ["c0", "c1", "c2", "c9"]
    assert {s.stage for s in await service.relationships("t1", customers)} == {""}
    assert await service.alerts("t1") == []
    assert await service.evaluate_stages() == 4
    stored = {s.customer_id: s.stage for s in await service.relationships("t1", customers)}
    assert stored["c9"] == "differentiating"
    assert all(stored.values())
    assert {a.kind for a in await service.alerts("t1")} == {
        "stage_change",
        "out_of_pattern",
        "at_risk",
    }
    assert await service.evaluate_stages() == 0


async def test_each_stretch_at_risk_alerts_once(service: ScoringService) -> None:
    """At risk (0.5 and up): one `at_risk` alert with the score and its reasons, none on
    evaluations that find it still there; after the risk fell below the line, the next
    stretch at risk alerts again."""
    now = await _a_loyal_buyer_with_two_grievances(service, days_ago=2)
    worker = ScoringWorker(service)
    await worker.run_once()
    [state] = await service.relationships("t1", ["c9"])
    [first] = [a for a in await service.alerts("t1", ["c9"]) if a.kind == "at_risk"]
    assert state.risk >= 0.5
    assert (first.severity, first.reason) == (
        "warning",
        f"risk {state.risk:.0%} (was 0%): stage differentiating; 2 grievances in 90 days",
    )
    await service.mark_all_dirty()
    await worker.run_once()
    assert [a.id for a in await service.alerts("t1", ["c9"]) if a.kind == "at_risk"] == [first.id]
    # It buys again: a commitment takes it below the line.
    await service.apply(
        [
            delivered(300 + k, "c9", kind="purchase", occurred_at=now - timedelta(hours=20 - k))
            for k in range(6)
        ]
    )
    await worker.run_once()
    [state] = await service.relationships("t1", ["c9"])
    assert state.risk < 0.5
    # Two months of silence later (another customer's purchase keeps the data current).
    later = now + timedelta(days=60)
    await service.apply(
        [delivered(500, "c8", kind="purchase", occurred_at=later - timedelta(days=1))]
    )
    await service.mark_all_dirty()
    await service.evaluate_stages(now=later)
    [state] = await service.relationships("t1", ["c9"], later)
    again = [a for a in await service.alerts("t1", ["c9"]) if a.kind == "at_risk" and a != first]
    assert [(a.severity, a.reason) for a in again] == [
        (
            "critical",
            f"risk {state.risk:.0%} (was 38%): silent for 61 days against a usual 10; "
            "stage differentiating; 2 grievances in 90 days",
        )
    ]


async def test_a_recent_move_judged_before_the_data_was_current_alerts_once_it_is(
    service: ScoringService,
) -> None:
    """A load still arriving: the customer's move into differentiating is judged while the
    tenant's newest data is ten days old (nothing alerted about the present), and alerted by
    the first pass after current data arrives, although that pass starts after the move."""
    now = await _a_loyal_buyer_with_two_grievances(service, days_ago=10)
    worker = ScoringWorker(service)
    await worker.run_once()
    [state] = await service.relationships("t1", ["c9"])
    assert state.stage == "differentiating"
    assert [a for a in await service.alerts("t1", ["c9"]) if a.kind == "stage_change"] == []

    # The rest of the load: another customer's interaction of yesterday makes the data
    # current, and c9 is looked at again from yesterday on.
    day = timedelta(days=1)
    await service.apply([delivered(200, "c8", kind="purchase", occurred_at=now - day)])
    await service.mark_all_dirty(now - day)
    await worker.run_once()
    [state] = await service.relationships("t1", ["c9"])
    assert state.stage == "differentiating"
    [alert] = [a for a in await service.alerts("t1", ["c9"]) if a.kind == "stage_change"]
    assert "to differentiating: 2 grievances in 60 days" in alert.reason
    await service.mark_all_dirty(now - day)
    await worker.run_once()  # the same standing move: no second alert
    assert [a.id for a in await service.alerts("t1", ["c9"]) if a.kind == "stage_change"] == [
        alert.id
    ]


async def test_customers_judged_before_the_data_was_current_are_judged_again_once_it_is(
    service: ScoringService,
) -> None:
    """A load in time order that the worker looks at half way: a customer whose last contact
    came early in the load is judged while the newest data is months old (nothing alerted
    about the present) and gets nothing new from the rest of the load. When the rest makes
    the data current, the worker judges it again by itself and alerts that it is at risk,
    once; the customers it already judged on current data are not judged again for that."""
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=400)
    gone = [
        delivered(n, "gone", kind="ticket_opened", occurred_at=start + timedelta(days=10 * n))
        for n in range(20)
    ]
    live = [
        delivered(n, "live", kind="ticket_opened", occurred_at=now - timedelta(days=1 + 10 * n))
        for n in reversed(range(40))
    ]
    early = [d for d in live if d.occurred_at < start + timedelta(days=200)]
    worker = ScoringWorker(service)
    await service.apply([*gone, *early])
    await worker.run_once()
    [state] = await service.relationships("t1", ["gone"])
    assert state.risk >= 0.5
    assert await service.alerts("t1") == []

    await service.apply(live[len(early) :])
    await worker.run_once()
    alerted = await service.alerts("t1", ["gone"])
    assert sorted((a.kind, a.reason) for a in alerted) == [
        (
            "at_risk",
            f"risk {state.risk:.0%}: stage terminating; silent for 210 days against a usual 10",
        ),
        ("out_of_pattern", "silence: silent for 210 days; it usually interacts every 10 days"),
    ]
    # Judged on current data now: passes after this one leave it alone.
    assert await service.evaluate_stages() == 0
    await service.apply([delivered(99, "live", kind="ticket_opened", occurred_at=now)])
    assert await service.evaluate_stages() == 1
    assert await service.alerts("t1", ["gone"]) == alerted


def _a_load_of_history() -> list[Delivered]:
    """A customer silent for seven months after twenty contacts ten days apart, and one
    heard from yesterday: the tenant's data is current, and the silence alerts."""
    now = datetime.now(UTC).replace(microsecond=0)
    gone = [
        delivered(n, "gone", kind="ticket_opened", occurred_at=now - timedelta(days=400 - 10 * n))
        for n in range(20)
    ]
    return [delivered(0, "live", kind="ticket_opened", occurred_at=now - timedelta(days=1)), *gone]


async def _settled(*services: ScoringService) -> None:
    """The load of history the services hold alerts for has settled: they started with a
    minute's settle (a slow moment of the suite does not end it early), and a minute goes
    by as their settle shrinks to 50 ms."""
    for service in services:
        service.history_settle_seconds = 0.05
    await asyncio.sleep(0.1)


async def test_alerts_wait_until_a_load_of_history_stops_arriving(
    service: ScoringService,
) -> None:
    """A load sends batches concurrently, so its newest interactions can arrive while older
    ones of other customers are still on their way: the tenant's data looks current, yet a
    customer judged then misses its last weeks. Alerts about the present wait until nothing
    older than three days has arrived for `history_settle_seconds`, then the customers
    judged meanwhile are judged again and alert."""
    settling = ScoringService(service.db, history_settle_seconds=60)
    await settling.apply(_a_load_of_history())
    assert await settling.evaluate_stages() == 2
    assert await settling.alerts("t1") == []  # judged, but nothing alerted yet
    await _settled(settling)
    # Nothing new arrived, yet the customers judged meanwhile are judged again.
    assert await settling.evaluate_stages() == 2
    assert await settling.evaluate_stages() == 0
    assert {a.kind for a in await settling.alerts("t1", ["gone"])} == {
        "at_risk",
        "out_of_pattern",
    }


async def test_every_replica_holds_its_alerts_while_a_load_arrives_at_another(
    service: ScoringService,
) -> None:
    """Two scoring processes on one store, as two replicas behind one address: the history
    arrives at one, the other's stage pass judges the customers. That pass raises nothing
    while the load arrives, and once it has settled the other replica judges the customers
    again and alerts, once, whichever replica looks first."""
    applying = ScoringService(service.db, history_settle_seconds=60)
    judging = ScoringService(service.db, history_settle_seconds=60)
    await applying.apply(_a_load_of_history())
    assert await judging.evaluate_stages() == 2
    assert await judging.alerts("t1") == []  # judged, but nothing alerted yet
    await _settled(applying, judging)
    assert await judging.evaluate_stages() == 2  # judged again, nothing new arrived
    assert await applying.evaluate_stages() == 0  # the settled load is marked once
    assert await judging.evaluate_stages() == 0
    assert {a.kind for a in await judging.alerts("t1", ["gone"])} == {
        "at_risk",
        "out_of_pattern",
    }


async def test_a_pass_while_streaming_leaves_a_tenant_whose_history_is_arriving(
    service: ScoringService,
) -> None:
    """The worker's passes while interactions keep arriving judge the tenants with current
    data and leave one whose history is still arriving (judged on half its history, its
    customers would be judged again when the rest arrives); a pass once the stream pauses,
    and every pass once the load has settled, judges them too."""
    settling = ScoringService(service.db, history_settle_seconds=60)
    await settling.apply(_a_load_of_history())  # tenant t1: a load of history
    now = datetime.now(UTC)
    await settling.apply([delivered(n, "c2", "t2", occurred_at=now) for n in range(3)])
    assert await settling.evaluate_stages(streaming=True) == 1  # t2's customer alone
    assert await settling.evaluate_stages(streaming=True) == 0
    [waiting] = await settling.relationships("t1", ["gone"])
    assert waiting.stage == ""  # not judged yet
    await _settled(settling)
    assert await settling.evaluate_stages(streaming=True) == 2  # the load has settled
    # Without a settle (a library use, the backtest) nothing counts as arriving.
    await settling.apply([delivered(30, "gone", occurred_at=now - timedelta(days=100))])
    settling.history_settle_seconds = 0
    assert await settling.evaluate_stages(streaming=True) == 1


def test_an_at_risk_alert_goes_by_the_standing_the_store_held_when_it_was_stored() -> None:
    """A pass reads its customers first and stores them later, with their rows locked; if
    another pass stored one meanwhile, the alert's "(was …)" is the risk the store holds at
    that moment, not the one read at the start, and an alert that pass raised is not
    raised again."""
    now = datetime.now(UTC)
    read_at_start = Relationship(tenant_id="t1", customer_id="c1", risk=0.1)
    found = Assessment(
        relationship=read_at_start,
        since=None,
        now=now,
        alerting=True,
        before=None,
        transitions=[],
        unusual=[],
        assessed=Risk(0.7, ["stage avoiding"]),
        outlook=NO_OUTLOOK,
    )

    def alerts(stored_risk: float, alerted: bool = False) -> list[str]:
        stands = LockedStanding(("", None), stored_risk, alerted)
        return [str(a["reason"]) for a in _stored_assessment(found, stands, True).alerts]

    assert alerts(0.3) == ["risk 70% (was 30%): stage avoiding"]
    # Found at risk by the other pass while its alert waited: no "was".
    assert alerts(0.6) == ["risk 70%: stage avoiding"]
    # The other pass alerted already: once a stretch at risk.
    assert alerts(0.6, alerted=True) == []


async def test_a_silence_judged_week_after_week_alerts_once_a_severity(
    service: ScoringService,
) -> None:
    """The clock judges everyone daily: a customer gone silent is out of its pattern on each
    of those days, but one silence raises one warning, and one critical once it lasts twice
    as long, not an alert every week."""
    start = datetime(2026, 1, 5, tzinfo=UTC)
    weekly = [
        delivered(n, "quiet", kind="ticket_opened", occurred_at=start + timedelta(days=7 * n))
        for n in range(30)
    ]
    last = weekly[-1].occurred_at
    daily = [
        delivered(n, "busy", kind="ticket_opened", occurred_at=start + timedelta(days=n))
        for n in range(7 * 29 + 80)
    ]
    await service.apply([*weekly, *daily])
    for days in (30, 37, 44, 51, 58, 65, 72):
        await service.mark_all_dirty()
        while await service.evaluate_stages(now=last + timedelta(days=days)):
            pass
    silences = sorted(
        (a.severity, a.reason)
        for a in await service.alerts("t1", ["quiet"])
        if a.kind == "out_of_pattern"
    )
    assert silences == [
        ("critical", "silence: silent for 58 days; it usually interacts every 7 days"),
        ("warning", "silence: silent for 30 days; it usually interacts every 7 days"),
    ]


async def test_a_mark_made_while_a_stage_pass_runs_is_not_cleared_by_it(
    service: ScoringService,
    database_factory: Callable[[Path, str], Awaitable[Database]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stage pass reads a customer's history, reckons, then stores. An interaction that
    arrives in between (later than the mark the pass read, so the mark's moment does not
    move) and a tenant-wide mark (a new retention model) must leave the customer to be
    judged again: the pass judged without them."""
    await service.apply([delivered(n) for n in range(6)])
    store = service._store_assessments
    arrivals = [
        lambda: service.apply([delivered(40, occurred_at=T0 + timedelta(days=100))]),
        lambda: service.mark_all_dirty(T0 + timedelta(hours=30)),
    ]
    for arrive in arrivals:

        async def store_after_an_arrival(
            tenant_id: str, found: Any, risk_alerts: bool, arrive: Any = arrive
        ) -> None:
            await arrive()
            await store(tenant_id, found, risk_alerts)

        await service.mark_all_dirty()  # from each customer's first interaction
        monkeypatch.setattr(service, "_store_assessments", store_after_an_arrival)
        assert await service.evaluate_stages() == 1
        monkeypatch.setattr(service, "_store_assessments", store)
        assert await service.evaluate_stages() == 1
        assert await service.evaluate_stages() == 0
    # What is stored is the stage history of the whole history judged at once.
    whole = ScoringService(await database_factory(MIGRATIONS, "scoring-whole"))
    await whole.apply(
        [*(delivered(n) for n in range(6)), delivered(40, occurred_at=T0 + timedelta(days=100))]
    )
    assert await whole.evaluate_stages() == 1
    histories = []
    for judged in (service, whole):
        async with judged.db.read() as session:
            changes = await ScoringRepository(session).state_changes("t1", ["c1"])
        histories.append([(c.at, c.previous, c.current) for c in changes if c.dimension == "stage"])
    assert histories[0] == histories[1]
    # The late renewal moved the stage: judged without it, the history would not show it.
    assert (T0 + timedelta(days=100)) in [at for at, _, _ in histories[0]]


async def test_types_are_placed_with_reasons_and_follow_the_tenants_rules(
    service: ScoringService,
) -> None:
    now = datetime.now(UTC)
    items = steady_buyers(now)
    await service.apply(items)
    await ScoringWorker(service).run_once()
    states = {
        r.customer_id: r
        for r in await service.relationships("t1", [f"k{c:02d}" for c in range(20)])
    }
    assert states["k19"].relationship_type == "BFF"
    assert states["k19"].type_reason.startswith("revenue in the top 35%")
    assert states["k00"].relationship_type == "Acquaintance"
    # The tenant renames its types and adds a threshold of its own: everyone is placed again.
    rules = [
        {"name": "Key account", "when": [{"feature": "revenue", "at_least": 20_000}]},
        {"name": "Everyone else"},
    ]
    with pytest.raises(InvalidSettings) as bad:
        await service.put_settings("t1", None, [{"name": "Only", "when": [{"feature": "mood"}]}])
    assert bad.value.problems[0].startswith("types[0].when[0].feature: one of engagement")
    await service.put_settings("t1", {"weights": {"purchase": 1.0}}, rules)
    await ScoringWorker(service).run_once()
    states = {
        r.customer_id: r
        for r in await service.relationships("t1", [f"k{c:02d}" for c in range(20)])
    }
    assert states["k19"].relationship_type == "Key account"
    assert states["k00"].relationship_type == "Everyone else"
    # The new weights were applied to the whole history.
    [k00] = await service.relationships("t1", ["k00"], now)
    assert k00.last_contribution == pytest.approx(1.0 + 0.5 * math.log10(101))


async def test_a_late_interaction_of_a_placed_customer_places_its_past_types_again(
    service: ScoringService,
) -> None:
    """A customer already placed receives a big purchase from 200 days ago after the fact:
    once the stream pauses, its types at the month ends from then on are placed again, as a
    tenant that had the purchase all along has them; its types before then stay as they
    were, and as-of reads of its past follow."""
    now = datetime.now(UTC)

    late_moment = now - timedelta(days=200)
    big = delivered(
        99, "k00", kind="purchase", sentiment=None, revenue=60_000.0, occurred_at=late_moment
    )

    async def type_changes(tenant: str) -> list[tuple[datetime, str]]:
        async with service.db.read() as session:
            changes = await ScoringRepository(session).state_changes(tenant, ["k00"], now)
        # At month ends (the placements now are each tenant's own moment).
        return sorted(
            (c.at, c.current)
            for c in changes
            if c.dimension == "type" and c.at < now - timedelta(days=1)
        )

    worker = ScoringWorker(service)
    await service.apply(steady_buyers(now, days=330))
    await worker.run_once()
    before = await type_changes("t1")
    assert before
    await service.apply(
        [
            *steady_buyers(now, tenant="t2", days=330),
            replace(big, tenant_id="t2", interaction_id="t2-big"),
        ]
    )
    await worker.run_once()
    expected = await type_changes("t2")
    assert expected != before  # the purchase changes k00's past

    await service.apply([big])
    # While the stream goes on, the past waits (the placement pass saw new interactions).
    await worker._classify()
    assert await type_changes("t1") == before
    # It paused: the next pass places the past again.
    await worker._classify()
    assert await type_changes("t1") == expected
    assert [c for c in before if c[0] < late_moment] == [c for c in expected if c[0] < late_moment]
    [then] = await service.relationships("t1", ["k00"], now - timedelta(days=100))
    [also] = await service.relationships("t2", ["k00"], now - timedelta(days=100))
    assert then.relationship_type == also.relationship_type
    [current] = await service.relationships("t1", ["k00"])
    assert current.relationship_type == expected[-1][1]
    # Done: nothing is waiting any more.
    assert await service.retyping_due(()) == []
    assert await service.retype("t1") == 0


async def test_a_read_as_of_a_past_moment_uses_the_retention_model_of_then(
    service: ScoringService,
) -> None:
    """Every fit is kept. A read as of a past moment, a ranking as of it and a timeline use
    the model fitted on the data up to then (before the first fit, the first), as a tenant
    that only ever had that model does; a read now uses the latest."""
    now = datetime.now(UTC).replace(microsecond=0)
    await service.apply([*buyers(now), *buyers(now, "t2")])
    then = now - timedelta(days=150)
    early = await service.fit_retention("t1", then)
    twin = await service.fit_retention("t2", then)
    late = await service.fit_retention("t1")
    assert early is not None
    assert twin is not None
    assert late is not None
    assert (twin.kind, twin.bgnbd, twin.pareto_nbd) == (early.kind, early.bgnbd, early.pareto_nbd)
    assert early.bgnbd != late.bgnbd
    after = datetime.now(UTC)
    for moment in (then + timedelta(days=10), then - timedelta(days=60)):
        ours = await service.relationships("t1", ["b00", "b39"], moment)
        only_early = await service.relationships("t2", ["b00", "b39"], moment)
        assert [(r.p_alive, r.risk) for r in ours] == [(r.p_alive, r.risk) for r in only_early]
        [ranked] = await service.at_risk("t1", 1, moment)
        [ranked_early] = await service.at_risk("t2", 1, moment)
        assert (ranked.customer_id, ranked.risk) == (ranked_early.customer_id, ranked_early.risk)
    points = await service.timeline("t1", "b39", then, after, points=3)
    points_early = await service.timeline("t2", "b39", then, after, points=3)
    assert points[0].risk == points_early[0].risk
    # From the second fit on, its model: not the first one's any more.
    assert points[-1].risk != points_early[-1].risk
    [current] = await service.relationships("t1", ["b39"], after)
    [current_early] = await service.relationships("t2", ["b39"], after)
    assert current.p_alive != current_early.p_alive


async def test_past_types_that_fail_to_be_placed_again_wait_for_the_next_pass(
    service: ScoringService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure half way through storing the new past (the store away after the old type
    changes were deleted) leaves nothing half written: the old type history stands, the
    mark stays from the same moment, and the next pass places the past."""
    now = datetime.now(UTC)
    worker = ScoringWorker(service)
    await service.apply(steady_buyers(now, 10))
    await worker.run_once()
    stored = await _type_history(service, "t1")
    late = now - timedelta(days=150)
    await service.apply([delivered(99, "k00", kind="purchase", revenue=9_000.0, occurred_at=late)])

    async def away(*args: object, **kwargs: object) -> None:
        raise ConnectionError("the store went away")

    monkeypatch.setattr(ScoringRepository, "insert_state_changes", away)
    with pytest.raises(ConnectionError):
        await service.retype("t1")
    assert await service.retyping_due(()) == ["t1"]
    assert await _type_history(service, "t1") == stored
    monkeypatch.undo()
    async with service.db.read() as session:
        marked = await ScoringRepository(session).retype_marks("t1")
    assert {c: since for c, (since, _) in marked.items()} == {"k00": late}
    await worker.run_once()
    async with service.db.read() as session:
        assert await ScoringRepository(session).retype_marks("t1") == {}
    assert await _type_history(service, "t1") != stored


async def test_past_types_placed_again_appear_at_once_and_keep_a_mark_that_moved_meanwhile(
    service: ScoringService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a customer's past types are placed again, readers see its types as they were,
    not the month ends stepping through its past; the new ones appear together. An
    interaction that arrives meanwhile keeps its customer marked, and its tenant due, for
    the next pass (the placement did not see it)."""
    now = datetime.now(UTC)
    worker = ScoringWorker(service)
    await service.apply(steady_buyers(now, days=330))
    await worker.run_once()
    stored = await _type_history(service, "t1")
    [k00] = await service.relationships("t1", ["k00"])
    big = now - timedelta(days=200)
    await service.apply(
        [delivered(99, "k00", kind="purchase", sentiment=None, revenue=60_000.0, occurred_at=big)]
    )
    placing = service._placed_history
    seen: list[tuple[str, list[tuple[str, datetime, str]]]] = []

    async def watched(*args: Any, **kwargs: Any) -> Any:
        placed = await placing(*args, **kwargs)
        [then] = await service.relationships("t1", ["k00"])
        seen.append((then.relationship_type, await _type_history(service, "t1")))
        if len(seen) == 1:  # another one arrives while the first is placed
            await service.apply([delivered(98, "k00", kind="complaint", occurred_at=now)])
        return placed

    monkeypatch.setattr(service, "_placed_history", watched)
    assert await service.retyping_due(()) == ["t1"]
    assert await service.retype("t1") > 0
    assert await service.retyping_due(()) == ["t1"]
    assert seen == [(k00.relationship_type, stored)]
    assert await _type_history(service, "t1") != stored
    # The customer stays marked from its first late moment, for the second arrival.
    async with service.db.read() as session:
        marked = await ScoringRepository(session).retype_marks("t1")
    assert {c: since for c, (since, _) in marked.items()} == {"k00": big}
    await service.retype("t1")
    assert len(seen) == 2
    assert await service.retyping_due(()) == []


async def _type_history(service: ScoringService, tenant: str) -> list[tuple[str, datetime, str]]:
    """The tenant's changes of type before today, by customer and moment."""
    now = datetime.now(UTC)
    async with service.db.read() as session:
        repo = ScoringRepository(session)
        ids = [r.customer_id for r in await repo.tenant_relationships(tenant)]
        changes = await repo.state_changes(tenant, ids, now)
    return sorted(
        (c.customer_id, c.at, c.current)
        for c in changes
        if c.dimension == "type" and c.at < now - timedelta(days=1)
    )


async def test_customers_whose_history_arrives_later_get_their_past_types_too(
    service: ScoringService,
) -> None:
    """A tenant placed once (its type history from month ends) imports older customers
    later: they get the past types they would have had had they been there all along (a
    tenant that got everything at once), and the others' type histories are not written
    again."""
    now = datetime.now(UTC)

    async def type_changes(tenant: str, ids: list[str]) -> list[tuple[str, datetime, str]]:
        async with service.db.read() as session:
            changes = await ScoringRepository(session).state_changes(tenant, ids, now)
        return sorted((c.customer_id, c.at, c.current) for c in changes if c.dimension == "type")

    first = [f"k{c:02d}" for c in range(20)]
    late = ["late00", "late01", "late02"]
    await service.apply(steady_buyers(now))
    await ScoringWorker(service).run_once()
    before = await type_changes("t1", first)
    assert before
    await service.apply(steady_buyers(now, 3, prefix="late", scale=3000.0))
    await service.apply(
        steady_buyers(now, tenant="t2")
        + steady_buyers(now, 3, tenant="t2", prefix="late", scale=3000.0)
    )
    await ScoringWorker(service).run_once()
    assert await type_changes("t1", first) == before

    async def past_types(tenant: str) -> list[tuple[str, datetime, str]]:
        """The late customers' type changes at month ends (the ones now are each tenant's
        own moment)."""
        return [c for c in await type_changes(tenant, late) if c[1] < now - timedelta(days=1)]

    past = await past_types("t1")
    # Typed at the month ends of their past, as if there all along.
    assert min(at for _, at, _ in past) < now - timedelta(days=200)
    assert past == await past_types("t2")
    then = await service.relationships("t1", late, now - timedelta(days=100))
    assert all(r.relationship_type for r in then)
    # Once placed, the next pass places them now only.
    await service.apply([delivered(1, "late00", occurred_at=now - timedelta(hours=1))])
    await ScoringWorker(service).run_once()
    assert await past_types("t1") == past


DEMO_CUSTOMERS = 150


def _demo_delivered(tenant: str, shift: timedelta, until: datetime) -> list[Delivered]:
    """The demo company's interactions up to `until`, moved by `shift`."""
    _, items = demo(DEMO_CUSTOMERS, 7)
    found = []
    for customer, history in items.items():
        for n, item in enumerate(history):
            at = datetime.fromisoformat(item["occurred_at"])
            if at > until:
                continue
            money = {"revenue": 0.0, "refund": 0.0, "cost_to_serve": 0.0}
            if item.get("amount_type") in money:
                money[item["amount_type"]] = float(item["amount"])
            found.append(
                Delivered(
                    interaction_id=f"{tenant}-{customer}-{n}",
                    tenant_id=tenant,
                    customer_id=customer,
                    occurred_at=at + shift,
                    channel=item["channel"],
                    kind=item["kind"],
                    sentiment=item.get("sentiment"),
                    revenue=money["revenue"],
                    refund=money["refund"],
                    cost=money["cost_to_serve"],
                    direction=item["direction"],
                )
            )
    return found


async def test_the_potential_as_of_a_past_moment_is_the_one_placed_then(
    service: ScoringService,
) -> None:
    """Customers like the best but bringing less, as the tenant stood 25 days ago: what a
    tenant whose history ended then finds when it is placed at that moment."""
    truth, _ = demo(DEMO_CUSTOMERS, 7)
    end = truth.config.end
    to_now = datetime.now(UTC) - timedelta(hours=1) - end
    cut = end - timedelta(days=25)
    await service.apply(_demo_delivered("t1", to_now, end))
    await service.apply(_demo_delivered("t2", to_now, cut))
    await service.classify("t1")
    await service.classify("t2", cut + to_now)
    then = await service.with_potential("t1", 20, cut + to_now)
    placed = await service.with_potential("t2", 20)
    assert placed  # measured: a handful
    assert [
        (v.customer_id, v.potential, v.potential_reason, v.as_of == cut + to_now) for v in then
    ] == [(v.customer_id, v.potential, v.potential_reason, True) for v in placed]
    now = await service.with_potential("t1", 20)
    assert [v.customer_id for v in now] != [v.customer_id for v in then]
    # A moment not yet past is now.
    later = await service.with_potential("t1", 20, datetime.now(UTC) + timedelta(days=1))
    assert [v.customer_id for v in later] == [v.customer_id for v in now]


async def test_a_tenants_outcome_weights_change_its_contributions_and_no_one_elses(
    service: ScoringService,
) -> None:
    """A won quote weighs the outcome alone (a quote has no weight of its own): 2 by default.
    One tenant makes a win count 5; its history is weighed again and its new wins count 5,
    while the other tenant's wins keep the default."""
    now = datetime.now(UTC)

    def won(n: int, tenant: str) -> Delivered:
        at = now - timedelta(days=2 - n)
        return Delivered(f"w{n}{tenant}", tenant, "c1", at, "sales", "quote", outcome="won")

    await service.apply([won(0, "t1"), won(0, "t2")])
    with pytest.raises(InvalidSettings) as bad:
        await service.put_settings("t1", {"negativity": 3, "outcomes": {"won": math.inf}}, None)
    assert bad.value.problems == ["outcomes.won: must be a number between -100 and 100"]
    async with service.db.read() as session:
        assert await ScoringRepository(session).settings("t1") is None  # nothing half-stored
    await service.put_settings("t1", {"outcomes": {"won": 5}}, None)
    for n in (0, 1):
        if n:
            await service.apply([won(1, "t1"), won(1, "t2")])
        [t1] = await service.relationships("t1", ["c1"])
        [t2] = await service.relationships("t2", ["c1"])
        assert t1.value == pytest.approx(2.5 * t2.value, rel=1e-9)  # the same wins, faded alike
        [t1] = await service.relationships("t1", ["c1"], won(n, "t1").occurred_at)
        [t2] = await service.relationships("t2", ["c1"], won(n, "t2").occurred_at)
        assert (t1.last_contribution, t2.last_contribution) == (5.0, 2.0)


async def test_settings_stored_before_a_check_fall_back_to_the_defaults_logged(
    service: ScoringService, caplog: pytest.LogCaptureFixture
) -> None:
    """Stored before names were compared trimmed and null weights refused: the tenant's
    reads go on with the defaults for that part, and the log says why."""
    stored = [{"name": "BFF", "when": []}, {"name": "BFF ", "when": []}]
    await service._store_settings("t1", stored, {"weights": None})
    with caplog.at_level("ERROR", logger="scoring.service"):
        rules = await service.rules("t1")
    assert rules.weights == DEFAULT_TABLE
    assert rules.types[-1].name == "Acquaintance"
    messages = [r.getMessage() for r in caplog.records]
    assert any("tenant t1: stored weights refused" in m for m in messages), messages
    assert any("'BFF' appears twice" in m for m in messages), messages


async def test_an_import_of_old_history_raises_no_alerts_about_the_present(
    service: ScoringService,
) -> None:
    """A year-old history: its customer looks silent today, but the tenant's data is not
    current, so nothing about the present is alerted; the stage is still evaluated."""
    start = datetime.now(UTC) - timedelta(days=700)
    history = [
        delivered(n, "old", kind="purchase", occurred_at=start + timedelta(days=7 * n))
        for n in range(40)
    ]
    await service.apply(history)
    await ScoringWorker(service).run_once()
    [state] = await service.relationships("t1", ["old"])
    assert state.stage == "terminating"
    assert await service.alerts("t1") == []


def buyers(now: datetime, tenant: str = "t1") -> list[Delivered]:
    """40 customers buying over 300 days, each at its own pace; the last ten stopped 190
    days ago."""
    return [
        delivered(
            1000 * c + n,
            f"b{c:02d}",
            tenant,
            kind="purchase",
            revenue=50.0 + c,
            sentiment=None,
            occurred_at=now - timedelta(days=310 - day),
        )
        for c in range(40)
        for n, day in enumerate(range(5, 300 if c < 30 else 120, 10 + c))
    ]


async def test_the_tenants_retention_model_feeds_each_customers_outlook(
    service: ScoringService, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    await service.apply(buyers(now))
    await ScoringWorker(service).run_once()
    # The worker fitted the tenant's model when it placed the customers, and evaluated
    # everyone again with it.
    model = await service.fit_retention("t1")
    assert model is not None
    assert model.customers == 40
    assert set(model.bgnbd) == {"r", "alpha", "a", "b"}
    assert set(model.gamma_gamma) == {"p", "q", "v"}
    await ScoringWorker(service).run_once()
    states = {r.customer_id: r for r in await service.relationships("t1", ["b00", "b39"])}
    steady, stopped = states["b00"], states["b39"]
    assert steady.p_alive is not None
    assert stopped.p_alive is not None
    assert steady.p_alive > stopped.p_alive
    assert steady.expected_purchases is not None
    assert steady.expected_purchases > 1
    assert steady.lifetime_value is not None
    assert steady.lifetime_value > 0
    assert stopped.risk > steady.risk
    assert stopped.risk_reasons[-1].startswith("purchase model: ")
    # As of a moment, the outlook is the same model's on the purchases up to then: just
    # now, what the worker found; and the timeline's risk is that risk.
    moment = datetime.now(UTC)
    for was in (steady, stopped):
        [then] = await service.relationships("t1", [was.customer_id], moment)
        assert then.p_alive == pytest.approx(was.p_alive, abs=1e-3)
        assert then.expected_purchases == pytest.approx(was.expected_purchases, rel=1e-2)
        assert then.lifetime_value == pytest.approx(was.lifetime_value, rel=1e-2)
        assert then.risk == pytest.approx(was.risk, abs=1e-3)
        assert then.risk_reasons == was.risk_reasons
        points = await service.timeline("t1", was.customer_id, moment - timedelta(days=30), moment)
        assert points[-1].risk == pytest.approx(was.risk, abs=1e-3)
    # Before its last purchases, the stopped buyer was still buying: likelier to be active.
    [earlier] = await service.relationships("t1", ["b39"], now - timedelta(days=200))
    assert earlier.p_alive is not None
    assert earlier.p_alive > stopped.p_alive
    # Placements every 30 s do not fit again: a day later they do.
    fits: list[datetime] = []
    fit = service.fit_retention

    async def counted(tenant_id: str, at: datetime | None = None) -> Any:
        fits.append(datetime.now(UTC))
        return await fit(tenant_id, at)

    service.fit_retention = counted  # type: ignore[method-assign]
    await service.classify_tenant("t1")
    assert fits == []
    with monkeypatch.context() as later:
        later.setattr("scoring.service.RETENTION_REFIT", timedelta(0))  # a day went by
        await service.classify_tenant("t1")
    assert len(fits) == 1

    # Nor do they wait a day when the buying customers doubled (an import going on).
    def bought(first: int, count: int) -> list[Delivered]:
        return [
            delivered(90_000 + c, f"n{c}", kind="purchase", occurred_at=now - timedelta(days=3))
            for c in range(first, first + count)
        ]

    fits.clear()
    await service.apply(bought(0, 39))
    await service.classify_tenant("t1")
    assert fits == []  # 79 buyers against the model's 40
    await service.apply(bought(39, 1))
    await service.classify_tenant("t1")
    assert len(fits) == 1
    await service.classify_tenant("t1")
    assert len(fits) == 1


async def test_risks_alert_once_the_tenant_has_its_retention_model(
    service: ScoringService,
) -> None:
    """A tenant with buyers enough for a retention model and none yet: its customers' risks
    are stored without their purchase outlook and nobody alerts about them, though the data
    is current; the first placement pass fits the model, and the pass after it alerts for
    those at risk with it."""
    now = datetime.now(UTC).replace(microsecond=0)
    await service.apply([*buyers(now), delivered(0, "n0", occurred_at=now - timedelta(days=1))])
    await service.evaluate_stages()
    customers = [f"b{c:02d}" for c in range(40)]
    before = await service.relationships("t1", customers)
    assert all(s.p_alive is None for s in before)
    assert {s.customer_id for s in before if s.risk >= 0.5} == {f"b{c}" for c in range(30, 40)}
    assert [a for a in await service.alerts("t1") if a.kind == "at_risk"] == []
    await service.classify_tenant("t1")
    await service.evaluate_stages()
    after = await service.relationships("t1", customers)
    assert all(s.p_alive is not None for s in after)
    at_risk = {s.customer_id for s in after if s.risk >= 0.5}
    assert at_risk == {f"b{c}" for c in range(30, 40)}
    raised = [a for a in await service.alerts("t1") if a.kind == "at_risk"]
    assert {a.customer_id for a in raised} == at_risk
    # Each alert gives the risk the model found, with the model among its reasons, and no
    # risk "before": the customer was at risk on the judgement before, its alert waiting.
    assert all(re.match(r"risk \d+%: ", a.reason) for a in raised)
    assert all("purchase model: " in a.reason for a in raised)


async def test_a_tenant_without_buyers_is_placed_from_its_other_signals(
    service: ScoringService,
) -> None:
    """No purchase, renewal or upsell yet: no retention model, but the types are placed."""
    now = datetime.now(UTC)
    await service.apply(
        [
            delivered(
                10 * c + n,
                f"c{c}",
                channel="service",
                kind="ticket_opened",
                sentiment=None,
                revenue=0.0,
                occurred_at=now - timedelta(days=1 + 9 * n + c),
            )
            for c in range(10)
            for n in range(1 + c % 3)
        ]
    )
    await ScoringWorker(service).run_once()
    assert service.unclassified == set()
    assert await service.fit_retention("t1") is None
    states = await service.relationships("t1", [f"c{c}" for c in range(10)])
    assert all(s.relationship_type for s in states)
    assert all(s.p_alive is None and s.lifetime_value is None for s in states)


async def test_a_tenant_that_fails_to_be_placed_is_kept_and_holds_up_no_other(
    service: ScoringService, caplog: pytest.LogCaptureFixture
) -> None:
    """One tenant's failure is logged with its id and retried on the next pass; the tenants
    sorted after it are placed meanwhile."""
    await service.apply([delivered(n, f"c{n % 3}", tenant) for tenant in "ab" for n in range(6)])
    classify = service.classify_tenant
    failures = ["a"]

    async def failing_once(tenant_id: str) -> int:
        if tenant_id in failures:
            failures.remove(tenant_id)
            raise RuntimeError("the store went away")
        return await classify(tenant_id)

    service.classify_tenant = failing_once  # type: ignore[method-assign]
    worker = ScoringWorker(service)
    with caplog.at_level("ERROR", logger="scoring.worker"):
        await worker.run_once()
    assert service.unclassified == {"a"}
    [b] = await service.relationships("b", ["c0"])
    assert b.relationship_type
    [failed] = [r for r in caplog.records if r.name == "scoring.worker"]
    assert "tenant a" in failed.getMessage()
    assert failed.exc_info is not None
    await worker.run_once()
    assert service.unclassified == set()
    [a] = await service.relationships("a", ["c0"])
    assert a.relationship_type


async def test_the_worker_reckons_off_the_event_loop(
    service: ScoringService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stages, risk and types are CPU work; done on the event loop they would starve the
    reads that share it (after a large load, read RPCs timed out for tens of seconds)."""
    import threading

    import scoring.service as module

    loop_thread = threading.get_ident()
    seen: dict[str, set[int]] = {"assess": set(), "place": set()}
    assess, place = module._assess, module._place

    def recording_assess(*args: object, **kwargs: object) -> object:
        seen["assess"].add(threading.get_ident())
        return assess(*args, **kwargs)  # type: ignore[arg-type]

    def recording_place(*args: object, **kwargs: object) -> object:
        seen["place"].add(threading.get_ident())
        return place(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "_assess", recording_assess)
    monkeypatch.setattr(module, "_place", recording_place)
    await service.apply([delivered(n, f"c{n % 3}") for n in range(12)])
    await ScoringWorker(service).run_once()
    assert seen["assess"]
    assert loop_thread not in seen["assess"]
    assert seen["place"]
    assert loop_thread not in seen["place"]
    [state] = await service.relationships("t1", ["c1"])
    assert state.relationship_type  # placed, and stored by the loop afterwards


async def test_a_playbook_violation_moves_the_value_but_is_no_interaction(
    service: ScoringService,
) -> None:
    recent = datetime.now(UTC) - timedelta(days=2)
    await service.apply([delivered(0, "c5", kind="purchase", occurred_at=recent)])
    [before] = await service.relationships("t1", ["c5"])
    signal = delivered(
        1,
        "c5",
        channel="operations",
        kind="violation",
        sentiment=None,
        revenue=0.0,
        occurred_at=recent + timedelta(hours=1),
    )
    await service.apply([signal])
    [after] = await service.relationships("t1", ["c5"])
    assert after.value < before.value  # missing a standard hurts the relationship
    assert after.interaction_count == before.interaction_count == 1
    assert after.last_interaction_at == before.last_interaction_at
    await ScoringWorker(service).run_once()  # and it weighs on the risk, with its reason
    [assessed] = await service.relationships("t1", ["c5"])
    assert "1 missed service standard in 90 days" in assessed.risk_reasons
    # The playbook withdraws it (a late interaction showed the standard kept): its effect
    # goes, on the value and the risk, and a second withdrawal changes nothing.
    withdrawn = replace(signal, kind="violation_withdrawn")
    assert (await service.apply([withdrawn])).restated == 1
    assert (await service.apply([withdrawn])).duplicates == 1
    await ScoringWorker(service).run_once()
    [taken_back] = await service.relationships("t1", ["c5"])
    assert taken_back.value == pytest.approx(before.value, abs=1e-6)
    assert taken_back.interaction_count == 1
    assert not any("missed service standard" in r for r in taken_back.risk_reasons)
    # Found again (another late interaction): it is back, as it was.
    assert (await service.apply([signal])).restated == 1
    [again] = await service.relationships("t1", ["c5"])
    assert again.value == pytest.approx(after.value, abs=1e-6)


async def test_a_violation_withdrawn_before_it_was_told_weighs_nothing(
    service: ScoringService,
) -> None:
    """The playbook tells a violation's present state: one withdrawn before it was ever
    told arrives as a withdrawal first, and weighs nothing (nor counts as contact)."""
    recent = datetime.now(UTC) - timedelta(days=2)
    await service.apply([delivered(0, "c6", kind="purchase", occurred_at=recent)])
    [before] = await service.relationships("t1", ["c6"])
    signal = delivered(
        1, "c6", channel="operations", kind="violation_withdrawn", sentiment=None, revenue=0.0
    )
    assert (await service.apply([signal])).applied == 1
    [after] = await service.relationships("t1", ["c6"])
    assert after.value == pytest.approx(before.value, abs=1e-6)
    assert after.interaction_count == 1


async def test_the_alert_feed_lists_every_tenants_alerts_since_a_moment(
    service: ScoringService,
) -> None:
    from scoring.repository import ScoringRepository

    def alert(tenant: str, n: int) -> dict[str, object]:
        return {
            "id": f"{tenant}-a{n}",
            "tenant_id": tenant,
            "customer_id": "c1",
            "kind": "at_risk",
            "severity": "warning",
            "reason": "quiet",
            "dedup_key": f"k{n}",
            "raised_at": T0 + timedelta(minutes=n),
            "acknowledged_at": None,
            "acknowledged_by": None,
        }

    async with service.db.transaction() as session:
        repo = ScoringRepository(session)
        await repo.raise_alerts([alert("t1", 1), alert("t1", 3)])
        await repo.raise_alerts([alert("t2", 2)])
    # One key twice in a call (a cohort laggard at the last month end and now, one quarter):
    # the first is kept, and the call does not fail on the unique key.
    twice = [alert("t1", 4), {**alert("t1", 5), "dedup_key": "k4"}]
    async with service.db.transaction() as session:
        assert await ScoringRepository(session).raise_alerts(twice) == 1
    assert [a.id for a in await service.alerts("t1") if a.id in {"t1-a4", "t1-a5"}] == ["t1-a4"]
    feed = await service.alert_feed(T0 + timedelta(minutes=2))
    assert [a.id for a in feed] == ["t2-a2", "t1-a3", "t1-a4"]
    assert [a.id for a in await service.alert_feed(T0, limit=1)] == ["t1-a1"]
    # The next page: after the last one read, at its moment.
    page = await service.alert_feed(T0 + timedelta(minutes=1), limit=1, after_id="t1-a1")
    assert [a.id for a in page] == ["t2-a2"]


async def test_the_feeds_move_with_a_new_stage_or_risk_and_not_with_the_same_again(
    service: ScoringService,
) -> None:
    """Evaluating again from the clock: the same stage and risk are no change; a higher risk
    (silence beyond the customer's cadence) is one for the relationship feed, not for the
    standing feed, which only a new stage or type moves."""
    purchases = [
        delivered(n, kind="purchase", occurred_at=T0 + timedelta(days=5 * n), sentiment=0.5)
        for n in range(12)
    ]
    await service.apply(purchases)

    async def evaluated(days: int) -> Any:
        await service.mark_all_dirty(None)
        await service.evaluate_stages(now=T0 + timedelta(days=days))
        [view] = await service.relationship_feed(T0)
        return view

    first = await evaluated(56)
    assert first.stage
    assert first.standing_changed_at == first.updated_at
    [staged] = await service.relationship_feed(first.updated_at, standing_only=True)
    assert (staged.customer_id, staged.stage) == ("c1", first.stage)
    same = await evaluated(60)  # four more days, within its cadence: nothing moved
    assert (same.risk, same.updated_at) == (first.risk, first.updated_at)
    riskier = await evaluated(80)
    assert riskier.stage == first.stage
    assert riskier.risk > first.risk
    assert riskier.updated_at > first.updated_at
    assert riskier.standing_changed_at == first.standing_changed_at
    later = first.standing_changed_at + timedelta(microseconds=1)
    assert await service.relationship_feed(later, standing_only=True) == []
    assert [v.customer_id for v in await service.relationship_feed(later)] == ["c1"]


async def test_the_riskiest_as_of_a_past_moment_are_ranked_by_their_risk_then(
    service: ScoringService,
) -> None:
    """As of a past moment, the ranking is the as-of relationship reads' risks, riskiest
    first with ties by customer id, among the customers with an interaction by then; now,
    or as of a moment not yet past, it is the stored risks'."""
    now, then = await risks_that_moved(service)
    ranked_now = await service.at_risk("t1", 10)
    ranked_then = await service.at_risk("t1", 10, then)
    read_then = await service.relationships("t1", ["a", "b", "c", "d", "e"], then)
    assert ranked_then == sorted(read_then, key=lambda v: (-v.risk, v.customer_id))
    assert [v.customer_id for v in ranked_then] == RANKED_THEN
    assert ranked_then[0].risk == ranked_then[1].risk  # the tie, by customer id
    assert all(v.as_of == then for v in ranked_then)
    assert [v.customer_id for v in ranked_now] == RANKED_NOW
    # "a" was riskier than "b" then; "b" is now.
    risks_then = {v.customer_id: v.risk for v in ranked_then}
    risks_now = {v.customer_id: v.risk for v in ranked_now}
    assert risks_then["a"] > risks_then["b"]
    assert risks_now["b"] > risks_now["a"]
    assert [v.customer_id for v in await service.at_risk("t1", 2, then)] == ["c", "d"]
    # A moment not yet past is now.
    ahead = await service.at_risk("t1", 10, now + timedelta(days=1))
    assert [(v.customer_id, v.risk) for v in ahead] == [(v.customer_id, v.risk) for v in ranked_now]
    assert await service.at_risk("t1", 10, now - timedelta(days=400)) == []


async def test_the_riskiest_as_of_a_moment_are_assessed_a_chunk_at_a_time(
    service: ScoringService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big tenant's history is never read at once: customers are taken AT_RISK_CHUNK at a
    time, in id order, and only the `limit` riskiest are kept."""
    import scoring.service as module

    _, then = await risks_that_moved(service)
    everyone = await service.at_risk("t1", 10, then)
    monkeypatch.setattr(module, "AT_RISK_CHUNK", 2)
    histories: list[list[str]] = []
    history = ScoringRepository.history

    async def recording(
        repo: ScoringRepository, tenant_id: str, ids: Any, until: Any = None, **options: Any
    ) -> list[Any]:
        histories.append(sorted(ids))
        return await history(repo, tenant_id, ids, until, **options)

    monkeypatch.setattr(ScoringRepository, "history", recording)
    assert await service.at_risk("t1", 3, then) == everyone[:3]
    # "e" had no interaction by then: never read.
    assert histories == [["a", "b"], ["c", "d"], []]
    histories.clear()
    assert await service.at_risk("t1", 10, then) == everyone
    assert len(histories) == 3


async def test_alerts_as_of_a_moment_are_those_raised_by_then_as_they_stood(
    service: ScoringService,
) -> None:
    """As of a moment: only alerts raised by then; one acknowledged later was open then
    (and shows no acknowledgement), one acknowledged by then was not."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    hour = timedelta(hours=1)

    def alert(n: int, hours: int) -> dict[str, object]:
        return alert_row(n, start + hours * hour)

    async with service.db.transaction() as session:
        repo = ScoringRepository(session)
        await repo.raise_alerts([alert(0, 0), alert(1, 1), alert(2, 2), alert(3, 5)])
        assert await repo.acknowledge("t1", "a0", "ana", start + 2 * hour)
        assert await repo.acknowledge("t1", "a1", "bo", start + 4 * hour)
    as_of = start + 3 * hour
    then = await service.alerts("t1", as_of=as_of)
    assert [a.id for a in then] == ["a2", "a1", "a0"]  # a3 came later
    by_id = {a.id: a for a in then}
    assert (by_id["a1"].acknowledged_at, by_id["a1"].acknowledged_by) == (None, None)
    assert (by_id["a0"].acknowledged_at, by_id["a0"].acknowledged_by) == (start + 2 * hour, "ana")
    assert [a.id for a in await service.alerts("t1", open_only=True, as_of=as_of)] == ["a2", "a1"]
    assert [a.id for a in await service.alerts("t1", ["c1"], True, 1, as_of)] == ["a2"]
    # Acknowledged at the very moment: no longer open then.
    at_ack = await service.alerts("t1", open_only=True, as_of=start + 2 * hour)
    assert [a.id for a in at_ack] == ["a2", "a1"]
    # Now: as stored.
    assert [a.id for a in await service.alerts("t1", open_only=True)] == ["a3", "a2"]
    [acknowledged] = [a for a in await service.alerts("t1") if a.id == "a1"]
    assert acknowledged.acknowledged_by == "bo"


async def test_a_change_of_weights_gives_the_last_contribution_its_new_weight(
    service: ScoringService,
) -> None:
    """The stored last contribution is the newest interaction's under the weights in force:
    weighing the history again sets it (a violation after it is our signal, no
    interaction)."""
    now = datetime.now(UTC)
    plain = {"sentiment": None, "revenue": 0.0}
    await service.apply(
        [
            delivered(0, "c1", kind="purchase", occurred_at=now - timedelta(days=3), **plain),
            delivered(1, "c1", kind="complaint", occurred_at=now - timedelta(days=2), **plain),
            delivered(
                2,
                "c1",
                channel="operations",
                kind="violation",
                occurred_at=now - timedelta(days=1),
                **plain,
            ),
            delivered(0, "c2", kind="purchase", occurred_at=now - timedelta(days=1), **plain),
        ]
    )
    before = {v.customer_id: v for v in await service.relationships("t1", ["c1", "c2"])}
    assert {c: v.last_contribution for c, v in before.items()} == {"c1": -8.0, "c2": 3.0}
    await service.put_settings("t1", {"weights": {"complaint": -6, "purchase": 1}}, None)
    after = {v.customer_id: v for v in await service.relationships("t1", ["c1", "c2"])}
    assert {c: v.last_contribution for c, v in after.items()} == {"c1": -12.0, "c2": 1.0}
    [c2_read_back] = await service.relationships("t1", ["c2"], now)
    assert c2_read_back.last_contribution == 1.0
    assert after["c1"].last_interaction_at == before["c1"].last_interaction_at
    # Weighed again with the same weights: nothing moves.
    await service.recompute("t1")
    again = {
        v.customer_id: v.last_contribution for v in await service.relationships("t1", ["c1", "c2"])
    }
    assert again == {"c1": -12.0, "c2": 1.0}
