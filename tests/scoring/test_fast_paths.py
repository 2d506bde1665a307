"""The fast paths of applying and recomputing give what the plain rules give: the vectorised
contribution against `WeightTable.contribution`, the protobuf conversion against a plain
one, and a recompute through the driver against the rules applied row by row."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from relint.contracts.ingest.v1 import ingest_pb2
from relint.db import Database, table_of
from relint.taxonomy import CHANNELS, KINDS
from scoring.domain import KIND_WEIGHTS, OUTCOMES, Touch, WeightTable, mass
from scoring.main import MIGRATIONS
from scoring.messages import delivered
from scoring.models import AppliedInteraction, Relationship
from scoring.relationship_types import (
    ADVOCACY_KINDS,
    SERVICE_CHANNELS,
    SERVICE_TOUCH_COST,
    WINDOW,
    Features,
    ValueMapBuilder,
    micros,
)
from scoring.repository import ScoringRepository
from scoring.service import PURCHASE_KINDS, Delivered, ScoringService
from tests.plans import rows_read

PAIRS = [(channel, kind) for channel in CHANNELS for kind in KINDS[channel]]
T0 = datetime(2026, 2, 1, tzinfo=UTC)

tables = st.builds(
    lambda weights, sentiment, revenue, negativity: WeightTable.from_config(
        {
            "weights": weights,
            "sentiment_weight": sentiment,
            "revenue_weight": revenue,
            "negativity": negativity,
        }
    ),
    st.dictionaries(
        st.sampled_from([f"{c}.{k}" for c, k in PAIRS[:40]] + sorted(KIND_WEIGHTS) + ["violation"]),
        st.floats(-100, 100, allow_nan=False),
        max_size=8,
    ),
    st.floats(0, 10),
    st.floats(0, 10),
    st.floats(1, 10),
)
touches = st.builds(
    lambda pair, sentiment, revenue, outcome, refund: Touch(
        pair[1], sentiment, revenue, pair[0], outcome, refund
    ),
    st.sampled_from([*PAIRS, ("sales", "violation"), ("", "unknown_kind"), ("web", "")]),
    st.none() | st.floats(-3, 3, allow_nan=False),
    st.sampled_from([0.0, -5.0]) | st.floats(0, 1e9, allow_nan=False),
    st.none() | st.sampled_from([*OUTCOMES, "other", ""]),
    st.sampled_from([0.0, -1.0]) | st.floats(0, 1e7, allow_nan=False),
)


@settings(max_examples=300, deadline=None)
@given(tables, st.lists(touches, max_size=60))
def test_the_vectorised_contribution_is_the_scalar_one(
    table: WeightTable, given_touches: list[Touch]
) -> None:
    values, reasons = table.contributions(
        [t.channel for t in given_touches],
        [t.kind for t in given_touches],
        [t.outcome for t in given_touches],
        [t.sentiment for t in given_touches],
        [t.revenue for t in given_touches],
        [t.refund for t in given_touches],
    )
    expected = [table.contribution(t) for t in given_touches]
    assert reasons == [e.reason for e in expected]
    for value, e in zip(values, expected, strict=True):
        assert abs(value - e.value) <= 1e-12 * max(1.0, abs(e.value))


def _plain_delivered(message: ingest_pb2.Interaction) -> Delivered:
    """The conversion as it was written before it was made fast."""
    fields = {
        ingest_pb2.AMOUNT_TYPE_REVENUE: "revenue",
        ingest_pb2.AMOUNT_TYPE_REFUND: "refund",
        ingest_pb2.AMOUNT_TYPE_COST_TO_SERVE: "cost",
    }
    money = {"revenue": 0.0, "refund": 0.0, "cost": 0.0}
    if message.amount and message.amount_type in fields:
        money[fields[message.amount_type]] = float(message.amount)
    outcome = message.attributes.fields.get("outcome")
    issue = message.attributes.fields.get("issue_type")
    return Delivered(
        interaction_id=message.id,
        tenant_id=message.tenant_id,
        customer_id=message.customer_id,
        occurred_at=message.occurred_at.ToDatetime(tzinfo=UTC),
        channel=message.channel,
        kind=message.kind,
        sentiment=message.sentiment if message.HasField("sentiment") else None,
        traceparent=message.traceparent,
        direction={
            ingest_pb2.DIRECTION_INBOUND: "inbound",
            ingest_pb2.DIRECTION_OUTBOUND: "outbound",
        }.get(message.direction, ""),
        outcome=outcome.string_value[:32] if outcome and outcome.string_value else None,
        employee=message.employee or None,
        revenue=money["revenue"],
        refund=money["refund"],
        cost=money["cost"],
        issue_type=issue.string_value[:64] if issue and issue.string_value else None,
        text=message.text[:2000] or None,
    )


@st.composite
def interactions(draw: st.DrawFn) -> ingest_pb2.Interaction:
    stamp = Timestamp(
        seconds=draw(st.integers(0, 4_000_000_000)), nanos=draw(st.integers(0, 999_999_999))
    )
    message = ingest_pb2.Interaction(
        id=draw(st.text(max_size=5)),
        tenant_id="t1",
        customer_id=draw(st.text(max_size=5)),
        occurred_at=stamp,
        channel=draw(st.sampled_from(["", "sales", "support"])),
        kind=draw(st.sampled_from(["", "purchase", "complaint"])),
        direction=draw(st.sampled_from([0, 1, 2])),  # type: ignore[arg-type]
        amount=draw(st.sampled_from(["", "0", "12.5", "100000"])),
        amount_type=draw(st.sampled_from([0, 1, 2, 3])),  # type: ignore[arg-type]
        employee=draw(st.sampled_from(["", "ana"])),
        text=draw(st.text(max_size=3)) * draw(st.sampled_from([1, 1000])),
        traceparent=draw(st.sampled_from(["", "00-abc-def-01"])),
    )
    attributes = draw(
        st.dictionaries(
            st.sampled_from(["outcome", "issue_type", "other"]),
            st.sampled_from(["", "won", "x" * 80]) | st.floats(0, 1),
            max_size=3,
        )
    )
    if attributes or draw(st.booleans()):
        struct = Struct()
        struct.update(attributes)
        message.attributes.CopyFrom(struct)
    if draw(st.booleans()):
        message.sentiment = draw(st.floats(-1, 1, width=32))
    return message


@settings(max_examples=300, deadline=None)
@given(interactions())
def test_the_fast_conversion_is_the_plain_one(message: ingest_pb2.Interaction) -> None:
    assert delivered(message) == _plain_delivered(message)


def _plain_features(
    rows: list[tuple[str, datetime, str, str, float, float, float, float | None]], at: datetime
) -> dict[str, Features]:
    """The value map's features by its rules, an interaction at a time."""
    found: dict[str, list[float]] = {}
    for customer, moment, channel, kind, revenue, refund, cost, sentiment in rows:
        sums = found.setdefault(customer, [0.0, 0.0, 0.0, 0.0])
        if not at - WINDOW < moment <= at:
            continue
        sums[0] += 1
        sums[1] += revenue - refund
        sums[2] += cost or (SERVICE_TOUCH_COST if channel in SERVICE_CHANNELS else 0.0)
        if kind in ADVOCACY_KINDS and (sentiment is None or sentiment >= 0):
            sums[3] += 1
    return {c: Features(e, r, k, r - k, a) for c, (e, r, k, a) in found.items()}


