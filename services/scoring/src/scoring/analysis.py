"""The analysis lenses over a tenant's interactions, as pure numpy over columns (no I/O).

Every lens takes the tenant's interactions as `Interactions` (one array per column, strings
coded once) and its customers as `Customers` (one row per customer: type, stage, when it
started and when it was lost), and returns plain dataclasses that carry the numbers behind
each figure (counts, confidence intervals), so that nobody acts on noise.

Times are seconds since the Unix epoch (floats). "Lost" is decided by the caller (scoring's
service: the customer's stage is "terminating", which the stage rules reach on a cancellation
or on a silence of 6x the customer's cadence and at least 180 days) and given as `ended_at`
(NaN while retained).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import betaincinv

from relint.taxonomy import COMING_APART

DAY = 86_400.0
MONTH = 30 * DAY
YEAR = 365 * DAY
Z95 = 1.959963984540054

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

# What counts as an expansion (service impact's upsell, stars' expansion) by default;
# "purchase" is left out: it measures buying cadence, not what a resolved ticket opened.
EXPANSION_KINDS = ("upsell",)
# Kinds that are the loss itself, never one of its causes (journey endings).
ENDING_KINDS = frozenset({"cancellation"})
DRIFT_MONTHS = 3
REVENUE_KINDS = frozenset({"purchase", "renewal", "upsell"})


class InvalidAnalysis(ValueError):
    """A request the lenses cannot answer (a bad window, weight or limit)."""


# -- columns ----------------------------------------------------------------------------------


def _coded(values: Iterable[str | None]) -> tuple[IntArray, tuple[str, ...]]:
    """Codes for the values (-1 for None or empty) and the vocabulary they index."""
    index: dict[str, int] = {}
    codes = [-1 if not v else index.setdefault(v, len(index)) for v in values]
    return np.asarray(codes, dtype=np.int64), tuple(index)


@dataclass(frozen=True)
class Customers:
    """The tenant's customers, one row each; other columns index into `ids`."""

    ids: tuple[str, ...]
    relationship_type: tuple[str, ...]  # "" while not placed
    stage: tuple[str, ...]  # "" while not evaluated
    started_at: FloatArray  # first interaction
    ended_at: FloatArray  # when lost; NaN while retained

    def __post_init__(self) -> None:
        n = len(self.ids)
        lengths = {len(self.relationship_type), len(self.stage)}
        lengths |= {len(self.started_at), len(self.ended_at)}
        if lengths != {n}:
            raise ValueError("every customer column must have one row per customer")

    @property
    def lost(self) -> BoolArray:
        return ~np.isnan(self.ended_at)

    def position(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.ids)}


@dataclass(frozen=True)
class Interactions:
    """The tenant's interactions as columns; `customer` indexes `Customers.ids`, -1 when the
    interaction's customer is not among them. Coded columns index their vocabulary."""

    customer: IntArray
    at: FloatArray
    kind: IntArray
    kinds: tuple[str, ...]
    channel: IntArray
    channels: tuple[str, ...]
    inbound: BoolArray
    revenue: FloatArray
    refund: FloatArray
    cost: FloatArray
    employee: IntArray
    employees: tuple[str, ...]
    issue: IntArray
    issues: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.at)

    def kind_codes(self, names: Iterable[str]) -> IntArray:
        wanted = set(names)
        return np.asarray([i for i, k in enumerate(self.kinds) if k in wanted], dtype=np.int64)

    def of_kinds(self, names: Iterable[str]) -> BoolArray:
        return np.isin(self.kind, self.kind_codes(names))


