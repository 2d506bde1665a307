"""Profit-improvement potential: lookalikes of the best customers that bring less."""

from __future__ import annotations

import math
import statistics

from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import potential
from scoring.potential import potentials
from scoring.relationship_types import Distribution, Features
from tests.scoring.demo_support import features_of_active


def test_a_customer_that_behaves_like_the_best_but_pays_less_has_potential() -> None:
    best = {f"b{n}": Features(200 + n, 5000 + 100 * n, 600, 4400, 4) for n in range(8)}
    small = {f"s{n}": Features(20 + n, 300, 50, 250, 0) for n in range(12)}
    lookalike = {"x": Features(205, 800, 600, 200, 4)}
    found = potentials({**best, **small, **lookalike})
    assert list(found) == ["x"]
    assert found["x"].amount == 5500 - 800  # the median of its five nearest best customers
    assert found["x"].reason.startswith("behaves like 5 of the best customers (engagement 205")
    assert set(found["x"].like) <= set(best)


def test_on_the_demo_company_the_engaged_takers_show_potential() -> None:
    truth, population = features_of_active(300, 7)
    found = potentials(population)
    assert found  # measured: 4 customers
    # All of them are the demo's fair-weather friends: engaged like the best, paying less.
    assert {truth.customer(c).relationship_type for c in found} == {"fair_weather_friend"}


def test_a_tie_at_the_cut_is_not_among_the_best() -> None:
    """Most customers bring nothing: the cut of the top 35% falls among them, and none of them
    is among the best (as with the relationship types), so one that behaves like the best has
    potential rather than counting as best itself."""
    best = {f"b{n}": Features(200 + n, 5000 + 100 * n, 600, 4400, 4) for n in range(6)}
    idle = {f"s{n}": Features(20 + n, 0, 50, -50, 0) for n in range(14)}
    lookalike = {"x": Features(205, 0, 600, -600, 4)}
    found = potentials({**best, **idle, **lookalike})
    assert list(found) == ["x"]
    assert found["x"].amount == 5300  # the median of b1..b5
    assert set(found["x"].like) <= set(best)


def _pair_by_pair(population: dict[str, Features]) -> dict[str, tuple[float, list[str]]]:
    """The rule read literally, every distance computed: the reference for the tree."""
    ids = sorted(population)
    vectors = {c: potential._vector(population[c]) for c in ids}
    spreads = [statistics.pstdev(v[a] for v in vectors.values()) or 1.0 for a in range(3)]
    scaled = {c: tuple(v[a] / spreads[a] for a in range(3)) for c, v in vectors.items()}
    revenues = Distribution({"revenue": sorted(population[c].revenue for c in ids)})
    best = [c for c in ids if revenues.in_top("revenue", 65.0, population[c].revenue)]
    if len(best) <= 5:
        return {}
    usual = statistics.median(
        min(math.dist(scaled[b], scaled[o]) for o in best if o != b) for b in best
    )
    found = {}
    for c in ids:
        if c in best:
            continue
        nearest = sorted(best, key=lambda b: (math.dist(scaled[c], scaled[b]), b))[:5]
        if statistics.mean(math.dist(scaled[c], scaled[b]) for b in nearest) > usual * 3.0:
            continue
        typical = statistics.median(population[b].revenue for b in nearest)
        if typical > population[c].revenue:
            found[c] = (round(typical - population[c].revenue, 2), nearest)
    return found


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 6),
            st.sampled_from([0.0, 100.0, 500.0, 2000.0]),
            st.integers(0, 4),
            st.integers(0, 2),
        ),
        min_size=10,
        max_size=120,
    )
)
def test_the_nearest_best_found_through_the_tree_are_those_pair_by_pair(
    rows: list[tuple[int, float, int, int]],
) -> None:
    """Few distinct values, so many customers stand at the same spot and ties at the cut
    of the five nearest are the rule: they go to the best customer first by id."""
    population = {
        f"c{n:03d}": Features(engagement, revenue, cost, revenue - cost, advocacy)
        for n, (engagement, revenue, cost, advocacy) in enumerate(rows)
    }
    found = {c: (p.amount, p.like) for c, p in potentials(population).items()}
    assert found == _pair_by_pair(population)