value_map_rows = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2", "c3"]),
        st.integers(0, 800),  # days after T0
        st.sampled_from(["sales", "service", "social"]),
        st.sampled_from(["purchase", "review", "referral", "ticket_opened"]),
        st.sampled_from([0.0, 120.5]) | st.floats(0, 1e6, allow_nan=False),
        st.sampled_from([0.0, 10.0]),
        st.sampled_from([0.0, 40.0]),
        st.none() | st.floats(-1, 1, allow_nan=False),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(value_map_rows, st.integers(1, 10), st.integers(0, 900))
def test_the_value_map_columns_give_the_features_of_the_rules(
    drawn: list[tuple[str, int, str, str, float, float, float, float | None]],
    chunk: int,
    day: int,
) -> None:
    """Built from chunks of any size, the columns give each customer's year up to any moment
    exactly as an interaction at a time does (zero for a customer without one then)."""
    rows = sorted(((c, T0 + timedelta(days=d), *rest) for c, d, *rest in drawn), key=lambda r: r[1])
    builder = ValueMapBuilder()
    for start in range(0, len(rows), chunk):
        columns = list(zip(*rows[start : start + chunk], strict=True))
        builder.add(
            list(columns[0]),
            [micros(m) for m in columns[1]],
            *(list(c) for c in columns[2:]),  # type: ignore[arg-type]
        )
    history = builder.build()
    at = T0 + timedelta(days=day)
    expected = _plain_features(rows, at)
    assert history.features_at(at, [*expected, "nobody"]) == {
        **expected,
        "nobody": Features(0.0, 0.0, 0.0, 0.0, 0.0),
    }
    counts = {
        c: sum(1 for r in rows if r[0] == c and at - timedelta(days=90) < r[1] <= at)
        for c in expected
    }
    assert history.interactions(at - timedelta(days=90), at) == {
        c: n for c, n in counts.items() if n
    }


