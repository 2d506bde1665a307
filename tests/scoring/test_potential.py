"""Profit-improvement potential: lookalikes of the best customers that bring less."""

from __future__ import annotations

from scoring.potential import potentials
from scoring.relationship_types import Features
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
