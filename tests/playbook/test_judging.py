"""The playbook judging the delivered stream, on real SQLite and real PostgreSQL: obligations,
violations when a deadline passes (by the clock, not the next event), late events that
withdraw a violation, merges, versions, signals to scoring, next best actions, worklists."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from playbook import service as service_module
from playbook.actions import Outlook
from playbook.alerts import Event
from playbook.domain import (
    DEFAULT_PLAYBOOK,
    RELATIONSHIP_TYPES,
    AnswerChannel,
    InvalidPlaybook,
    PlaybookDraft,
    RespondWithin,
)
from playbook.evaluation import OVERDUE_KEPT, Standing, Touch
from playbook.main import MIGRATIONS
from playbook.repository import PlaybookRepository
from playbook.scoring_client import Placed, ScoringUnavailable, Signal
from playbook.service import Delivered, PlaybookService
from playbook.worker import PlaybookWorker
from playbook.yaml_io import dump_draft, load_draft
from relint.db import Database
from tests.plans import rows_read

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(days=10)
SECOND = timedelta(seconds=1)


@dataclass
class FakeScoring:
    """Scoring as the playbook sees it: standings it knows, and the signals it got."""

    known: dict[tuple[str, str], Outlook] = field(default_factory=dict)
    signalled: list[str] = field(default_factory=list)
    # What each signal said: (id, tenant, customer, due at, reason, employee).
    told: list[tuple[str, str, str, datetime, str, str]] = field(default_factory=list)
    # The state each signal told: (id, withdrawn).
    states: list[tuple[str, bool]] = field(default_factory=list)
    up: bool = True
    feed: list[Event] = field(default_factory=list)
    # The standing feed: each change of type or stage, as it stands now.
    changes: list[Placed] = field(default_factory=list)
    # Each tenant's relationship type names, where it has its own.
    types: dict[str, list[str]] = field(default_factory=dict)

    async def outlooks(self, tenant_id: str, customer_ids: Sequence[str]) -> dict[str, Outlook]:
        if not self.up:
            raise ScoringUnavailable("scoring: UNAVAILABLE")
        return {c: self.known[(tenant_id, c)] for c in customer_ids if (tenant_id, c) in self.known}

    async def signal(self, violations: Sequence[Signal]) -> None:
        if not self.up:
            raise ScoringUnavailable("scoring: UNAVAILABLE")
        self.signalled.extend(v.id for v in violations)
        self.told.extend(
            (v.id, v.tenant_id, v.customer_id, v.due_at, v.reason, v.employee) for v in violations
        )
        self.states.extend((v.id, v.withdrawn) for v in violations)

    async def alert_feed(self, since: datetime, limit: int, after_id: str = "") -> list[Event]:
        if not self.up:
            raise ScoringUnavailable("scoring: UNAVAILABLE")
        ordered = sorted(self.feed, key=lambda e: (e.occurred_at, e.id))
        return [
            e
            for e in ordered
            if e.occurred_at > since or (e.occurred_at == since and e.id > after_id)
        ][:limit]

    async def relationship_types(self, tenant_id: str) -> list[str]:
        if not self.up:
            raise ScoringUnavailable("scoring: UNAVAILABLE")
        return self.types.get(tenant_id, ["Acquaintance", "Fair-Weather Friend", "BFF", "Partner"])

    async def standing_feed(
        self, since: datetime, limit: int, after: tuple[str, str] = ("", "")
    ) -> list[Placed]:
        if not self.up:
            raise ScoringUnavailable("scoring: UNAVAILABLE")
        ordered = sorted(self.changes, key=lambda p: (p.changed_at, p.tenant_id, p.customer_id))
        return [
            p
            for p in ordered
            if p.changed_at > since
            or (p.changed_at == since and (p.tenant_id, p.customer_id) > after)
        ][:limit]


@pytest.fixture
def scoring() -> FakeScoring:
    return fake_scoring()


def fake_scoring() -> FakeScoring:
    bff = Standing("bff", T0 - timedelta(days=300), "integrating", T0 - timedelta(days=60))
    return FakeScoring(
        {
            ("t1", "c1"): Outlook(bff, value=120.0),
            ("t1", "c2"): Outlook(replace(bff, relationship_type="partner"), value=900.0),
            ("t2", "c1"): Outlook(bff, value=5.0),
        }
    )


@pytest.fixture
async def service(
    database_factory: Callable[[Path, str], Awaitable[Database]], scoring: FakeScoring
) -> PlaybookService:
    return PlaybookService(await database_factory(MIGRATIONS, "playbook"), scoring)


def ticket(id_: str, at: datetime, customer: str = "c1", tenant: str = "t1") -> Delivered:
    return Delivered(
        tenant, customer, Touch(id_, at, "service", "ticket_opened", "inbound", "ana", id_.upper())
    )


def reply(id_: str, at: datetime, customer: str = "c1", tenant: str = "t1") -> Delivered:
    return Delivered(tenant, customer, Touch(id_, at, "email", "email_sent", "outbound", "ana"))


def call(id_: str, at: datetime, customer: str) -> Delivered:
    return Delivered("t1", customer, Touch(id_, at, "sales", "call", "outbound", "bo"))


async def test_a_program_picks_the_few_most_like_the_best_each_period_and_owes_each_a_call(
    service: PlaybookService, scoring: FakeScoring
) -> None:
    """The default playbook's conversion program: each quarter the five Acquaintances with
    the most profit-improvement potential are picked (not a BFF, however promising), each is
    owed a sales call within the quarter, and the next quarter picks others."""
    since = T0 - timedelta(days=300)
    acquaintance = Standing("acquaintance", since, "experimenting", since)
    potentials = {"a1": None, "a2": 10.0, "a3": 50.0, "a4": 30.0, "a5": 0.0, "a6": 40.0}
    potentials["a7"] = 20.0
    for customer, potential in potentials.items():
        scoring.known[("t1", customer)] = Outlook(
            acquaintance, value=1.0, potential=potential, potential_reason=f"{customer} is close"
        )
    bff = Standing("bff", since, "integrating", since)
    scoring.known[("t1", "b1")] = Outlook(bff, value=1.0, potential=900.0)
    await service.receive(
        [
            Delivered("t1", c, Touch(f"m-{c}", T0, "marketing", "email_sent", "outbound", ""))
            for c in [*potentials, "b1"]
        ]
    )
    await service.judge_due(now=NOW)
    scoring.up = False
    assert await service.pick_programs(NOW) == 0  # scoring away: nothing picked, nothing kept
    scoring.up = True
    assert await service.pick_programs(NOW) == 5
    assert await service.pick_programs(NOW + timedelta(days=1)) == 0  # the quarter lasts
    began = NOW.replace(hour=0, minute=0, second=0)
    # Whom, and why: the most promising first.
    picked = await service.program_picks("t1")
    assert [(p.customer_id, p.potential, p.reason) for p in picked] == [
        (c, potentials[c], f"{c} is close") for c in ("a3", "a6", "a4", "a7", "a2")
    ]
    assert {p.period_start for p in picked} == {began}
    assert await service.program_picks("t2") == []
    due = began + timedelta(days=90)
    # a6 is called at the period's first moment, a4 at its due moment: both in time.
    await service.receive([call("k6", began, "a6"), call("k4", due, "a4")])
    await service.judge_due(now=NOW)
    owed = await service.obligations("t1", team="sales")
    assert sorted(o.customer_id for o in owed if o.standard_key == "acquaintance-conversion") == [
        "a2",
        "a3",
        "a4",
        "a7",
    ]
    assert {(o.due_at, o.what) for o in owed} == {
        (due, f"A sales call for the program it was picked for on {began:%Y-%m-%d %H:%M} UTC")
    }
    # One second after the quarter: a violation for each picked customer not called.
    assert (await service.judge_due(now=due + SECOND)).violations == 3
    missed = await service.violations("t1", team="sales")
    assert sorted(v.customer_id for v in missed) == ["a2", "a3", "a7"]
    assert missed[0].reason.startswith(
        f"no sales call in the 90 days since it was picked on {began:%Y-%m-%d %H:%M} UTC"
    )
    # The next quarter picks among the others: the two not picked in the last one.
    assert await service.pick_programs(due + SECOND) == 2
    async with service.db.read() as session:
        picks = await PlaybookRepository(session).picks("t1", [*potentials, "b1"])
    assert {c: p["acquaintance-conversion"] for c, p in picks.items() if c in ("a1", "a5")} == {
        "a1": [due],
        "a5": [due],
    }
    assert "b1" not in picks


async def test_a_deadline_becomes_a_violation_when_it_passes_not_when_the_next_event_comes(
    service: PlaybookService,
) -> None:
    opened = NOW - timedelta(hours=3)
    due = opened + timedelta(hours=4)
    assert (await service.receive([ticket("k1", opened)])).applied == 1
    assert (await service.judge_due(now=NOW)).judged == 1
    [owed] = await service.obligations("t1", customer_ids=["c1"])
    assert (owed.standard_key, owed.due_at, owed.trigger_reference) == ("first-response", due, "K1")
    assert owed.what == "First response to service ticket opened #K1"
    assert await service.next_due_at() == due
    # Due exactly now: nobody to judge yet. One second later the clock finds it.
    assert (await service.judge_due(now=due)).judged == 0
    result = await service.judge_due(now=due + SECOND)
    assert (result.judged, result.violations) == (1, 1)
    [missed] = await service.violations("t1")
    assert (missed.standard_key, missed.due_at, missed.interaction_ids) == (
        "first-response",
        due,
        ["k1"],
    )
    assert missed.detected_at == due + SECOND
    assert missed.team == "service"
    # The answer is still owed, overdue; the clock looks again only when it stops being kept
    # owed (OVERDUE_KEPT after the deadline).
    [overdue] = await service.obligations("t1")
    assert (overdue.trigger_id, overdue.due_at) == ("k1", due)
    assert await service.next_due_at() == due + OVERDUE_KEPT
    # Judged again, it is the same violation, not a second one.
    await service.receive([ticket("k1", opened)])
    await service.judge_due(now=due + 2 * SECOND)
    assert len(await service.violations("t1", include_withdrawn=True)) == 1
    assert (await service.judge_due(now=due + OVERDUE_KEPT)).judged == 0
    assert (await service.judge_due(now=due + OVERDUE_KEPT + SECOND)).judged == 1
    assert await service.obligations("t1") == []
    assert await service.next_due_at() is None


async def test_a_late_event_after_the_deadline_was_judged_withdraws_the_violation(
    service: PlaybookService,
) -> None:
    opened = T0
    await service.receive([ticket("k1", opened)])
    await service.judge_due(now=NOW)
    [missed] = await service.violations("t1")
    # The answer, sent an hour after the ticket, arrives days late.
    await service.receive([reply("r1", opened + timedelta(hours=1))])
    result = await service.judge_due(now=NOW)
    assert result.withdrawn == 1
    assert await service.violations("t1") == []
    [withdrawn] = await service.violations("t1", include_withdrawn=True)
    assert withdrawn.id == missed.id
    assert withdrawn.withdrawn_reason.startswith("no longer found")


async def test_scoring_is_told_a_violation_and_then_its_withdrawal(
    service: PlaybookService, scoring: FakeScoring
) -> None:
    """A violation scoring was told of and that a late event withdraws is owed to scoring
    again, as withdrawn, so that its hurt is taken back; a state read before it changed is
    not marked told."""
    await service.receive([ticket("k1", T0)])
    await service.judge_due(now=NOW)
    assert await service.signal_violations() == 1
    [missed] = await service.violations("t1")
    assert scoring.states == [(missed.id, False)]
    assert await service.signal_violations() == 0
    await service.receive([reply("r1", T0 + timedelta(hours=1))])  # the late answer
    async with service.db.read() as session:
        assert await PlaybookRepository(session).unsignalled(10) == []
    await service.judge_due(now=NOW)
    async with service.db.read() as session:
        [owed] = await PlaybookRepository(session).unsignalled(10)
    assert (owed.id, owed.withdrawn) == (missed.id, True)
    assert await service.signal_violations() == 1
    assert scoring.states == [(missed.id, False), (missed.id, True)]
    assert await service.signal_violations() == 0
    # Found again after all (the answer's move to another customer, say): owed as found,
    # and acknowledging the withdrawal read before that does not mark the new state told.
    async with service.db.transaction() as session:
        await PlaybookRepository(session).withdraw([missed.id], None, "")
    async with service.db.transaction() as session:
        await PlaybookRepository(session).mark_signalled([owed], NOW)
    async with service.db.read() as session:
        [again] = await PlaybookRepository(session).unsignalled(10)
    assert (again.id, again.withdrawn) == (missed.id, False)


class HeldScoring(FakeScoring):
    """Scoring that takes signals only once let go: a replica caught mid-handover."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.go = asyncio.Event()

    async def signal(self, violations: Sequence[Signal]) -> None:
        self.entered.set()
        await self.go.wait()
        await super().signal(violations)