def test_the_value_map_puts_interactions_added_in_any_order_in_time_order() -> None:
    builder = ValueMapBuilder()
    for customer, day, revenue in (("c1", 3, 1.0), ("c2", 1, 2.0), ("c1", 2, 4.0), ("c2", 1, 8.0)):
        builder.add(
            [customer],
            [micros(T0 + timedelta(days=day))],
            ["sales"],
            ["purchase"],
            [revenue],
            [0.0],
            [0.0],
            [None],
        )
    history = builder.build()
    assert history.moments.tolist() == [micros(T0 + timedelta(days=d)) for d in (1, 1, 2, 3)]
    assert [history.names[c] for c in history.codes] == ["c2", "c2", "c1", "c1"]
    assert history.revenue.tolist() == [2.0, 8.0, 4.0, 1.0]
    # The year up to day 2 holds c1's purchase of day 2, not that of day 3.
    assert history.features_at(T0 + timedelta(days=2), ["c1"])["c1"].revenue == 4.0


@pytest.fixture
async def service(database_factory: Callable[[Path, str], Awaitable[Database]]) -> ScoringService:
    return ScoringService(await database_factory(MIGRATIONS, "scoring"))


def _item(n: int, customer: str, **changes: object) -> Delivered:
    kinds = ["purchase", "complaint", "ticket_opened", "renewal", "refund", "violation"]
    values: dict[str, object] = {
        "interaction_id": f"{customer}-{n}",
        "tenant_id": "t1",
        "customer_id": customer,
        "occurred_at": T0 + timedelta(hours=n, microseconds=n * 7),
        "channel": "sales",
        "kind": kinds[n % len(kinds)],
        "sentiment": None if n % 4 == 0 else ((n % 5) - 2) / 2,
        "revenue": float(n * 10) if n % 3 == 0 else 0.0,
        "refund": 25.0 if n % 7 == 0 else 0.0,
        "outcome": ["won", None, "lost", "unresolved"][n % 4],
        "direction": "inbound",
    }
    return Delivered(**{**values, **changes})  # type: ignore[arg-type]


async def _rows(service: ScoringService) -> tuple[dict[str, tuple[float, str]], dict[str, tuple]]:
    applied, relationship = table_of(AppliedInteraction), table_of(Relationship)
    async with service.db.read() as session:
        contributions = {
            i: (v, r)
            for i, v, r in await session.execute(
                select(applied.c.interaction_id, applied.c.contribution, applied.c.reason)
            )
        }
        masses = {
            c: (g, b, d)
            for c, g, b, d in await session.execute(
                select(
                    relationship.c.customer_id,
                    relationship.c.good_mass,
                    relationship.c.bad_mass,
                    relationship.c.dirty_since,
                )
            )
        }
    return contributions, masses


