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

import numpy as np
from scipy.spatial import cKDTree

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


def _nearest(tree: cKDTree, points: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """For each point, the `count` nearest of the tree's points by (distance, position),
    as (distances, positions), rows in that order. A tie at the cut is broken by position
    (the best customers are in id order): where the next one is as near as the last, every
    point about that near is read and the first `count` by that order kept."""
    found = tree.query(points, k=count + 1)
    distances, positions = np.asarray(found[0]), np.asarray(found[1])
    tied = np.flatnonzero(distances[:, count] <= distances[:, count - 1])
    distances, positions = distances[:, :count].copy(), positions[:, :count].copy()
    for row in tied.tolist():
        # A hair beyond the cut: the ball's own arithmetic may round a point at it out.
        reach = float(distances[row, -1]) * (1 + 1e-9) + 1e-12
        within = np.array(tree.query_ball_point(points[row], reach), dtype=np.intp)
        near = np.linalg.norm(tree.data[within] - points[row], axis=1)
        keep = np.lexsort((within, near))[:count]
        distances[row], positions[row] = near[keep], within[keep]
    # Within the rows, ties by position too (the tree's order among equals is its own).
    order = np.lexsort((positions, distances), axis=1)
    return (
        np.take_along_axis(distances, order, axis=1),
        np.take_along_axis(positions, order, axis=1),
    )


def potentials(population: Mapping[str, Features]) -> dict[str, Potential]:
    """The customers with potential, by id. The nearest best customers are found through a
    k-d tree: pair by pair, 50,000 customers are ~875 million distances."""
    if len(population) < 2 * NEIGHBOURS:
        return {}
    ids = sorted(population)
    vectors = np.array([_vector(population[c]) for c in ids])
    spreads = vectors.std(axis=0)
    scaled = vectors / np.where(spreads > 0, spreads, 1.0)
    revenue = np.array([population[c].revenue for c in ids])
    revenues = Distribution({"revenue": sorted(revenue.tolist())})
    is_best = np.array([revenues.in_top("revenue", TOP_PERCENTILE, r) for r in revenue.tolist()])
    best = np.flatnonzero(is_best)
    if len(best) <= NEIGHBOURS:
        return {}
    tree = cKDTree(scaled[best])
    # How near best customers usually are to each other: the median of their nearest (the
    # second nearest of each, the first being itself).
    usual = float(np.median(np.asarray(tree.query(scaled[best], k=2)[0])[:, 1]))
    others = np.flatnonzero(~is_best)
    found: dict[str, Potential] = {}
    distances, positions = _nearest(tree, scaled[others], NEIGHBOURS)
    for c, near, nearest in zip(others.tolist(), distances, positions, strict=True):
        if float(near.mean()) > max(usual, 1e-9) * REACH:
            continue
        own = float(revenue[c])
        typical = statistics.median(revenue[best[nearest]].tolist())
        if typical <= own:
            continue
        f = population[ids[c]]
        found[ids[c]] = Potential(
            round(typical - own, 2),
            [ids[b] for b in best[nearest].tolist()],
            f"behaves like {NEIGHBOURS} of the best customers (engagement "
            f"{f.engagement:.0f}, advocacy {f.advocacy:.0f}); they bring {typical:,.0f} a "
            f"year, it brings {own:,.0f}",
        )
    return found