async def test_replicas_hand_scoring_each_violations_states_in_order(
    service: PlaybookService, scoring: FakeScoring
) -> None:
    """Two replicas on one PostgreSQL database: while one hands a violation over, the other
    skips it, and a withdrawal waits for the handover's mark, so scoring hears found, then
    withdrawn; never the older state last."""
    if service.db.sqlite:
        pytest.skip("one process on SQLite: no replicas to race")
    await service.receive([ticket("k1", T0)])
    await service.judge_due(now=NOW)
    [missed] = await service.violations("t1")
    held = HeldScoring()
    other = PlaybookService(service.db, held)
    handing = asyncio.create_task(other.signal_violations())
    await asyncio.wait_for(held.entered.wait(), 5)
    assert await service.signal_violations() == 0  # claimed by the other replica

    async def withdraw() -> None:
        async with service.db.transaction() as session:
            await PlaybookRepository(session).withdraw([missed.id], NOW, "answered late")

    withdrawing = asyncio.create_task(withdraw())
    await asyncio.sleep(0.3)
    assert not withdrawing.done()  # waits for the handover's lock
    held.go.set()
    assert await handing == 1
    await asyncio.wait_for(withdrawing, 5)
    assert await service.signal_violations() == 1
    assert held.states + scoring.states == [(missed.id, False), (missed.id, True)]