async def test_a_recompute_weighs_every_row_as_the_rules_do(service: ScoringService) -> None:
    items = [_item(n, f"c{n % 3}") for n in range(90)]
    await service.apply(items[:60])
    await service.apply(items[60:])
    before, masses_before = await _rows(service)
    # Same weights: nothing changes, the sums are the applied ones (to rounding).
    assert await service.recompute("t1") == 90
    same, masses_same = await _rows(service)
    assert same == before
    for customer, (good, bad, dirty) in masses_same.items():
        assert good == pytest.approx(masses_before[customer][0], rel=1e-12)
        assert bad == pytest.approx(masses_before[customer][1], rel=1e-12)
        assert dirty is not None  # marked for the stage worker
    # New weights: every row as WeightTable.contribution gives it, the sums as `mass`.
    config = {
        "weights": {"purchase": 1.0, "sales.purchase": 7.0, "complaint": -7.0},
        "negativity": 3.0,
    }
    await service.put_settings("t1", config, None)
    table = WeightTable.from_config(config)
    after, masses_after = await _rows(service)
    expected_masses: dict[str, list[float]] = {f"c{c}": [0.0, 0.0] for c in range(3)}
    for item in items:
        effect = table.contribution(
            Touch(item.kind, item.sentiment, item.revenue, item.channel, item.outcome, item.refund)
        )
        assert after[item.interaction_id] == (effect.value, effect.reason)
        good, bad = mass(table, effect.value, item.occurred_at)
        expected_masses[item.customer_id][0] += good
        expected_masses[item.customer_id][1] += bad
    assert after != before
    for customer, (good, bad) in expected_masses.items():
        assert masses_after[customer][0] == pytest.approx(good, rel=1e-12)
        assert masses_after[customer][1] == pytest.approx(bad, rel=1e-12)


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.permutations(range(24)), st.integers(1, 24))
async def test_batches_in_any_order_and_size_end_at_the_same_relationship(
    service: ScoringService, order: list[int], size: int
) -> None:
    """Through the driver as through the ORM: the same relationship whatever the batches,
    duplicates counted once, and the first and last moments right."""
    tenant = f"t-{order[0]}-{size}-{sum(i * o for i, o in enumerate(order))}"
    items = [_item(n, "c1", tenant_id=tenant, interaction_id=f"{tenant}-{n}") for n in order]
    for start in range(0, len(items), size):
        await service.apply(items[start : start + size] + items[start : start + 1])
    [view] = await service.relationships(tenant, ["c1"])
    counted = [i for i in items if i.kind != "violation"]
    assert view.interaction_count == len(counted)
    assert view.first_interaction_at == min(i.occurred_at for i in counted)
    assert view.last_interaction_at == max(i.occurred_at for i in counted)
    last = max(counted, key=lambda i: i.occurred_at)
    table = WeightTable()
    assert (
        view.last_contribution
        == table.contribution(
            Touch(last.kind, last.sentiment, last.revenue, last.channel, last.outcome, last.refund)
        ).value
    )
    assert math.isclose(
        view.revenue, sum(i.revenue - i.refund for i in items), rel_tol=1e-12, abs_tol=1e-9
    )


async def test_applying_and_reading_read_the_customers_relationships_not_the_tenants(
    service: ScoringService,
) -> None:
    """On PostgreSQL, applying a batch reads the value sums of its customers' relationships,
    a read of some customers (the gateway's page) their relationships and recent
    contributions, and the stage worker their histories, customer by customer whatever the
    statistics: without them (a table loaded before autovacuum analysed it, or a server
    without autovacuum) `customer_id = ANY(...)` read the tenant's every row. `tests.plans`
    counts the rows each scan read."""
    if service.db.sqlite:
        pytest.skip("the plans are PostgreSQL's")
    await service.apply([_item(1, f"c{n:04}") for n in range(2000)])
    few = [("t1", "c0007"), ("t1", "c0500"), ("t1", "c1999")]
    async with service.db.transaction() as session:
        repo = ScoringRepository(session)
        async with rows_read(session) as read:
            masses = await repo.masses(few)
        assert read == {("SELECT", "relationship"): len(few)}
        async with rows_read(session) as read:
            found = await repo.relationships_of("t1", [c for _, c in few])
        assert read == {("SELECT", "relationship"): len(few)}
        async with rows_read(session) as read:  # the stage worker's read, and an as-of one
            history = await repo.history("t1", [c for _, c in few])
            before = await repo.history("t1", [c for _, c in few], until=T0)
        # Each customer's one interaction; none for the moment before it (the index's range).
        assert read == {("SELECT", "applied_interaction"): len(few)}
        async with rows_read(session) as read:  # a trend's, with every relationship read
            since = await repo.contributions_since("t1", [c for _, c in few], T0)
        assert read == {("SELECT", "applied_interaction"): len(few)}
    assert set(masses) == set(few)
    assert sorted(r.customer_id for r in found) == [c for _, c in few]
    assert [(h.customer_id, h.occurred_at) for h in history] == [
        (c, T0 + timedelta(hours=1, microseconds=7)) for _, c in few
    ]
    assert before == []
    assert sorted(c.customer_id for c in since) == [c for _, c in few]


