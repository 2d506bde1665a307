"""Profit-improvement potential: customers who behave like the tenant's best customers but do
not (yet) bring what those bring.

"Best" are the customers whose revenue over the year is in the top 35% (where BFFs and
Partners sit by default), by the relationship types' rule: a tie at the cut is not split, so
when most customers bring nothing, none of those is among the best. Behaviour is
engagement, advocacy and cost to serve (log-scaled and standardised over the tenant), not
money. Any other customer has potential when its five nearest best customers are as near to
it as best customers usually are to each other (the median of their own nearest-neighbour
distances); the potential is what those five bring in the median, less what it brings.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from scoring.relationship_types import Distribution, Features

# The best customers: revenue at least this percentile (the top 35%).
TOP_PERCENTILE = 65.0
NEIGHBOURS = 5
# How much farther than best customers are from each other a lookalike may be.
REACH = 3.0


@dataclass(frozen=True)
class Potential:
    amount: float
    like: list[str]
    reason: str


def _vector(f: Features) -> tuple[float, float, float]:
    return (math.log1p(f.engagement), math.log1p(f.advocacy), math.log1p(f.cost_to_serve))


def potentials(population: Mapping[str, Features]) -> dict[str, Potential]:
    """The customers with potential, by id."""
    if len(population) < 2 * NEIGHBOURS:
        return {}
    ids = sorted(population)
    vectors = {c: _vector(population[c]) for c in ids}
    spreads = []
    for axis in range(3):
        values = [v[axis] for v in vectors.values()]
        spreads.append(statistics.pstdev(values) or 1.0)
    scaled = {c: tuple(v[a] / spreads[a] for a in range(3)) for c, v in vectors.items()}
    revenues = Distribution({"revenue": sorted(population[c].revenue for c in ids)})
    best = [c for c in ids if revenues.in_top("revenue", TOP_PERCENTILE, population[c].revenue)]
    top = set(best)
    if len(best) <= NEIGHBOURS:
        return {}

    def distance(a: str, b: str) -> float:
        return math.dist(scaled[a], scaled[b])

    usual = statistics.median(min(distance(b, other) for other in best if other != b) for b in best)
    found: dict[str, Potential] = {}
    for c in ids:
        if c in top:
            continue
        own = population[c].revenue
        nearest = sorted(best, key=lambda b: (distance(c, b), b))[:NEIGHBOURS]
        if statistics.mean(distance(c, b) for b in nearest) > max(usual, 1e-9) * REACH:
            continue
        typical = statistics.median(population[b].revenue for b in nearest)
        if typical <= own:
            continue
        f = population[c]
        found[c] = Potential(
            round(typical - own, 2),
            nearest,
            f"behaves like {len(nearest)} of the best customers (engagement {f.engagement:.0f}, "
            f"advocacy {f.advocacy:.0f}); they bring {typical:,.0f} a year, it brings {own:,.0f}",
        )
    return found