async def test_duplicates_change_nothing_and_a_merge_moves_the_interaction(
    service: PlaybookService,
) -> None:
    await service.receive([ticket("k1", T0, "c1")])
    again = await service.receive([ticket("k1", T0, "c1")])
    assert (again.applied, again.duplicates) == (0, 1)
    await service.judge_due(now=NOW)
    assert [v.customer_id for v in await service.violations("t1")] == ["c1"]
    moved = await service.receive([ticket("k1", T0, "c2")])  # c1 was merged into c2
    assert moved.moved == 1
    await service.judge_due(now=NOW)
    found = await service.violations("t1")
    assert [v.customer_id for v in found if v.standard_key == "first-response"] == ["c2"]
    # Another tenant cannot claim it.
    assert (await service.receive([ticket("k1", T0, "c9", "t2")])).duplicates == 1


async def test_a_view_counts_the_interactions_it_has_judged_and_none_while_some_wait(
    service: PlaybookService,
) -> None:
    """`judged_interactions`: what the gateway's cache compares with scoring's count of a
    change, to keep a view that has judged it."""

    async def judged(*customers: str) -> list[int]:
        found = await service.customer_playbooks("t1", list(customers), now=NOW)
        return [found[c].judged_interactions for c in customers]

    assert await judged("c1") == [0]  # nothing received
    await service.receive([ticket("k1", T0), reply("r1", T0 + SECOND)])
    assert await judged("c1") == [0]  # received, not judged yet
    await service.judge_due(now=NOW)
    assert await judged("c1") == [2]
    await service.receive([ticket("k1", T0)])  # a duplicate is not counted again
    await service.receive([ticket("k2", T0 + timedelta(days=1))])
    assert await judged("c1") == [0]
    await service.judge_due(now=NOW)
    assert await judged("c1") == [3]
    # c1 merged into c2: the moved interaction counts for c2 and no longer for c1.
    await service.receive([ticket("k2", T0 + timedelta(days=1), "c2")])
    await service.judge_due(now=NOW)
    assert await judged("c1", "c2") == [2, 1]
    # Judged again for another reason (a new standing), the counts stand.
    async with service.db.transaction() as session:
        await PlaybookRepository(session).mark_dirty({("t1", "c1"): None})
    assert await judged("c1", "c2") == [0, 1]
    await service.judge_due(now=NOW)
    assert await judged("c1", "c2") == [2, 1]