async def test_the_stage_before_a_moment_is_each_customers_last_change_before_it(
    service: ScoringService,
) -> None:
    """The stage worker's read of where each customer stood before the moment it judges
    from: the last stage change strictly before it (of two at one moment, the greater id),
    of that tenant, not a change of type; on PostgreSQL no row of another tenant, another
    customer or after the moment is read."""

    def change(n: int, customer: str, hours: int, stage: str, **other: str) -> dict[str, object]:
        return {
            "id": f"sc-{n:02}",
            "tenant_id": other.get("tenant", "t1"),
            "customer_id": customer,
            "dimension": other.get("dimension", "stage"),
            "at": T0 + timedelta(hours=hours),
            "previous": None,
            "current": stage,
            "reason": f"reason {n}",
        }

    rows = [
        change(1, "c1", 1, "initiating"),
        change(3, "c1", 2, "experimenting"),
        change(2, "c1", 2, "intensifying"),  # the same moment: sc-03 is the later
        change(4, "c1", 3, "integrating"),
        change(5, "c1", 2, "Partner", dimension="type"),
        change(6, "c1", 2, "bonding", tenant="t2"),
        change(7, "c2", 5, "initiating"),
        change(8, "c3", 1, "initiating"),
    ]
    async with service.db.transaction() as session:
        await ScoringRepository(session).insert_state_changes(rows)
    since = {
        "c1": T0 + timedelta(hours=3),  # before the change at hour 3
        "c2": T0 + timedelta(hours=5),  # its only change is at the moment itself
        "c3": None,  # judged from its start: nothing before
        "c4": T0 + timedelta(hours=9),  # no change at all
    }
    async with service.db.transaction() as session:
        repo = ScoringRepository(session)
        if service.db.sqlite:
            found = await repo.stages_before("t1", since)
        else:
            async with rows_read(session) as read:
                found = await repo.stages_before("t1", since)
            assert 1 <= read[("SELECT", "state_change")] <= 3  # c1's three before its moment
    assert {c: (f.id, f.current, f.at) for c, f in found.items()} == {
        "c1": ("sc-03", "experimenting", T0 + timedelta(hours=2))
    }


async def test_whether_a_tenants_data_is_current_stops_at_its_first_recent_customer(
    service: ScoringService,
) -> None:
    """The stage worker asks every batch whether anyone of the tenant was heard from since a
    moment (its data current): at or after the moment, that tenant's customers only; on
    PostgreSQL it stops at the first such customer, not reading the tenant's every one."""
    await service.apply([_item(1, f"c{n:04}") for n in range(2000)])
    await service.apply([_item(2, "c0", tenant_id="t2", occurred_at=T0 + timedelta(days=1))])
    last = T0 + timedelta(hours=1, microseconds=7)  # every t1 customer's one interaction
    async with service.db.transaction() as session:
        repo = ScoringRepository(session)
        if service.db.sqlite:
            assert await repo.heard_since("t1", last)
        else:
            async with rows_read(session) as read:
                assert await repo.heard_since("t1", last)
            assert read == {("SELECT", "relationship"): 1}
        assert not await repo.heard_since("t1", last + timedelta(microseconds=1))
        assert await repo.heard_since("t2", T0 + timedelta(days=1))
        assert not await repo.heard_since("t3", T0)


async def test_the_value_map_read_in_chunks_is_the_tenants_window(
    service: ScoringService,
) -> None:
    """A placement's read, a few rows at a time (a server-side cursor on PostgreSQL), gives
    the interactions in (start, end] of the tenant alone, moments to the microsecond, in no
    particular order."""
    items = [
        _item(n, f"c{n % 4}", channel="service" if n % 5 == 0 else "sales") for n in range(50)
    ] + [_item(n, "c0", tenant_id="t2", interaction_id=f"t2-{n}") for n in range(10)]
    items[3] = replace(items[3], kind="review", sentiment=0.5)
    await service.apply(items)
    start, end = items[4].occurred_at, items[44].occurred_at
    async with service.db.read_transaction() as session:
        repo = ScoringRepository(session)
        chunks = [c async for c in repo.value_map_rows("t1", start, end, size=7)]
    assert [len(c.customer_ids) for c in chunks] == [7, 7, 7, 7, 7, 5]
    read = sorted(
        (moment, customer, sentiment, cost)
        for c in chunks
        for moment, customer, sentiment, cost in zip(
            c.moments.tolist(), c.customer_ids, c.sentiments, c.costs, strict=True
        )
    )
    inside = [i for i in items[:50] if i.tenant_id == "t1" and start < i.occurred_at <= end]
    assert read == [(micros(i.occurred_at), i.customer_id, i.sentiment, 0.0) for i in inside]