def columns_of(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows as `width` columns (a comprehension per column: zip(*rows) over a few hundred
    thousand rows is ten times slower)."""
    return [[row[i] for row in rows] for i in range(width)]


def positions_of(position: Mapping[str, int], customer_ids: Sequence[str]) -> IntArray:
    """Each customer id's index (`Customers.position`), -1 when not among them."""
    get = position.get
    return np.asarray([get(c, -1) for c in customer_ids], dtype=np.int64)


def interactions_from_rows(rows: Sequence[Sequence[Any]], customers: Customers) -> Interactions:
    """Columns from rows of (customer_id, at seconds, kind, channel, direction, revenue,
    refund, cost, employee, issue_type), the shape `ScoringRepository.analysis_rows` returns."""
    ids, at, kinds, channels, directions, revenue, refund, cost, employees, issues = columns_of(
        rows, 10
    )
    kind, kind_names = _coded(kinds)
    channel, channel_names = _coded(channels)
    employee, employee_names = _coded(employees)
    issue, issue_names = _coded(issues)
    return Interactions(
        customer=positions_of(customers.position(), ids),
        at=np.asarray(at, dtype=np.float64),
        kind=kind,
        kinds=kind_names,
        channel=channel,
        channels=channel_names,
        inbound=np.asarray([d == "inbound" for d in directions], dtype=np.bool_),
        revenue=np.asarray(revenue, dtype=np.float64),
        refund=np.asarray(refund, dtype=np.float64),
        cost=np.asarray(cost, dtype=np.float64),
        employee=employee,
        employees=employee_names,
        issue=issue,
        issues=issue_names,
    )


# -- statistics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A 95% confidence (or credible) interval."""

    low: float
    high: float


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def risk_ratio(a: int, n1: int, b: int, n0: int) -> tuple[float, Interval]:
    """(a/n1) / (b/n0) with Katz's log interval; 0.5 is added to every cell when one is zero
    (Haldane), so that a ratio always exists and a small count gives a wide interval."""
    if n1 <= 0 or n0 <= 0:
        return 0.0, Interval(0.0, 0.0)
    if a == 0 or b == 0 or a == n1 or b == n0:
        a_, n1_, b_, n0_ = a + 0.5, n1 + 1.0, b + 0.5, n0 + 1.0
    else:
        a_, n1_, b_, n0_ = float(a), float(n1), float(b), float(n0)
    ratio = (a_ / n1_) / (b_ / n0_)
    se = math.sqrt(max(1 / a_ - 1 / n1_ + 1 / b_ - 1 / n0_, 0.0))
    return ratio, Interval(ratio * math.exp(-Z95 * se), ratio * math.exp(Z95 * se))


def rate_ratio(a: int, t1: float, b: int, t0: float) -> tuple[float, Interval]:
    """The ratio of two Poisson rates, a events in t1 against b in t0, with the log interval
    (0.5 added to both counts when one is zero)."""
    if t1 <= 0 or t0 <= 0:
        return 0.0, Interval(0.0, 0.0)
    a_, b_ = (a + 0.5, b + 0.5) if a == 0 or b == 0 else (float(a), float(b))
    ratio = (a_ / t1) / (b_ / t0)
    se = math.sqrt(1 / a_ + 1 / b_)
    return ratio, Interval(ratio * math.exp(-Z95 * se), ratio * math.exp(Z95 * se))


def _by_customer_kind_first(
    interactions: Interactions, mask: BoolArray, groups: IntArray, n_groups: int, n: int
) -> FloatArray:
    """The first time each customer had each group (customers x groups; NaN: never)."""
    first = np.full(n * n_groups, np.inf)
    chosen = mask & (interactions.customer >= 0) & (groups >= 0)
    keys = interactions.customer[chosen] * n_groups + groups[chosen]
    np.minimum.at(first, keys, interactions.at[chosen])
    first[np.isinf(first)] = np.nan
    return first.reshape(n, n_groups)


def _weighted_counts(keys: IntArray, weights: FloatArray, size: int) -> FloatArray:
    return np.bincount(keys, weights=weights, minlength=size).astype(np.float64)


def _sums(customer: IntArray, values: FloatArray, mask: BoolArray, n: int) -> FloatArray:
    chosen = mask & (customer >= 0)
    return _weighted_counts(customer[chosen], values[chosen], n)


# -- 1. portfolio ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TypeShare:
    relationship_type: str
    customers: int
    share: float


@dataclass(frozen=True)
class Transition:
    from_type: str  # "" : not placed at the start of the period
    to_type: str
    customers: int


@dataclass(frozen=True)
class ParetoPoint:
    customer_share: float
    revenue_share: float
    profit_share: float


@dataclass(frozen=True)
class TypeEconomics:
    relationship_type: str
    customers: int
    revenue: float  # per customer
    cost_to_serve: float  # per customer
    refund: float  # per customer
    profit: float  # per customer
    revenue_ratio: float  # to the baseline type (the lowest revenue per customer)
    cost_ratio: float


@dataclass(frozen=True)
class StageCount:
    stage: str
    customers: int
    coming_apart: bool


@dataclass(frozen=True)
class ValuePoint:
    customer_id: str
    relationship_type: str
    revenue: float
    cost_to_serve: float
    profit: float


@dataclass(frozen=True)
class Portfolio:
    customers: int
    type_mix: list[TypeShare]
    transitions: list[Transition]
    pareto: list[ParetoPoint]
    top20_revenue_share: float
    top20_profit_share: float
    total_revenue: float
    total_profit: float
    economics: list[TypeEconomics]
    baseline_type: str
    stage_mix: list[StageCount]
    coming_apart: int
    value_map: list[ValuePoint]
    value_map_total: int


def money_by_customer(
    interactions: Interactions, n: int, start: float, end: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Revenue, cost to serve and refunds per customer with start < at <= end."""
    inside = (interactions.at > start) & (interactions.at <= end)
    return (
        _sums(interactions.customer, interactions.revenue, inside, n),
        _sums(interactions.customer, interactions.cost, inside, n),
        _sums(interactions.customer, interactions.refund, inside, n),
    )


def portfolio(
    customers: Customers,
    types_before: Sequence[str],
    revenue: FloatArray,
    cost: FloatArray,
    refund: FloatArray,
    limit: int = 500,
    pareto_points: int = 20,
) -> Portfolio:
    """The mix of types and its movement since `types_before`, the Pareto curve of revenue
    and profit (revenue - cost - refund), the economics of each type against the lowest, the
    mix of stages and the value map (top `limit` customers by revenue). Customers count once
    placed (a type); money arrays are per customer (see `money_by_customer`)."""
    if limit < 0:
        raise InvalidAnalysis("limit must be >= 0")
    types = np.asarray(customers.relationship_type, dtype=object)
    placed = types != ""
    n = int(placed.sum())
    profit = revenue - cost - refund
    names = sorted(set(types[placed]))
    mix = [
        TypeShare(t, int((types == t).sum()), int((types == t).sum()) / n if n else 0.0)
        for t in names
    ]
    moves: dict[tuple[str, str], int] = {}
    for before, now in zip(types_before, customers.relationship_type, strict=True):
        if now:
            moves[(before, now)] = moves.get((before, now), 0) + 1
    transitions = [Transition(a, b, c) for (a, b), c in sorted(moves.items())]

    order = np.argsort(-revenue[placed], kind="stable")
    rev_sorted = revenue[placed][order]
    profit_sorted = profit[placed][order]
    total_revenue, total_profit = float(rev_sorted.sum()), float(profit_sorted.sum())
    cum_rev, cum_profit = np.cumsum(rev_sorted), np.cumsum(profit_sorted)

    def shares(fraction: float) -> tuple[float, float]:
        k = round(fraction * n)
        if k == 0:
            return 0.0, 0.0
        rev = float(cum_rev[k - 1]) / total_revenue if total_revenue else 0.0
        prof = float(cum_profit[k - 1]) / total_profit if total_profit else 0.0
        return rev, prof

    pareto = [
        ParetoPoint(f, *shares(f)) for f in (i / pareto_points for i in range(1, pareto_points + 1))
    ]
    top_rev, top_profit = shares(0.2)

    per_type = []
    for t in names:
        members = types == t
        count = int(members.sum())
        per_type.append(
            (
                t,
                count,
                float(revenue[members].mean()),
                float(cost[members].mean()),
                float(refund[members].mean()),
                float(profit[members].mean()),
            )
        )
    baseline = min(per_type, key=lambda row: row[2]) if per_type else None
    economics = [
        TypeEconomics(
            t,
            count,
            rev,
            cst,
            ref,
            prof,
            rev / baseline[2] if baseline and baseline[2] > 0 else 0.0,
            cst / baseline[3] if baseline and baseline[3] > 0 else 0.0,
        )
        for t, count, rev, cst, ref, prof in per_type
    ]

    stages = np.asarray(customers.stage, dtype=object)
    stage_mix = [
        StageCount(s, int((stages[placed] == s).sum()), s in COMING_APART)
        for s in sorted(set(stages[placed]) - {""})
    ]
    apart = sum(s.customers for s in stage_mix if s.coming_apart)

    indexes = np.flatnonzero(placed)[order[:limit]]
    value_map = [
        ValuePoint(
            customers.ids[i],
            customers.relationship_type[i],
            float(revenue[i]),
            float(cost[i]),
            float(profit[i]),
        )
        for i in indexes
    ]
    return Portfolio(
        customers=n,
        type_mix=mix,
        transitions=transitions,
        pareto=pareto,
        top20_revenue_share=top_rev,
        top20_profit_share=top_profit,
        total_revenue=total_revenue,
        total_profit=total_profit,
        economics=economics,
        baseline_type=baseline[0] if baseline else "",
        stage_mix=stage_mix,
        coming_apart=apart,
        value_map=value_map,
        value_map_total=n,
    )


# -- 2. service impact -----------------------------------------------------------------------


@dataclass(frozen=True)
class IssueHazard:
    """Loss among customers after they had the issue type, against before or without it:
    a Poisson rate ratio over customer-years (the hazard ratio under a constant baseline)."""

    issue_type: str
    customers_with: int
    lost_after: int  # losses while exposed (after the first such issue)
    exposed_years: float
    lost_unexposed: int
    unexposed_years: float
    hazard_ratio: float
    interval: Interval
    foreshadows_loss: bool  # the interval lies above 1


@dataclass(frozen=True)
class IssueUpsell:
    """Resolved tickets of an issue type followed by an expansion within the window, against
    the resolved tickets of every other type (the base rate)."""

    issue_type: str
    resolved: int
    followed: int
    share: float
    base_resolved: int
    base_followed: int
    base_rate: float
    lift: float
    interval: Interval
    opens_upsell: bool  # the interval lies above 1


@dataclass(frozen=True)
class ServiceImpact:
    customers: int
    lost: int
    hazards: list[IssueHazard]
    upsells: list[IssueUpsell]
    window_days: int


def service_impact(
    interactions: Interactions,
    customers: Customers,
    as_of: float,
    window_days: int = 60,
    expansion_kinds: Sequence[str] = EXPANSION_KINDS,
    opened_kind: str = "ticket_opened",
    resolved_kind: str = "ticket_resolved",
) -> ServiceImpact:
    """Per issue type, the hazard ratio of loss after it (hazards, highest first), and per
    resolved issue type the share followed by an expansion within `window_days` against the
    base rate (upsells, highest lift first). Tickets whose window reaches past `as_of` are
    left out of the upsell counts (their outcome is not known yet)."""
    if not 1 <= window_days <= 365:
        raise InvalidAnalysis("window_days must be 1 to 365")
    n = len(customers.ids)
    issues = len(interactions.issues)
    lost = customers.lost
    end = np.where(lost, customers.ended_at, as_of)
    start = np.minimum(customers.started_at, end)
    past = interactions.at <= as_of
    opened = past & interactions.of_kinds([opened_kind])
    first = _by_customer_kind_first(interactions, opened, interactions.issue, issues, n)
    hazards = []
    for j, name in enumerate(interactions.issues):
        when = first[:, j]
        exposed = ~np.isnan(when) & (when <= end)
        exposed_time = np.where(exposed, end - when, 0.0)
        unexposed_time = np.where(exposed, when - start, end - start)
        a = int((lost & exposed).sum())
        b = int((lost & ~exposed).sum())
        t1, t0 = float(exposed_time.sum()) / YEAR, float(unexposed_time.sum()) / YEAR
        ratio, interval = rate_ratio(a, t1, b, t0)
        hazards.append(
            IssueHazard(
                name,
                int(exposed.sum()),
                a,
                t1,
                b,
                t0,
                ratio,
                interval,
                interval.low > 1.0,
            )
        )
    hazards.sort(key=lambda h: (-h.hazard_ratio, h.issue_type))

    window = window_days * DAY
    resolved = (
        interactions.of_kinds([resolved_kind])
        & (interactions.at + window <= as_of)
        & (interactions.customer >= 0)
        & (interactions.issue >= 0)
    )
    followed = _followed_within(
        interactions, resolved, interactions.of_kinds(expansion_kinds), window
    )
    resolved_issue = interactions.issue[resolved]
    per_issue = np.bincount(resolved_issue, minlength=issues)
    per_issue_followed = np.bincount(resolved_issue[followed], minlength=issues)
    total, total_followed = int(per_issue.sum()), int(per_issue_followed.sum())
    upsells = []
    for j, name in enumerate(interactions.issues):
        r, f = int(per_issue[j]), int(per_issue_followed[j])
        if r == 0:
            continue
        br, bf = total - r, total_followed - f
        lift, interval = risk_ratio(f, r, bf, br)
        upsells.append(
            IssueUpsell(
                name,
                r,
                f,
                f / r,
                br,
                bf,
                bf / br if br else 0.0,
                lift,
                interval,
                interval.low > 1.0,
            )
        )
    upsells.sort(key=lambda u: (-u.lift, u.issue_type))
    return ServiceImpact(n, int(lost.sum()), hazards, upsells, window_days)


def _followed_within(
    interactions: Interactions, events: BoolArray, later: BoolArray, window: float
) -> BoolArray:
    """For each of `events` (in order), whether the same customer has a `later` interaction
    within (at, at + window]."""
    # One sorted key per (customer, time): customer * span + (time - origin).
    origin = float(interactions.at.min()) if len(interactions) else 0.0
    span = float(interactions.at.max() - origin) + window + 1.0 if len(interactions) else 1.0
    chosen = later & (interactions.customer >= 0)
    keys = np.sort(interactions.customer[chosen] * span + (interactions.at[chosen] - origin))
    base = interactions.customer[events] * span + (interactions.at[events] - origin)
    after = np.searchsorted(keys, base, side="right")
    found = np.zeros(len(base), dtype=np.bool_)
    inside = after < len(keys)
    found[inside] = keys[after[inside]] <= base[inside] + window
    return found


# -- 3. journey endings ----------------------------------------------------------------------


@dataclass(frozen=True)
class EndingCause:
    """An interaction kind (or "issue:<type>") in the weeks before an end."""

    cause: str
    lost_with: int  # lost customers who had it in their last weeks
    lost: int
    retained_with: int  # retained customers who had it in their latest weeks
    retained: int
    lift: float
    interval: Interval
    trend: bool  # seen before 3+ losses, and more often than among the retained


@dataclass(frozen=True)
class JourneyEndings:
    lost: int
    retained: int
    window_days: int
    causes: list[EndingCause]


def journey_endings(
    interactions: Interactions,
    customers: Customers,
    as_of: float,
    window_days: int = 56,
    trend_count: int = 3,
) -> JourneyEndings:
    """For lost customers, what happened in the `window_days` before their end (the end
    itself and cancellations excluded), against what happened to retained customers in the
    `window_days` before `as_of`: per interaction kind and per issue type, how many of each
    group had it, and the lift (risk ratio, with its interval), highest first."""
    if not 7 <= window_days <= 365:
        raise InvalidAnalysis("window_days must be 7 to 365")
    window = window_days * DAY
    lost = customers.lost & (customers.ended_at <= as_of)
    retained = ~customers.lost & (customers.started_at <= as_of - window)
    end = np.where(lost, customers.ended_at, as_of)
    c = interactions.customer
    valid = c >= 0
    cust = np.where(valid, c, 0)
    member = valid & (lost[cust] | retained[cust])
    inside = member & (interactions.at < end[cust]) & (interactions.at >= end[cust] - window)
    inside &= ~interactions.of_kinds(ENDING_KINDS)
    kinds, issues = len(interactions.kinds), len(interactions.issues)
    features = kinds + issues
    keys = [c[inside] * features + interactions.kind[inside]]
    with_issue = inside & (interactions.issue >= 0)
    keys.append(c[with_issue] * features + kinds + interactions.issue[with_issue])
    present = np.unique(np.concatenate(keys))
    who, what = present // features, present % features
    lost_with = np.bincount(what[lost[who]], minlength=features)
    retained_with = np.bincount(what[retained[who]], minlength=features)
    names = [*interactions.kinds, *(f"issue:{i}" for i in interactions.issues)]
    n_lost, n_retained = int(lost.sum()), int(retained.sum())
    causes = []
    for j, name in enumerate(names):
        a, b = int(lost_with[j]), int(retained_with[j])
        if a == 0:
            continue
        lift, interval = risk_ratio(a, n_lost, b, n_retained)
        causes.append(
            EndingCause(
                name,
                a,
                n_lost,
                b,
                n_retained,
                lift,
                interval,
                a >= trend_count and lift > 1.0,
            )
        )
    causes.sort(key=lambda e: (-e.lift, -e.lost_with, e.cause))
    return JourneyEndings(n_lost, n_retained, window_days, causes)


# -- 4. stars ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StarCell:
    """An employee's customers (those it works with most) in one group, with their
    outcomes shrunk toward the tenant's mean: retention and expansion as beta-binomial
    posteriors, revenue per month as a normal-normal one."""

    employee: str
    group: str  # the relationship type, the stage, or "" for all of its customers
    customers: int
    retained: int
    retention_raw: float
    retention: float
    retention_interval: Interval
    expanded: int
    expansion: float
    revenue_per_month_raw: float
    revenue_per_month: float


@dataclass(frozen=True)
class Stars:
    employees: list[StarCell]  # over all of each employee's customers, best retention first
    by_type: list[StarCell]
    by_stage: list[StarCell]
    mean_retention: float
    mean_expansion: float
    mean_revenue_per_month: float


def primary_employee(interactions: Interactions, n: int) -> IntArray:
    """Each customer's employee: the one on most of its interactions (-1: none)."""
    chosen = (interactions.employee >= 0) & (interactions.customer >= 0)
    m = max(len(interactions.employees), 1)
    pairs, counts = np.unique(
        interactions.customer[chosen] * m + interactions.employee[chosen], return_counts=True
    )
    who, emp = pairs // m, pairs % m
    # Sort by customer, then count; the last row of each customer is its most frequent one.
    order = np.lexsort((-emp, counts, who))
    result = np.full(n, -1, dtype=np.int64)
    result[who[order]] = emp[order]
    return result


def _beta_prior(successes: FloatArray, trials: FloatArray) -> tuple[float, float]:
    """Beta prior (a, b) by the method of moments over the groups' rates."""
    total = float(trials.sum())
    p = float(successes.sum()) / total if total else 0.0
    p = min(max(p, 1e-6), 1 - 1e-6)
    used = trials > 0
    if used.sum() < 2:
        return p * 1e6, (1 - p) * 1e6
    rates = successes[used] / trials[used]
    weights = trials[used]
    spread = float(np.average((rates - p) ** 2, weights=weights))
    noise = p * (1 - p) * float(np.mean(1 / weights))
    between = spread - noise
    # No spread beyond noise estimates the groups as equal; the prior still may not be
    # surer than everything observed together (an "infinite" prior gave every employee
    # the same figure with an interval of zero width).
    strength = p * (1 - p) / between - 1 if between > 0 else total
    strength = min(max(strength, 1.0), max(total, 1.0))
    return p * strength, (1 - p) * strength


def _normal_shrink(
    sums: FloatArray, squares: FloatArray, counts: FloatArray
) -> tuple[FloatArray, FloatArray, float]:
    """Raw and shrunk group means of a continuous outcome (normal-normal, moments)."""
    total = float(counts.sum())
    grand = float(sums.sum()) / total if total else 0.0
    safe = np.maximum(counts, 1.0)
    means = np.where(counts > 0, sums / safe, grand)
    within = (float(squares.sum()) - total * grand**2) / max(total - 1, 1.0)
    within = max(within, 1e-12)
    used = counts > 0
    if used.sum() < 2:
        return means, np.full_like(means, grand), grand
    between = float(np.average((means[used] - grand) ** 2, weights=counts[used]))
    tau2 = max(between - within * float(np.mean(1 / counts[used])), 0.0)
    weight = tau2 / (tau2 + within / safe)
    return means, grand + weight * (means - grand), grand


def stars(
    interactions: Interactions,
    customers: Customers,
    as_of: float,
    min_customers: int = 1,
    expansion_kinds: Sequence[str] = EXPANSION_KINDS,
) -> Stars:
    """`stars_of` over the interactions up to `as_of`: each customer's employee is the one
    on most of its interactions, expansion is having an expansion kind."""
    n = len(customers.ids)
    view = _masked(interactions, interactions.at <= as_of)
    expanded = np.zeros(n)
    chosen = view.of_kinds(expansion_kinds) & (view.customer >= 0)
    expanded[view.customer[chosen]] = 1.0
    revenue = _sums(view.customer, view.revenue, np.ones(len(view), dtype=np.bool_), n)
    return stars_of(
        customers,
        primary_employee(view, n),
        view.employees,
        expanded,
        revenue,
        as_of,
        min_customers,
    )


def stars_of(
    customers: Customers,
    owner: IntArray,
    employees: Sequence[str],
    expanded: FloatArray,
    revenue: FloatArray,
    as_of: float,
    min_customers: int = 1,
) -> Stars:
    """Per employee, and per employee x type and x stage, its customers' outcomes up to
    `as_of`: retention (not lost), expansion (`expanded`: 1 or 0 per customer), revenue
    (`revenue` up to `as_of`) per month of tenure; shrunk toward the mean so that a few
    customers cannot make a star. `owner` indexes `employees` per customer (-1: none)."""
    n = len(customers.ids)
    has = (owner >= 0) & (customers.started_at <= as_of)
    retained = (~(customers.lost & (customers.ended_at <= as_of))).astype(np.float64)
    ends = np.where(customers.lost, np.minimum(customers.ended_at, as_of), as_of)
    months = np.maximum((ends - customers.started_at) / MONTH, 1.0)
    per_month = revenue / months
    m = max(len(employees), 1)

    def cells(groups: Sequence[str] | None) -> list[StarCell]:
        if groups is None:
            names: tuple[str, ...] = ("",)
            group = np.zeros(n, dtype=np.int64)
        else:
            group, names = _coded(groups)
        g = len(names)
        use = has & (group >= 0)
        key = owner[use] * g + group[use]
        size = m * g
        count = np.bincount(key, minlength=size).astype(np.float64)
        kept = _weighted_counts(key, retained[use], size)
        grew = _weighted_counts(key, expanded[use], size)
        money = _weighted_counts(key, per_month[use], size)
        money2 = _weighted_counts(key, per_month[use] ** 2, size)
        a, b = _beta_prior(kept, count)
        ea, eb = _beta_prior(grew, count)
        raw_money, shrunk_money, _ = _normal_shrink(money, money2, count)
        cells = np.flatnonzero(count >= max(min_customers, 1))
        pa = kept[cells] + a
        pb = count[cells] - kept[cells] + b
        # The beta quantiles through scipy.special (loaded for the retention fit anyway), not
        # scipy.stats.beta.ppf: that import alone held 27 MB of every scoring process.
        lows = np.atleast_1d(np.asarray(betaincinv(pa, pb, 0.025), dtype=np.float64))
        highs = np.atleast_1d(np.asarray(betaincinv(pa, pb, 0.975), dtype=np.float64))
        found = [
            StarCell(
                employees[int(k) // g],
                names[int(k) % g],
                int(count[k]),
                int(kept[k]),
                float(kept[k] / count[k]),
                float(pa[x] / (pa[x] + pb[x])),
                Interval(float(lows[x]), float(highs[x])),
                int(grew[k]),
                float((grew[k] + ea) / (count[k] + ea + eb)),
                float(raw_money[k]),
                float(shrunk_money[k]),
            )
            for x, k in enumerate(cells)
        ]
        found.sort(key=lambda s: (-s.retention, -s.revenue_per_month, s.employee, s.group))
        return found

    chosen_customers = has
    total = int(chosen_customers.sum())
    return Stars(
        employees=cells(None),
        by_type=cells(customers.relationship_type),
        by_stage=cells(customers.stage),
        mean_retention=float(retained[chosen_customers].sum() / total) if total else 0.0,
        mean_expansion=float(expanded[chosen_customers].sum() / total) if total else 0.0,
        mean_revenue_per_month=float(per_month[chosen_customers].mean()) if total else 0.0,
    )


def _masked(interactions: Interactions, mask: BoolArray) -> Interactions:
    return Interactions(
        customer=interactions.customer[mask],
        at=interactions.at[mask],
        kind=interactions.kind[mask],
        kinds=interactions.kinds,
        channel=interactions.channel[mask],
        channels=interactions.channels,
        inbound=interactions.inbound[mask],
        revenue=interactions.revenue[mask],
        refund=interactions.refund[mask],
        cost=interactions.cost[mask],
        employee=interactions.employee[mask],
        employees=interactions.employees,
        issue=interactions.issue[mask],
        issues=interactions.issues,
    )


# -- 5. engagement and sales -----------------------------------------------------------------


@dataclass(frozen=True)
class LagCorrelation:
    lag_months: int
    pairs: int  # customer-months paired
    correlation: float
    interval: Interval  # Fisher's z with a customer-clustered standard error, 95%
    revenue_per_engagement: float  # the slope: later revenue per extra engagement


@dataclass(frozen=True)
class ChannelEngagement:
    channel: str
    engagements: int
    customers: int
    lags: list[LagCorrelation]
    best_lag_months: int
    leads_revenue: bool  # the best lag's interval lies above 0


@dataclass(frozen=True)
class EngagementSales:
    months: int
    customers: int
    channels: list[ChannelEngagement]


def check_engagement(months: int, max_lag: int) -> None:
    if not 4 <= months <= 120:
        raise InvalidAnalysis("months must be 4 to 120")
    if not 0 <= max_lag <= min(12, months - 2):
        raise InvalidAnalysis(f"max_lag must be 0 to {min(12, months - 2)}")


def month_of(at: FloatArray, start: float, months: int) -> IntArray:
    """The 30-day month (0..months-1) after `start` each moment falls in."""
    return np.clip(((at - start) // MONTH).astype(np.int64), 0, months - 1)


def engagement_sales(
    interactions: Interactions,
    customers: Customers,
    as_of: float,
    months: int = 24,
    max_lag: int = 3,
) -> EngagementSales:
    """`engagement_of` over the interactions: engagement is a customer's inbound
    interactions on a channel that carry no revenue and are no purchase-like kind."""
    check_engagement(months, max_lag)
    start = as_of - months * MONTH
    inside = (interactions.at > start) & (interactions.at <= as_of) & (interactions.customer >= 0)
    month = month_of(interactions.at, start, months)
    money = inside & (interactions.revenue != 0)
    engaging = (
        inside
        & interactions.inbound
        & (interactions.revenue == 0)
        & ~np.isin(interactions.kind, interactions.kind_codes(REVENUE_KINDS))
    )
    return engagement_of(
        customers,
        as_of,
        months,
        max_lag,
        (interactions.customer[money], month[money], interactions.revenue[money]),
        (
            interactions.customer[engaging],
            interactions.channel[engaging],
            month[engaging],
            np.ones(int(engaging.sum())),
        ),
        interactions.channels,
    )


def engagement_of(
    customers: Customers,
    as_of: float,
    months: int,
    max_lag: int,
    revenue_cells: tuple[IntArray, IntArray, FloatArray],
    engagement_cells: tuple[IntArray, IntArray, IntArray, FloatArray],
    channels: Sequence[str],
) -> EngagementSales:
    """Per channel, the within-customer correlation of a month's engagement with revenue
    `lag` months later (0..max_lag), over 30-day months ending at `as_of`. Each customer's
    own mean is taken out, so that big customers engaging more and buying more is not read
    as a lead. The interval is Fisher's z with a customer-clustered (sandwich) standard
    error: a customer's months are not independent of one another.

    `revenue_cells` are (customer, month, amount) and `engagement_cells` (customer, channel,
    month, count), customers indexing `customers.ids`, channels `channels`, months 0 to
    months - 1 (`month_of`); cells may repeat (they are summed)."""
    check_engagement(months, max_lag)
    n = len(customers.ids)
    start = as_of - months * MONTH
    rc, rm, amount = revenue_cells
    revenue = _weighted_counts(rc * months + rm, amount, n * months).reshape(n, months)
    # A customer's months count from the first whole month after its first interaction (a
    # partial month has less of everything), up to its end; a lost customer's last
    # DRIFT_MONTHS are left out: its engagement and revenue fall together as it drifts
    # away, whichever leads.
    first_month = np.ceil((customers.started_at - start) / MONTH)
    end_at = np.where(
        customers.lost, np.minimum(customers.ended_at - DRIFT_MONTHS * MONTH, as_of), as_of
    )
    last_month = np.floor((end_at - start) / MONTH)
    grid = np.arange(months)
    active = (grid[None, :] >= first_month[:, None]) & (grid[None, :] <= last_month[:, None])
    ec, ech, em, count = engagement_cells
    # The revenue side of each lag is the same for every channel: computed once.
    pairings = [_RevenuePairing.of(revenue, active, lag) for lag in range(max_lag + 1)]
    found = []
    for j, name in enumerate(channels):
        mine = ech == j
        if not mine.any():
            continue
        engagement = _weighted_counts(ec[mine] * months + em[mine], count[mine], n * months)
        lags = [pairing.lagged(engagement.reshape(n, months)) for pairing in pairings]
        best = max(lags, key=lambda x: (x.correlation, -x.lag_months))
        found.append(
            ChannelEngagement(
                name,
                int(count[mine].sum()),
                int(np.count_nonzero(np.bincount(ec[mine], minlength=n))),
                lags,
                best.lag_months,
                best.interval.low > 0,
            )
        )
    found.sort(key=lambda ch: ch.channel)
    return EngagementSales(months, n, found)


@dataclass(frozen=True)
class _RevenuePairing:
    """For one lag: which customer-months pair an engagement month with the revenue month
    `lag` later (both active), the customers with two pairs or more, and their revenue
    taken from its own mean (dy) with its sum of squares (c)."""

    lag: int
    both: BoolArray  # (customers used, months - lag)
    used: BoolArray  # (customers,)
    count: FloatArray  # pairs per used customer
    dy: FloatArray  # revenue minus the customer's mean, 0 where not paired
    c: FloatArray  # per used customer: sum of dy squared

    @classmethod
    def of(cls, revenue: FloatArray, active: BoolArray, lag: int) -> _RevenuePairing:
        months = revenue.shape[1]
        both = active[:, : months - lag] & active[:, lag:]
        count = both.sum(axis=1).astype(np.float64)
        used = count >= 2
        both, count = both[used], count[used]
        y = revenue[used, lag:]
        ym = (y * both).sum(axis=1) / count
        dy = (y - ym[:, None]) * both
        return cls(lag, both, used, count, dy, (dy * dy).sum(axis=1))

    def lagged(self, engagement: FloatArray) -> LagCorrelation:
        """The correlation of `engagement` (customers x months) with revenue `lag` months
        later. With dy centred over the pairs, sum(dx dy) = sum(x dy) and sum(dx dx) =
        sum(x x) - count xm^2: two products per channel instead of the full centring."""
        months = engagement.shape[1]
        x = engagement[self.used, : months - self.lag] * self.both
        sx = x.sum(axis=1)
        a = np.einsum("ij,ij->i", x, self.dy)
        xx = np.einsum("ij,ij->i", x, x)
        b = np.maximum(xx - sx * sx / self.count, 0.0)
        c = self.c
        pairs = int(self.count.sum())
        sa, sb, sc = float(a.sum()), float(b.sum()), float(c.sum())
        if sb <= 1e-12 * max(float(xx.sum()), 1.0) or sc <= 0 or a.size < 3:
            return LagCorrelation(self.lag, pairs, 0.0, Interval(0.0, 0.0), 0.0)
        r = sa / math.sqrt(sb * sc)
        # r = A / sqrt(B C) over sums of per-customer terms: its influence per customer, and
        # the variance of r from their spread (the delta method, clustered by customer).
        influence = a / math.sqrt(sb * sc) - r / 2 * (b / sb + c / sc)
        k = a.size
        se = math.sqrt(float(np.var(influence, ddof=1)) * k)
        z = math.atanh(max(min(r, 0.999999), -0.999999))
        se_z = se / max(1 - r * r, 1e-12)
        interval = Interval(math.tanh(z - Z95 * se_z), math.tanh(z + Z95 * se_z))
        return LagCorrelation(self.lag, pairs, r, interval, sa / sb)


# -- 6. return on relationship ---------------------------------------------------------------

# The value (in the tenant's currency) each source of Return on Relationship adds.
DEFAULT_ROR_WEIGHTS: dict[str, float] = {
    "tenure_year": 100.0,  # loyalty: each year the relationship has lasted
    "renewal": 200.0,  # loyalty: each renewal
    "referral": 500.0,  # recommendation: each referral
    "review": 150.0,  # recommendation: each favourable review (sentiment unknown: counted)
    "co_marketing": 400.0,  # sharing: a joint case study, webinar
    "share": 20.0,  # sharing: social shares and mentions
    "mention": 20.0,
    "community": 30.0,  # sharing: posts, answers, community events
}
_COMMUNITY_KINDS = ("post", "answer", "event_attended")
ROR_KINDS = (
    "renewal",
    "referral",
    "review",
    "co_marketing",
    "share",
    "mention",
    *_COMMUNITY_KINDS,
)


def ror_weights(given: Mapping[str, float] | None) -> dict[str, float]:
    """The default weights with the tenant's on top; unknown names or negative values are
    refused, each named."""
    weights = dict(DEFAULT_ROR_WEIGHTS)
    problems = []
    for name, value in (given or {}).items():
        if name not in weights:
            problems.append(f"unknown weight {name!r} (known: {', '.join(sorted(weights))})")
        elif not math.isfinite(value) or value < 0:
            problems.append(f"weight {name!r} must be a finite number >= 0")
        else:
            weights[name] = float(value)
    if problems:
        raise InvalidAnalysis("; ".join(problems))
    return weights


@dataclass(frozen=True)
class ReturnOnRelationship:
    """Value over the period: revenue beside loyalty, recommendations and sharing."""

    group: str  # a relationship type, or "" for the whole tenant
    customers: int
    revenue: float
    loyalty: float
    recommendations: float
    sharing: float
    total: float
    per_customer: float
    beyond_revenue_share: float  # (loyalty + recommendations + sharing) / total


@dataclass(frozen=True)
class CustomerReturn:
    customer_id: str
    relationship_type: str
    revenue: float
    loyalty: float
    recommendations: float
    sharing: float
    total: float


@dataclass(frozen=True)
class ReturnOnRelationships:
    weights: dict[str, float]
    period_start: float
    tenant: ReturnOnRelationship
    by_type: list[ReturnOnRelationship]
    top: list[CustomerReturn] = field(default_factory=list)


def return_on_relationship(
    interactions: Interactions,
    customers: Customers,
    as_of: float,
    weights: Mapping[str, float] | None = None,
    days: int = 365,
    limit: int = 20,
) -> ReturnOnRelationships:
    """`return_on_relationship_of` over the interactions in the `days` before `as_of`."""
    check_ror(days, limit)
    n = len(customers.ids)
    start = as_of - days * DAY
    inside = (interactions.at > start) & (interactions.at <= as_of)
    counts = {
        kind: _sums(
            interactions.customer,
            np.ones(len(interactions)),
            inside & interactions.of_kinds([kind]),
            n,
        )
        for kind in ROR_KINDS
    }
    revenue = _sums(interactions.customer, interactions.revenue - interactions.refund, inside, n)
    return return_on_relationship_of(customers, as_of, revenue, counts, weights, days, limit)


def check_ror(days: int, limit: int) -> None:
    if not 30 <= days <= 3650:
        raise InvalidAnalysis("days must be 30 to 3650")
    if not 0 <= limit <= 1000:
        raise InvalidAnalysis("limit must be 0 to 1000")


def return_on_relationship_of(
    customers: Customers,
    as_of: float,
    revenue: FloatArray,
    counts: Mapping[str, FloatArray],
    weights: Mapping[str, float] | None = None,
    days: int = 365,
    limit: int = 20,
) -> ReturnOnRelationships:
    """Return on Relationship over the `days` before `as_of`, per customer and per type:
    revenue (net of refunds, per customer), loyalty (tenure years in the period,
    renewals), recommendations (referrals, reviews) and sharing (co-marketing, shares,
    mentions, community), each count (`counts` per kind of ROR_KINDS, per customer; a
    missing kind counts 0) valued by `weights` (defaults in DEFAULT_ROR_WEIGHTS)."""
    check_ror(days, limit)
    w = ror_weights(weights)
    n = len(customers.ids)
    start = as_of - days * DAY
    zero = np.zeros(n)

    def count(kinds: Sequence[str]) -> FloatArray:
        return sum((counts.get(k, zero) for k in kinds), start=zero.copy())

    end = np.where(customers.lost, np.minimum(customers.ended_at, as_of), as_of)
    tenure = np.clip(end - np.maximum(customers.started_at, start), 0.0, None) / YEAR
    loyalty = tenure * w["tenure_year"] + count(["renewal"]) * w["renewal"]
    recommendations = count(["referral"]) * w["referral"] + count(["review"]) * w["review"]
    sharing = (
        count(["co_marketing"]) * w["co_marketing"]
        + count(["share"]) * w["share"]
        + count(["mention"]) * w["mention"]
        + count(_COMMUNITY_KINDS) * w["community"]
    )
    total = revenue + loyalty + recommendations + sharing
    alive = customers.started_at <= as_of

    def summary(group: str, mask: BoolArray) -> ReturnOnRelationship:
        k = int(mask.sum())
        t = float(total[mask].sum())
        beyond = float(loyalty[mask].sum() + recommendations[mask].sum() + sharing[mask].sum())
        return ReturnOnRelationship(
            group,
            k,
            float(revenue[mask].sum()),
            float(loyalty[mask].sum()),
            float(recommendations[mask].sum()),
            float(sharing[mask].sum()),
            t,
            t / k if k else 0.0,
            beyond / t if t else 0.0,
        )

    types = np.asarray(customers.relationship_type, dtype=object)
    by_type = [summary(t, alive & (types == t)) for t in sorted(set(types[alive]) - {""})]
    order = np.argsort(-np.where(alive, total, -np.inf), kind="stable")[
        : min(limit, int(alive.sum()))
    ]
    top = [
        CustomerReturn(
            customers.ids[i],
            customers.relationship_type[i],
            float(revenue[i]),
            float(loyalty[i]),
            float(recommendations[i]),
            float(sharing[i]),
            float(total[i]),
        )
        for i in order
    ]
    return ReturnOnRelationships(w, start, summary("", alive), by_type, top)