async def test_a_customer_marked_while_being_judged_stays_to_be_judged(
    service: PlaybookService,
) -> None:
    await service.receive([ticket("k1", T0)])
    async with service.db.read() as session:
        [state] = await PlaybookRepository(session).due(NOW, 10)
    await service.receive([reply("r1", T0 + timedelta(hours=1))])  # arrives meanwhile
    async with service.db.transaction() as session:
        await PlaybookRepository(session).save_states(
            "t1",
            [
                {
                    "b_customer": "c1",
                    "b_revision": state.revision,
                    "b_type": "bff",
                    "b_type_since": None,
                    "b_stage": "",
                    "b_stage_since": None,
                    "b_next_due": None,
                    "b_judged": NOW,
                    "b_version": 0,
                }
            ],
        )
    async with service.db.read() as session:
        [still] = await PlaybookRepository(session).due(NOW, 10)
    assert still.dirty
    assert still.relationship_type == "bff"  # the judgement's outcome is stored all the same
    async with service.db.transaction() as session:
        await PlaybookRepository(session).save_states(
            "t1",
            [
                {
                    "b_customer": "c1",
                    "b_revision": still.revision,
                    "b_type": "bff",
                    "b_type_since": None,
                    "b_stage": "",
                    "b_stage_since": None,
                    "b_next_due": None,
                    "b_judged": NOW,
                    "b_version": 0,
                }
            ],
        )
    async with service.db.read() as session:
        assert await PlaybookRepository(session).due(NOW, 10) == []