async def test_a_recompute_a_few_rows_at_a_time_is_the_one_of_all_at_once(
    service: ScoringService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two tenants with the same history, one weighed again in one chunk, the other 19
    rows at a time: the same contributions, value sums and last contributions (of two at a
    customer's newest moment, the one read last, across chunks too: c0's two newest are
    read in two chunks on either database)."""
    config = {"weights": {"purchase": 2.0, "complaint": -9.0, "renewal": 4.0}}
    for tenant in ("t1", "t2"):
        await service.apply(
            [
                _item(
                    n,
                    f"c{n % 3}",
                    tenant_id=tenant,
                    interaction_id=f"{tenant}-{n}",
                    occurred_at=T0 + timedelta(hours=n // 6),
                )
                for n in range(60)
            ]
        )
    await service.put_settings("t1", config, None)
    whole = ScoringRepository.weighing
    monkeypatch.setattr(
        ScoringRepository, "weighing", lambda repo, tenant: whole(repo, tenant, size=19)
    )
    await service.put_settings("t2", config, None)
    monkeypatch.undo()
    ones = {v.customer_id: v for v in await service.relationships("t1", ["c0", "c1", "c2"])}
    chunked = {v.customer_id: v for v in await service.relationships("t2", ["c0", "c1", "c2"])}
    assert {c: v.last_contribution for c, v in chunked.items()} == {
        c: v.last_contribution for c, v in ones.items()
    }
    applied, relationship = table_of(AppliedInteraction), table_of(Relationship)
    async with service.db.read() as session:
        sums = await session.execute(
            select(
                relationship.c.tenant_id,
                relationship.c.customer_id,
                relationship.c.good_mass,
                relationship.c.bad_mass,
            )
        )
        masses = {(t, c): (g, b) for t, c, g, b in sums}
        for customer in ones:
            one, chunk = masses[("t1", customer)], masses[("t2", customer)]
            assert chunk == pytest.approx(one, rel=1e-12)
        rows = await session.execute(
            select(applied.c.interaction_id, applied.c.contribution, applied.c.reason)
        )
        weighed = {i: (v, r) for i, v, r in rows}
    assert {i[3:]: w for i, w in weighed.items() if i.startswith("t1-")} == {
        i[3:]: w for i, w in weighed.items() if i.startswith("t2-")
    }


async def test_the_fit_reads_the_tenants_purchases_in_chunks(
    service: ScoringService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retention fit's read, a few rows at a time (a server-side cursor on PostgreSQL):
    the tenant's purchase-like interactions up to the fit's moment alone, to the microsecond;
    and the model fitted from purchases read 7 at a time is the one fitted from one read."""
    kinds = ["purchase", "ticket_opened", "renewal", "upsell", "complaint"]
    history = {
        tenant: [
            _item(
                n,
                f"c{n % 40}",
                tenant_id=tenant,
                interaction_id=f"{tenant}-{n}",
                kind=kinds[(n + n // 40) % 5],
                occurred_at=T0 + timedelta(days=(n * 37) % 300, microseconds=n),
                revenue=float(n % 9),
            )
            for n in range(400)
        ]
        for tenant in ("t1", "t2")
    }
    for items in history.values():
        await service.apply(items)
    until = T0 + timedelta(days=250)
    async with service.db.read_transaction() as session:
        repo = ScoringRepository(session)
        chunks = [c async for c in repo.purchase_rows("t1", PURCHASE_KINDS, until, size=7)]
    assert {len(customers) for customers, _, _ in chunks[:-1]} == {7}
    read = [
        row
        for customers, moments, revenues in chunks
        for row in zip(customers, moments.tolist(), revenues, strict=True)
    ]
    expected = [
        (i.customer_id, micros(i.occurred_at), i.revenue)
        for i in history["t1"]
        if i.kind in PURCHASE_KINDS and i.occurred_at <= until
    ]
    assert len(expected) > 100
    assert sorted(read) == sorted(expected)
    one = await service.fit_retention("t1", until)
    whole = ScoringRepository.purchase_rows
    monkeypatch.setattr(
        ScoringRepository,
        "purchase_rows",
        lambda repo, tenant, kinds, at: whole(repo, tenant, kinds, at, size=7),
    )
    chunked = await service.fit_retention("t2", until)
    assert one is not None
    assert chunked is not None
    assert one.gamma_gamma
    assert (chunked.kind, chunked.customers) == (one.kind, one.customers)
    for fitted in ("bgnbd", "pareto_nbd", "gamma_gamma"):
        assert getattr(chunked, fitted) == pytest.approx(getattr(one, fitted), rel=1e-6)
