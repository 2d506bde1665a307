"""Scoring's use cases against real SQLite and real PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from relint.db import Database
from scoring.domain import Touch, contribution
from scoring.main import MIGRATIONS
from scoring.service import Delivered, ScoringService

T0 = datetime(2026, 2, 1, tzinfo=UTC)
KINDS = ["purchase", "complaint", "ticket_opened", "ticket_resolved", "renewal", "refund"]


def delivered(n: int, customer: str = "c1", tenant: str = "t1") -> Delivered:
    kind = KINDS[n % len(KINDS)]
    return Delivered(
        interaction_id=f"{tenant}-{customer}-{n}",
        tenant_id=tenant,
        customer_id=customer,
        occurred_at=T0 + timedelta(hours=n),
        channel="sales",
        kind=kind,
        sentiment=((n % 5) - 2) / 2,
        revenue=float(n * 10),
    )


@pytest.fixture
async def service(database_factory: Callable[[Path, str], Awaitable[Database]]) -> ScoringService:
    return ScoringService(await database_factory(MIGRATIONS, "scoring"))


async def test_value_is_the_sum_of_contributions(service: ScoringService) -> None:
    batch = [delivered(n) for n in range(12)]
    result = await service.apply(batch)
    assert (result.applied, result.duplicates) == (12, 0)
    [relationship] = await service.relationships("t1", ["c1"])
    expected = sum(contribution(Touch(d.kind, d.sentiment, d.revenue)) for d in batch)
    assert relationship.value == pytest.approx(expected)
    assert relationship.interaction_count == 12
    assert relationship.last_interaction_at == T0 + timedelta(hours=11)


async def test_applying_again_changes_nothing(service: ScoringService) -> None:
    batch = [delivered(n) for n in range(6)]
    await service.apply(batch)
    [before] = await service.relationships("t1", ["c1"])
    again = await service.apply(batch + batch[:2])
    assert (again.applied, again.duplicates) == (0, 8)
    [after] = await service.relationships("t1", ["c1"])
    assert (after.value, after.interaction_count) == (before.value, before.interaction_count)


async def test_any_arrival_order_gives_the_same_state(service: ScoringService) -> None:
    in_order = [delivered(n, "ordered") for n in range(20)]
    await service.apply(in_order)
    shuffled = [delivered(n, "shuffled") for n in range(20)]
    random.Random(3).shuffle(shuffled)
    for start in range(0, 20, 7):
        await service.apply(shuffled[start : start + 7])
    ordered, mixed = sorted(
        await service.relationships("t1", ["ordered", "shuffled"]), key=lambda r: r.customer_id
    )
    assert mixed.value == pytest.approx(ordered.value)
    assert mixed.interaction_count == ordered.interaction_count
    assert mixed.last_interaction_at == ordered.last_interaction_at
    assert mixed.last_contribution == ordered.last_contribution


async def test_tenants_are_isolated(service: ScoringService) -> None:
    await service.apply([delivered(0, "c1", "t1"), delivered(1, "c1", "t2")])
    assert [r.tenant_id for r in await service.relationships("t1", ["c1"])] == ["t1"]
    assert await service.relationships("t3", ["c1"]) == []


async def test_an_interaction_delivered_again_under_a_merged_customer_moves(
    service: ScoringService,
) -> None:
    """Ingest merged c2 into c1 and delivers c2's interactions again with c1 as customer."""
    await service.apply([delivered(n, "c1") for n in range(3)])
    moved = [delivered(n, "c2") for n in range(3, 6)]
    await service.apply(moved)
    again = [replace(d, customer_id="c1") for d in moved]
    result = await service.apply(again)
    assert (result.applied, result.duplicates, result.moved) == (0, 0, 3)
    assert (await service.apply(again)).duplicates == 3  # and only once
    by_customer = {r.customer_id: r for r in await service.relationships("t1", ["c1", "c2"])}
    expected = sum(
        contribution(Touch(d.kind, d.sentiment, d.revenue))
        for d in [delivered(n, "c1") for n in range(3)] + moved
    )
    assert by_customer["c1"].value == pytest.approx(expected)
    assert by_customer["c1"].interaction_count == 6
    assert by_customer["c2"].interaction_count == 0
    assert by_customer["c2"].value == pytest.approx(0.0, abs=1e-6)