async def test_receiving_and_judging_the_same_customers_at_once_never_deadlocks(
    service: PlaybookService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Receiving marks customers and judging stores their states, each transaction locking
    them in key order: batches naming the same customers in any order, received while the
    worker judges (in parts of two customers, two parts at a time on PostgreSQL), all go
    through, and everything received ends up judged."""
    monkeypatch.setattr(service_module, "JUDGING_PART", 2)
    customers = [f"c{n}" for n in range(12)]
    batches = [
        [
            ticket(f"k{n}-{c}", T0 + timedelta(minutes=n), customer=c)
            for c in (customers[n % 12 :] + customers[: n % 12] if n % 2 else customers[::-1])
        ]
        for n in range(10)
    ]
    await service.receive(batches[0])

    async def judge_while_receiving() -> None:
        for _ in range(20):
            await service.judge_due(limit=5, now=NOW)
            await asyncio.sleep(0)

    await asyncio.gather(*(service.receive(b) for b in batches[1:]), judge_while_receiving())
    while (await service.judge_due(limit=50, now=NOW)).judged:
        pass
    async with service.db.read() as session:
        repo = PlaybookRepository(session)
        assert await repo.due(NOW, 100) == []
        states = await repo.tenant_states("t1")
    assert sorted(s.customer_id for s in states) == sorted(customers)
    assert all(s.judged_at is not None and not s.dirty for s in states)


async def test_a_part_that_fails_fails_the_judging_with_its_own_error(
    service: PlaybookService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Judging in parts: one failing stops the judging with the error itself (the worker
    logs it and tries again), and nothing of it is stored; the customers stay due."""
    monkeypatch.setattr(service_module, "JUDGING_PART", 2)
    await service.receive([ticket(f"k{n}", T0, customer=f"c{n}") for n in range(6)])
    store = service._store_judgements

    async def failing(playbook: Any, states: Sequence[Any], *rest: Any) -> tuple[int, int]:
        if any(s.customer_id == "c3" for s in states):
            raise RuntimeError("the store went away")
        return await store(playbook, states, *rest)

    monkeypatch.setattr(service, "_store_judgements", failing)
    with pytest.raises(RuntimeError, match="the store went away"):
        await service.judge_due(now=NOW)
    async with service.db.read() as session:
        due = await PlaybookRepository(session).due(NOW, 100)
    assert {"c2", "c3"} <= {d.customer_id for d in due}
    monkeypatch.setattr(service, "_store_judgements", store)
    while (await service.judge_due(now=NOW)).judged:
        pass
    async with service.db.read() as session:
        assert await PlaybookRepository(session).due(NOW, 100) == []
    # The BFF c1 and the Partner c2 (in the part that failed) missed their first response.
    assert {v.customer_id for v in await service.violations("t1")} == {"c1", "c2"}


async def test_storing_judgements_reads_the_customers_rows_not_the_tenants(
    service: PlaybookService, scoring: FakeScoring
) -> None:
    """On PostgreSQL, storing a few customers' judgements locks, updates and clears their
    rows customer by customer, whatever the statistics. Without statistics (a table loaded
    before autovacuum analysed it, or a server without autovacuum) `customer_id = ANY(...)`
    read the tenant's every state and obligation. `tests.plans` counts the rows each scan
    read. (Three obligations a customer: with one, at 2,000 rows PostgreSQL's estimates for
    the tenant's two obligation indexes tie, and it may take the due one, which at that size
    costs nothing.)"""
    if service.db.sqlite:
        pytest.skip("the plans are PostgreSQL's")
    customers = [f"c{n:04}" for n in range(2000)]
    for customer in customers:  # BFFs, each with three tickets to answer: obligations open
        scoring.known["t1", customer] = scoring.known["t1", "c1"]
    opened = NOW - timedelta(hours=1)
    await service.receive([ticket(f"k{n}-{c}", opened, c) for c in customers for n in range(3)])
    while (await service.judge_due(limit=1000, now=NOW)).judged:
        pass
    few = ["c0007", "c0500", "c1999"]
    assert len(await service.obligations("t1", customer_ids=few)) == 3 * len(few)
    async with service.db.transaction() as session:
        repo = PlaybookRepository(session)
        states = [s for s in await repo.tenant_states("t1") if s.customer_id in few]
        async with rows_read(session) as read:
            await repo.replace_obligations("t1", few, [])
            await repo.save_states(
                "t1",
                [
                    {
                        "b_customer": s.customer_id,
                        "b_revision": s.revision,
                        "b_type": s.relationship_type,
                        "b_type_since": s.type_since,
                        "b_stage": s.stage,
                        "b_stage_since": s.stage_since,
                        "b_next_due": None,
                        "b_judged": NOW,
                        "b_version": s.playbook_version,
                    }
                    for s in states
                ],
            )
    # Each state: found and updated; each obligation: found and deleted.
    assert read == {
        ("DELETE", "obligation"): 2 * 3 * len(few),
        ("SELECT", "customer_state"): len(few),
        ("UPDATE", "customer_state"): len(few),
    }
    async with service.db.read() as session:
        stored = await PlaybookRepository(session).tenant_states("t1")
    assert sorted((s.customer_id, s.next_due_at) for s in stored if s.customer_id in few) == [
        (c, None) for c in few
    ]
    assert await service.obligations("t1", customer_ids=few) == []


async def test_without_scoring_the_last_known_standing_is_used_and_signals_wait(
    service: PlaybookService, scoring: FakeScoring
) -> None:
    await service.receive([ticket("k1", T0)])
    await service.judge_due(now=NOW)
    assert len(await service.violations("t1")) == 1
    scoring.up = False
    with pytest.raises(ScoringUnavailable):
        await service.signal_violations()
    await service.receive([ticket("k2", T0 + timedelta(days=1))])
    await service.judge_due(now=NOW)  # still a BFF, as last known
    assert len(await service.violations("t1")) == 2
    scoring.up = True
    assert await service.signal_violations() == 2
    assert await service.signal_violations() == 0
    assert len(scoring.signalled) == 2
    # Each told as stored, the oldest found first; the due moments in UTC on both stores.
    stored = {v.id: v for v in await service.violations("t1")}
    assert [
        (v.id, v.tenant_id, v.customer_id, v.due_at, v.reason, v.employee)
        for v in sorted(stored.values(), key=lambda v: (v.detected_at, v.id))
    ] == scoring.told
    assert all(told[3].utcoffset() == timedelta(0) for told in scoring.told)


async def test_a_customer_scoring_places_later_is_judged_again_from_the_standing_feed(
    service: PlaybookService, scoring: FakeScoring
) -> None:
    """Judged before scoring knew them (as on a first load), two customers owe only the
    company-wide standards; scoring then places them as Partners, and the next read of its
    standing feed has them judged again with the Partner standards."""
    await service.receive([ticket("k7", T0, "c7"), ticket("k8", T0, "c8")])
    assert (await service.judge_due(now=NOW)).judged == 2
    assert await service.violations("t1") == []
    assert await service.follow_standings() == 0  # nothing changed yet

    partner = Standing("partner", T0 - timedelta(days=1), "bonding", T0 - timedelta(days=1))
    for customer in ("c7", "c8"):
        scoring.known["t1", customer] = Outlook(partner, value=500.0)
    changed = datetime.now(UTC)
    scoring.changes = [
        Placed("t1", "c7", changed, partner),
        Placed("t1", "c8", changed, partner),
        Placed("t1", "c1", changed, scoring.known["t1", "c1"].standing),  # not kept here
        Placed("t2", "c7", changed, partner),  # another tenant's c7, not kept here
    ]
    scoring.up = False
    with pytest.raises(ScoringUnavailable):
        await service.follow_standings()
    scoring.up = True
    assert await service.follow_standings(page=1) == 2  # page by page, from where it stopped
    assert (await service.judge_due(now=NOW)).judged == 2
    found = {(v.customer_id, v.standard_key) for v in await service.violations("t1")}
    assert found == {("c7", "first-response"), ("c8", "first-response")}
    owed = {(o.customer_id, o.standard_key) for o in await service.obligations("t1")}
    assert ("c7", "partner-business-review") in owed
    # Read again a few seconds back: judged with that standing, nobody moved.
    assert await service.follow_standings() == 0
    assert (await service.judge_due(now=NOW)).judged == 0


async def test_the_running_worker_follows_the_standing_feed(
    service: PlaybookService, scoring: FakeScoring
) -> None:
    """The worker as the service runs it: a customer scoring places later is judged with its
    new standing within an idle period or two, long before the sweep's minute."""
    await service.receive([ticket("k7", T0, "c7")])
    assert (await service.judge_due(now=NOW)).judged == 1  # unknown to scoring: owes nothing
    assert await service.violations("t1") == []
    partner = Standing("partner", T0 - timedelta(days=1), "bonding", T0 - timedelta(days=1))
    scoring.known["t1", "c7"] = Outlook(partner, value=500.0)
    scoring.changes = [Placed("t1", "c7", datetime.now(UTC), partner)]
    await _run_until_a_violation(PlaybookWorker(service, idle_seconds=0.05, standings_seconds=3600))
    assert [v.standard_key for v in await service.violations("t1")] == ["first-response"]


async def _run_until_a_violation(worker: PlaybookWorker) -> None:
    """Runs the worker as the service does until it has found a violation (10 s at most)."""
    worker.start()
    try:
        for _ in range(200):
            if await worker.service.violations("t1"):
                return
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()


async def test_the_running_worker_wakes_at_the_deadline_not_at_its_idle_period(
    service: PlaybookService,
) -> None:
    """The clock as the service runs it: a BFF's ticket whose first response is due in two
    seconds becomes a violation then, though the worker's idle period is a minute and no
    interaction arrives."""
    due = datetime.now(UTC) + timedelta(seconds=2)
    await service.receive([ticket("k1", due - timedelta(hours=4), "c1")])
    await _run_until_a_violation(PlaybookWorker(service, idle_seconds=60, standings_seconds=3600))
    [missed] = await service.violations("t1")
    assert (missed.standard_key, missed.due_at) == ("first-response", due)
    assert due < missed.detected_at < due + timedelta(seconds=3)


async def test_the_sweep_judges_again_the_customers_whose_standing_moved(
    service: PlaybookService, scoring: FakeScoring
) -> None:
    await service.receive([ticket("k1", T0, "c1"), ticket("k7", T0, "c7")])
    await service.judge_due(now=NOW)
    assert await service.refresh_standings() == 0
    partner = Standing("partner", T0 - timedelta(days=1), "bonding", T0 - timedelta(days=1))
    scoring.known["t1", "c7"] = Outlook(partner, value=500.0)
    assert await service.refresh_standings() == 1
    assert (await service.judge_due(now=NOW)).judged == 1
    assert {v.customer_id for v in await service.violations("t1")} == {"c1", "c7"}


async def test_an_unknown_standing_binds_only_company_wide_standards(
    service: PlaybookService,
) -> None:
    await service.receive([ticket("k1", T0, "c7")])  # scoring does not know c7 yet
    complaint = Touch("p1", T0, "service", "complaint", "inbound")
    resolved = Touch("p2", T0 + timedelta(days=2), "service", "complaint_resolved", "outbound")
    await service.receive([Delivered("t1", "c7", complaint), Delivered("t1", "c7", resolved)])
    await service.judge_due(now=NOW)
    keys = sorted(v.standard_key for v in await service.violations("t1"))
    assert keys == ["answer-complaints", "complaint-check-in"]


async def test_a_customers_playbook_names_the_standards_that_bind_it_now(
    service: PlaybookService, scoring: FakeScoring
) -> None:
    found = await service.customer_playbooks("t1", ["c2", "c1", "c7"], now=NOW)
    keys = {c: [s.key for s in view.standards] for c, view in found.items()}
    assert keys == {
        "c2": [  # a Partner
            "answer-complaints",
            "first-response",
            "partner-business-review",
            "price-change-notice",
            "complaint-check-in",
            "term-change-notice",
        ],
        "c1": [  # a BFF
            "answer-complaints",
            "first-response",
            "price-change-notice",
            "complaint-check-in",
            "term-change-notice",
        ],
        "c7": ["answer-complaints", "complaint-check-in"],  # unknown to scoring
    }
    assert {view.playbook_version for view in found.values()} == {0}
    scoring.up = False
    found = await service.customer_playbooks("t1", ["c2"], now=NOW)
    assert [s.key for s in found["c2"].standards] == ["answer-complaints", "complaint-check-in"]


async def test_a_new_version_judges_everyone_again_and_old_violations_stay(
    service: PlaybookService,
) -> None:
    await service.receive([ticket("k1", T0)])
    await service.judge_due(now=NOW)
    [old] = await service.violations("t1")
    assert old.playbook_version == 0
    lenient = replace(
        DEFAULT_PLAYBOOK,
        standards=tuple(s for s in DEFAULT_PLAYBOOK.standards if s.key != "first-response"),
    )
    await service.publish("t1", lenient)
    assert (await service.judge_due(now=NOW)).judged == 1
    [kept] = await service.violations("t1")
    assert kept.id == old.id  # judged under version 0; version 1 does not withdraw it


async def test_next_best_actions_and_worklists_rank_by_urgency_then_value(
    service: PlaybookService,
) -> None:
    soon = NOW - timedelta(hours=3)  # due in 1 h
    later = NOW - timedelta(hours=1)  # due in 3 h
    await service.receive([ticket("k1", later, "c1"), ticket("k2", soon, "c2")])
    await service.judge_due(now=NOW)
    actions = await service.next_best_actions("t1", ["c2", "c1"], now=NOW)
    assert list(actions) == ["c2", "c1"]
    # A Partner since 300 days before T0 without a business review: overdue since, so
    # the most urgent; then the ticket.
    overdue, first = actions["c2"]
    assert (overdue.title, overdue.urgency) == ("A sales business review (none yet)", 1.0)
    assert overdue.reason == (
        f"overdue by {(NOW - T0).days + 210} days, Partner standard: A business review with "
        "every Partner every 90 days"
    )
    # 3 of its 4 hours gone (0.75), and an hour of a week left (0.994): the nearer counts.
    assert (first.kind, first.urgency) == ("obligation", round(0.5 + 0.5 * (1 - 1 / 168), 4))
    assert first.title == "First response to service ticket opened #K2"
    assert first.reason.startswith("due in 1 h, Partner standard: First response to BFF")
    work = await service.worklist("t1", team="service", now=NOW)
    assert [(a.customer_id, a.standard_key) for a in work] == [
        ("c2", "first-response"),
        ("c1", "first-response"),
    ]
    assert await service.worklist("t1", employee="bob", now=NOW) == []
    assert await service.next_best_actions("t2", ["c1"], now=NOW) == {"c1": []}
    assert await service.obligations("t2") == []


async def test_a_customer_out_of_its_own_pattern_is_to_be_looked_into(
    service: PlaybookService, scoring: FakeScoring
) -> None:
    """Scoring's latest out-of-pattern alert of the last 30 days (relayed to the playbook
    with the others) is a next best action with its reason; older ones are not."""
    await service.receive([ticket("k1", NOW - timedelta(days=40), "c1")])
    await service.judge_due(now=NOW)
    scoring.feed.append(
        Event("o-1", "t1", "c1", "out_of_pattern", "warning", "silence: 50 days", NOW, "scoring")
    )
    assert await service.pull_scoring_alerts() == 1
    old = NOW - timedelta(days=31)  # relayed a month ago
    async with service.db.transaction() as session:
        await PlaybookRepository(session).add_events(
            [
                {
                    "id": f"o-{c}",
                    "tenant_id": "t1",
                    "customer_id": c,
                    "kind": "out_of_pattern",
                    "severity": "critical",
                    "reason": "old news",
                    "occurred_at": old,
                    "source": "scoring",
                }
                for c in ("c1", "c2")
            ]
        )
    actions = await service.next_best_actions("t1", ["c1", "c2"], now=NOW + timedelta(hours=2))
    [look] = [a for a in actions["c1"] if a.kind == "look_into"]
    assert (look.title, look.reason, look.urgency) == (
        "Look into what changed",
        "out of its own pattern 2 h ago: silence: 50 days",
        0.5,
    )
    assert [a for a in actions["c2"] if a.kind == "look_into"] == []


# The default playbook with what answers its respond-within standards named: tickets by
# service or a sales call, complaints by their resolution or by marketing.
ANSWERED_BY: dict[str, tuple[AnswerChannel, ...]] = {
    "first-response": (AnswerChannel("service"), AnswerChannel("sales", "call")),
    "answer-complaints": (
        AnswerChannel("service", "complaint_resolved"),
        AnswerChannel("marketing"),
    ),
}
ANSWERED = PlaybookDraft(
    "Answered by name",
    tuple(
        replace(s, rule=replace(s.rule, answered_by=ANSWERED_BY[s.key]))
        if isinstance(s.rule, RespondWithin)
        else s
        for s in DEFAULT_PLAYBOOK.standards
    ),
)


@pytest.mark.parametrize("playbook", [None, ANSWERED], ids=["default", "answered_by"])
async def test_judging_from_the_earliest_change_stores_what_judging_from_scratch_does(
    database_factory: Callable[[Path, str], Awaitable[Database]],
    scoring: FakeScoring,
    playbook: PlaybookDraft | None,
) -> None:
    """Batches of interactions at any moment (many late), each judged at once from its
    earliest change, and the clock passing, store the same open violations and obligations
    as every interaction judged once from scratch: under the default playbook, and under
    one whose respond-within standards name what answers them."""
    rng = random.Random(5)
    kinds = [
        ("service", "ticket_opened", "inbound"),
        ("service", "complaint", "inbound"),
        ("service", "check_in", "outbound"),
        ("email", "email_sent", "outbound"),
        ("sales", "business_review", "outbound"),
        ("marketing", "email_sent", "outbound"),
        ("finance", "price_change", "inbound"),
    ]
    stream = [
        Delivered(
            "t1",
            rng.choice(["c1", "c2"]),
            Touch(
                f"i{i}",
                NOW - timedelta(hours=rng.randrange(0, 24 * 400)),
                *rng.choice(kinds),
                notice_days=rng.choice([None, 10.0, 90.0]),
            ),
        )
        for i in range(300)
    ]
    live = PlaybookService(await database_factory(MIGRATIONS, "live"), scoring)
    scratch = PlaybookService(await database_factory(MIGRATIONS, "scratch"), scoring)
    if playbook is not None:
        for each in (live, scratch):
            await each.publish("t1", playbook)
    for start in range(0, len(stream), 30):
        await live.receive(stream[start : start + 30])
        await live.judge_due(now=NOW + timedelta(days=start // 30))
    at = NOW + timedelta(days=12)
    await live.judge_due(now=at)
    await scratch.receive(stream)
    await scratch.judge_due(now=at)

    for customers in (["c1"], ["c2"]):
        found = [
            await s.violations("t1", customer_ids=customers, limit=1000) for s in (live, scratch)
        ]
        assert {v.id for v in found[0]} == {v.id for v in found[1]}
        assert len(found[0]) > 10
        owed = [await s.obligations("t1", customer_ids=customers) for s in (live, scratch)]
        assert [(o.standard_key, o.due_at, o.trigger_id) for o in owed[0]] == [
            (o.standard_key, o.due_at, o.trigger_id) for o in owed[1]
        ]


async def test_standards_name_the_tenants_own_relationship_types(
    service: PlaybookService, scoring: FakeScoring
) -> None:
    """A tenant that renamed its types in scoring scopes its standards by its own names; the
    default names are unknown to it then. With scoring away, the default types and those its
    newest version names are accepted, and nothing newer."""
    scoring.types["t1"] = ["Whale", "Small Fry"]
    respond = DEFAULT_PLAYBOOK.standards[1]
    assert respond.relationship_types == ("bff", "partner")
    whales = replace(respond, relationship_types=("whale", "small_fry"))
    published = await service.publish("t1", PlaybookDraft("Ours", (whales,)))
    assert published.created
    with pytest.raises(InvalidPlaybook) as refused:
        await service.publish("t1", PlaybookDraft("Ours", (respond,)))
    assert [(p.path, p.reason) for p in refused.value.problems] == [
        (
            "standards[0].relationship_types[0]",
            "unknown relationship type 'bff'; known: whale, small_fry",
        ),
        (
            "standards[0].relationship_types[1]",
            "unknown relationship type 'partner'; known: whale, small_fry",
        ),
    ]
    # Another tenant keeps the defaults.
    assert (await service.publish("t2", PlaybookDraft("Theirs", (respond,)))).created
    scoring.up = False
    assert await service.relationship_types("t1") == (*RELATIONSHIP_TYPES, "whale", "small_fry")
    renamed = PlaybookDraft("Ours, renamed", (whales,))
    assert (await service.publish("t1", renamed)).playbook.version == 2
    sharks = replace(respond, relationship_types=("shark",))
    with pytest.raises(InvalidPlaybook) as unknown:
        await service.publish("t1", PlaybookDraft("Ours", (sharks,)))
    assert unknown.value.problems[0].reason.startswith("unknown relationship type 'shark'")
    # The YAML reader takes the tenant's types too, and locates the problem.
    text = dump_draft(PlaybookDraft("Ours", (sharks,)))
    with pytest.raises(InvalidPlaybook) as located:
        load_draft(text, ("whale",))
    assert located.value.problems[0].reason.startswith("line ")
    assert load_draft(text, ("shark",)).standards == (sharks,)
