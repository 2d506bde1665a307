"""Scoring's analysis use cases: load a tenant's columns through the repository in one read,
run a lens of scoring.analysis over them, and answer with the moment analysed."""

from __future__ import annotations

import asyncio
import functools
import gc
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, ParamSpec, TypeVar

import numpy as np

from relint.db import Database, utcnow
from relint.taxonomy import CHANNELS, COMING_APART
from relint.values import EARLIEST_MOMENT
from scoring import analysis, lookalikes
from scoring.analysis import InvalidAnalysis
from scoring.lookalikes import CustomerProfile, Lookalike
from scoring.repository import ScoringRepository

# The last of Knapp's stages: a customer there is lost, from the moment it entered it.
TERMINATING = COMING_APART[-1]
DEFAULT_SINCE = timedelta(days=90)
MONEY_WINDOW = timedelta(days=365)
MAX_VALUE_MAP = 5000
DEFAULT_VALUE_MAP = 500
# Below this many interactions a lens runs on the event loop; above, in a thread, so that a
# million-row analysis does not stall the service's other requests.
INLINE_ROWS = 20_000
OPENED, RESOLVED = "ticket_opened", "ticket_resolved"
# Lookalikes: profiles over the year before the moment, and the kinds they compare.
PROFILE_WINDOW = timedelta(days=365)
PROFILE_KINDS = ("renewal", "upsell", "review", "co_marketing", "complaint", "discount_requested")
MAX_REFERENCES = 1000

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")

# Lenses running now, and whether the cycle collector was on when the first began.
_running = 0
_collector_was_on = True


def _without_cycle_collection(
    lens: Callable[P, Awaitable[R]],
) -> Callable[P, Awaitable[R]]:
    """Runs a lens with Python's cycle collector paused: a lens makes millions of small
    objects (rows, tuples, floats) and none of them in cycles, and the collector, set off
    by every 700 allocations, walked the growing heap again and again (a lookalikes
    profile build took 1.0 s with it, 0.55 s without). It resumes when the last lens
    running ends; the counter is only touched on the event loop's thread."""

    @functools.wraps(lens)
    async def paused(*args: P.args, **kwargs: P.kwargs) -> R:
        global _running, _collector_was_on
        if _running == 0:
            _collector_was_on = gc.isenabled()
            gc.disable()
        _running += 1
        try:
            return await lens(*args, **kwargs)
        finally:
            _running -= 1
            if _running == 0 and _collector_was_on:
                gc.enable()

    return paused


@dataclass(frozen=True)
class Analysis(Generic[T]):
    """A lens's answer at `as_of`: how many customers and rows it read, and its result."""

    as_of: datetime
    customers: int
    rows: int
    result: T


@dataclass(frozen=True)
class PortfolioAnalysis:
    since: datetime
    window_start: datetime
    portfolio: analysis.Portfolio


def _seconds(at: datetime) -> float:
    return at.timestamp()


def _require_tenant(tenant_id: str) -> None:
    if not tenant_id:
        raise InvalidAnalysis("tenant_id is required")
    if len(tenant_id) > 36:
        raise InvalidAnalysis("tenant_id is at most 36 characters")


def _moment(as_of: datetime | None) -> datetime:
    if as_of is None:
        return utcnow()
    if as_of.tzinfo is None:
        raise InvalidAnalysis("as_of needs a time zone")
    if as_of < EARLIEST_MOMENT:  # a lens's window before it would fall off the calendar
        raise InvalidAnalysis("as_of must be 1970-01-01 or later: nothing is recorded before")
    return as_of.astimezone(UTC)


class AnalysisService:
    def __init__(self, db: Database) -> None:
        self.db = db

    # Loading

    async def _customers(
        self, repo: ScoringRepository, tenant_id: str, as_of: datetime, current: bool
    ) -> analysis.Customers:
        """The tenant's customers at `as_of`: as they stand when `current` (now), else from
        their first interaction and the type and stage history up to then. A customer is
        lost when its stage is "terminating", since it entered that stage."""
        rows = await repo.analysis_customers(tenant_id)
        # A customer counts from its first interaction (the relationship keeps the earliest).
        rows = [r for r in rows if r[4] is not None and r[4] <= _seconds(as_of)]
        ids = tuple(str(r[0]) for r in rows)
        started = np.asarray([float(r[4]) for r in rows], dtype=np.float64)
        if current:
            types = tuple(str(r[1] or "") for r in rows)
            stages = [(str(r[2] or ""), r[3]) for r in rows]
        else:
            type_of = {c: v for c, v, _ in await repo.analysis_states(tenant_id, "type", as_of)}
            stage_of = {
                c: (v, w) for c, v, w in await repo.analysis_states(tenant_id, "stage", as_of)
            }
            types = tuple(type_of.get(c, "") for c in ids)
            stages = [stage_of.get(c, ("", None)) for c in ids]
        ended = np.asarray(
            [
                float(since) if stage == TERMINATING and since is not None else math.nan
                for stage, since in stages
            ],
            dtype=np.float64,
        )
        return analysis.Customers(ids, types, tuple(s for s, _ in stages), started, ended)

    async def _load(
        self,
        tenant_id: str,
        as_of: datetime | None,
        since: timedelta | None = None,
        kinds: Sequence[str] | None = None,
        lost_too: bool = False,
    ) -> tuple[datetime, analysis.Customers, analysis.Interactions]:
        """One read: the customers at the moment and their interactions up to it (see
        `ScoringRepository.analysis_rows` for `since`, `kinds` and `lost_too`)."""
        _require_tenant(tenant_id)
        moment = _moment(as_of)
        async with self.db.read_transaction() as session:
            repo = ScoringRepository(session)
            await repo.prepare_analysis()
            customers = await self._customers(repo, tenant_id, moment, as_of is None)
            rows = await repo.analysis_rows(
                tenant_id,
                moment,
                moment - since if since is not None else None,
                kinds,
                lost_too,
            )
        columns = await _run(len(rows), analysis.interactions_from_rows, rows, customers)
        return moment, customers, columns

    # Lenses

    @_without_cycle_collection
    async def portfolio(
        self,
        tenant_id: str,
        as_of: datetime | None = None,
        since: datetime | None = None,
        limit: int = DEFAULT_VALUE_MAP,
    ) -> Analysis[PortfolioAnalysis]:
        """The mix of types now and since `since` (90 days before by default), the Pareto
        curve and the economics per type over the trailing 12 months, the stage mix and the
        value map (the top `limit` customers by revenue)."""
        _require_tenant(tenant_id)
        if not 1 <= limit <= MAX_VALUE_MAP:
            raise InvalidAnalysis(f"limit must be 1 to {MAX_VALUE_MAP}")
        moment = _moment(as_of)
        start = _moment(since) if since is not None else moment - DEFAULT_SINCE
        if start >= moment:
            raise InvalidAnalysis("since must be before as_of")
        window_start = moment - MONEY_WINDOW
        async with self.db.read_transaction() as session:
            repo = ScoringRepository(session)
            await repo.prepare_analysis()
            customers = await self._customers(repo, tenant_id, moment, as_of is None)
            before = {c: v for c, v, _ in await repo.analysis_states(tenant_id, "type", start)}
            money = await repo.analysis_money(tenant_id, window_start, moment)
        position = customers.position()
        n = len(customers.ids)
        revenue, cost, refund = np.zeros(n), np.zeros(n), np.zeros(n)
        for customer_id, r, k, f in money:
            i = position.get(customer_id)
            if i is not None:
                revenue[i], cost[i], refund[i] = r, k, f
        result = analysis.portfolio(
            customers,
            [before.get(c, "") for c in customers.ids],
            revenue,
            cost,
            refund,
            limit=limit,
        )
        return Analysis(moment, n, len(money), PortfolioAnalysis(start, window_start, result))

    @_without_cycle_collection
    async def service_impact(
        self,
        tenant_id: str,
        as_of: datetime | None = None,
        window_days: int = 60,
        expansion_kinds: Sequence[str] = (),
    ) -> Analysis[analysis.ServiceImpact]:
        _check_range("window_days", window_days, 1, 365)
        kinds = _kinds(expansion_kinds) or analysis.EXPANSION_KINDS
        moment, customers, columns = await self._load(
            tenant_id, as_of, kinds=(OPENED, RESOLVED, *kinds)
        )
        result = await _run(
            len(columns),
            analysis.service_impact,
            columns,
            customers,
            _seconds(moment),
            window_days,
            kinds,
            OPENED,
            RESOLVED,
        )
        return Analysis(moment, len(customers.ids), len(columns), result)

    @_without_cycle_collection
    async def journey_endings(
        self, tenant_id: str, as_of: datetime | None = None, window_days: int = 56
    ) -> Analysis[analysis.JourneyEndings]:
        _check_range("window_days", window_days, 7, 365)
        moment, customers, columns = await self._load(
            tenant_id, as_of, since=timedelta(days=window_days), lost_too=True
        )
        result = await _run(
            len(columns),
            analysis.journey_endings,
            columns,
            customers,
            _seconds(moment),
            window_days,
        )
        return Analysis(moment, len(customers.ids), len(columns), result)

    @_without_cycle_collection
    async def stars(
        self,
        tenant_id: str,
        as_of: datetime | None = None,
        min_customers: int = 1,
        expansion_kinds: Sequence[str] = (),
    ) -> Analysis[analysis.Stars]:
        """Each customer's employee (the one on most of its interactions; a tie goes to the
        first name in order), its expansion and revenue up to the moment, from one
        aggregate per customer and employee in SQL."""
        _check_range("min_customers", min_customers, 1, 1000)
        kinds = _kinds(expansion_kinds) or analysis.EXPANSION_KINDS
        _require_tenant(tenant_id)
        moment = _moment(as_of)
        async with self.db.read_transaction() as session:
            repo = ScoringRepository(session)
            await repo.prepare_analysis()
            customers = await self._customers(repo, tenant_id, moment, as_of is None)
            cells = await repo.analysis_employee_cells(tenant_id, moment, kinds)
        n = len(customers.ids)
        customer, employee, count, revenue, grew = analysis.columns_of(cells, 5)
        known = analysis.positions_of(customers.position(), customer)
        mine = known >= 0
        revenue_of = np.bincount(
            known[mine], weights=np.asarray(revenue, dtype=np.float64)[mine], minlength=n
        )
        expanded = (
            np.bincount(known[mine], weights=np.asarray(grew, dtype=np.float64)[mine], minlength=n)
            > 0
        ).astype(np.float64)
        owner, names = _owners(known, employee, np.asarray(count, dtype=np.int64), n)
        result = await _run(
            len(cells),
            analysis.stars_of,
            customers,
            owner,
            names,
            expanded,
            revenue_of,
            _seconds(moment),
            min_customers,
        )
        return Analysis(moment, n, len(cells), result)

    @_without_cycle_collection
    async def engagement_sales(
        self, tenant_id: str, as_of: datetime | None = None, months: int = 24, max_lag: int = 3
    ) -> Analysis[analysis.EngagementSales]:
        """Revenue per customer and month, and engagement per customer, channel and month,
        aggregated in SQL over the `months` 30-day months before the moment."""
        analysis.check_engagement(months, max_lag)
        _require_tenant(tenant_id)
        moment = _moment(as_of)
        start = moment - timedelta(seconds=months * analysis.MONTH)
        async with self.db.read_transaction() as session:
            repo = ScoringRepository(session)
            await repo.prepare_analysis()
            customers = await self._customers(repo, tenant_id, moment, as_of is None)
            cells = await repo.analysis_monthly(
                tenant_id, start, moment, analysis.MONTH, sorted(analysis.REVENUE_KINDS)
            )
        customer, channel, month, revenue, engaged = analysis.columns_of(cells, 5)
        known = analysis.positions_of(customers.position(), customer)
        month_of = np.clip(np.asarray(month, dtype=np.int64), 0, months - 1)
        amount = np.asarray(revenue, dtype=np.float64)
        count = np.asarray(engaged, dtype=np.float64)
        paid, engaging = (known >= 0) & (amount != 0), (known >= 0) & (count > 0)
        channels: dict[str, int] = {}
        channel_of = np.asarray([channels.setdefault(c, len(channels)) for c in channel])
        revenue_cells = (known[paid], month_of[paid], amount[paid])
        engagement_cells = (
            known[engaging],
            channel_of.astype(np.int64)[engaging],
            month_of[engaging],
            count[engaging],
        )
        result = await _run(
            len(cells),
            analysis.engagement_of,
            customers,
            _seconds(moment),
            months,
            max_lag,
            revenue_cells,
            engagement_cells,
            tuple(channels),
        )
        return Analysis(moment, len(customers.ids), len(cells), result)

    @_without_cycle_collection
    async def return_on_relationship(
        self,
        tenant_id: str,
        as_of: datetime | None = None,
        weights: Mapping[str, float] | None = None,
        days: int = 365,
        limit: int = 20,
    ) -> Analysis[analysis.ReturnOnRelationships]:
        """Net revenue per customer and the counts of the kinds that make Return on
        Relationship, aggregated in SQL over the `days` before the moment."""
        analysis.check_ror(days, limit)
        analysis.ror_weights(weights)  # refuse bad weights before reading anything
        _require_tenant(tenant_id)
        moment = _moment(as_of)
        start = moment - timedelta(days=days)
        async with self.db.read_transaction() as session:
            repo = ScoringRepository(session)
            await repo.prepare_analysis()
            customers = await self._customers(repo, tenant_id, moment, as_of is None)
            money = await repo.analysis_money(tenant_id, start, moment)
            counted = await repo.analysis_kind_counts(tenant_id, analysis.ROR_KINDS, moment, start)
        n = len(customers.ids)
        position = customers.position()
        revenue = _per_customer(position, n, [(c, r - f) for c, r, _, f in money])
        counts = {
            kind: _per_customer(position, n, [(c, float(k)) for c, kd, k in counted if kd == kind])
            for kind in analysis.ROR_KINDS
        }
        result = analysis.return_on_relationship_of(
            customers, _seconds(moment), revenue, counts, weights, days, limit
        )
        return Analysis(moment, n, len(money) + len(counted), result)

    @_without_cycle_collection
    async def lookalikes(
        self,
        tenant_id: str,
        customer_ids: Sequence[str],
        as_of: datetime | None = None,
        limit: int = 10,
        text_weight: float = 0.4,
    ) -> Analysis[list[Lookalike]]:
        """The customers most like `customer_ids` (one, or a set through its centroid) by
        behaviour and own words over the year before the moment (scoring.lookalikes)."""
        _check_lookalikes(tenant_id, customer_ids, limit, text_weight)
        moment, profiles, rows = await self._profiles(tenant_id, as_of)
        known = {p.customer_id for p in profiles}
        unknown = [c for c in customer_ids if c not in known]
        if unknown:
            raise InvalidAnalysis(
                f"customer_ids: {len(unknown)} unknown to the tenant at as_of: "
                + ", ".join(unknown[:5])
            )
        try:
            found = await _run(
                len(profiles) * 20,
                lookalikes.similar_customers,
                profiles,
                list(customer_ids),
                limit,
                text_weight,
            )
        except ValueError as error:
            raise InvalidAnalysis(str(error)) from error
        return Analysis(moment, len(profiles), rows, found)

    @_without_cycle_collection
    async def lookalikes_each(
        self,
        tenant_id: str,
        customer_ids: Sequence[str],
        as_of: datetime | None = None,
        limit: int = 10,
        text_weight: float = 0.4,
    ) -> Analysis[list[list[Lookalike]]]:
        """Each customer's own lookalikes, in the order asked, from profiles built once; a
        customer without a profile at the moment has none."""
        _check_lookalikes(tenant_id, customer_ids, limit, text_weight)
        moment, profiles, rows = await self._profiles(tenant_id, as_of)
        known = {p.customer_id for p in profiles}

        def each() -> list[list[Lookalike]]:
            return [
                lookalikes.similar_customers(profiles, [c], limit, text_weight)
                if c in known
                else []
                for c in customer_ids
            ]

        found = await _run(len(profiles) * 20 * len(customer_ids), each)
        return Analysis(moment, len(profiles), rows, found)

    async def _profiles(
        self, tenant_id: str, as_of: datetime | None
    ) -> tuple[datetime, list[CustomerProfile], int]:
        """The tenant's customers' profiles over the year before the moment, from SQL
        aggregates: interactions per channel, money, mean sentiment, a few telling kinds,
        tenure, and the texts of their inbound interactions; with the rows read."""
        moment = _moment(as_of)
        start = moment - PROFILE_WINDOW
        async with self.db.read_transaction() as session:
            repo = ScoringRepository(session)
            await repo.prepare_analysis()
            customers = await self._customers(repo, tenant_id, moment, as_of is None)
            cells, words = await repo.analysis_profiles(
                tenant_id, start, moment, CHANNELS, (*PROFILE_KINDS, "referral")
            )
        profiles = _profiles(customers, moment, cells, words)
        return moment, profiles, len(cells) + len(words)


def _check_lookalikes(
    tenant_id: str, customer_ids: Sequence[str], limit: int, text_weight: float
) -> None:
    _require_tenant(tenant_id)
    if not 1 <= len(customer_ids) <= MAX_REFERENCES:
        raise InvalidAnalysis(f"customer_ids: 1 to {MAX_REFERENCES} customers")
    _check_range("limit", limit, 1, lookalikes.MAX_LIMIT)
    if not (math.isfinite(text_weight) and 0 <= text_weight <= 1):
        raise InvalidAnalysis("text_weight must be 0 to 1")


def _profiles(
    customers: analysis.Customers,
    moment: datetime,
    cells: Sequence[tuple[Any, ...]],
    words: Sequence[tuple[str, str]],
) -> list[CustomerProfile]:
    """Each customer's profile from its row of `ScoringRepository.analysis_profiles` (the
    channels, then PROFILE_KINDS and referrals) and its words. A channel nobody used in the
    window is no feature."""
    n = len(customers.ids)
    counts = len(CHANNELS) + len(PROFILE_KINDS) + 1
    columns = analysis.columns_of(cells, 1 + counts + 5)
    known = analysis.positions_of(customers.position(), columns[0])
    mine = known >= 0
    at = known[mine]

    def summed(values: Sequence[float]) -> analysis.FloatArray:
        weights = np.asarray(values, dtype=np.float64)[mine]
        return np.bincount(at, weights=weights, minlength=n).astype(np.float64)

    by_channel = {
        channel: per_customer
        for channel, values in zip(CHANNELS, columns[1 : 1 + len(CHANNELS)], strict=True)
        if (per_customer := summed(values)).any()
    }
    kinds = dict(
        zip(
            PROFILE_KINDS,
            (summed(v) for v in columns[1 + len(CHANNELS) : counts]),
            strict=True,
        )
    )
    referrals = summed(columns[counts])
    revenue, cost, refund, mood_sum, sentiments = (summed(v) for v in columns[counts + 1 :])
    mood = np.divide(mood_sum, np.maximum(sentiments, 1.0))
    tenure = np.maximum(_seconds(moment) - customers.started_at, 0.0)
    observed = np.maximum(np.minimum(tenure, PROFILE_WINDOW.total_seconds()), analysis.DAY)
    behaviours = lookalikes.behaviour_table(
        months=observed / analysis.MONTH,
        interactions_by_channel=by_channel,
        revenue=np.maximum(revenue, 0.0),
        cost_to_serve=np.maximum(cost, 0.0),
        refunds=np.maximum(refund, 0.0),
        mean_sentiment=np.clip(mood, -1.0, 1.0),
        referrals=referrals,
        tenure_days=tenure / analysis.DAY,
        kinds=kinds,
    )
    text = dict(words)
    return [
        lookalikes.CustomerProfile(customer_id, behaviour, text.get(customer_id, ""))
        for customer_id, behaviour in zip(customers.ids, behaviours, strict=True)
    ]


def _owners(
    known: analysis.IntArray, employee: Sequence[str | None], count: analysis.IntArray, n: int
) -> tuple[analysis.IntArray, tuple[str, ...]]:
    """Each customer's employee from (customer index, employee, interactions) cells: the one
    on most interactions, a tie to the first name in order (-1: none named); with the
    names the owners index, in order."""
    vocabulary = sorted({e for e in employee if e})
    rank = {name: i for i, name in enumerate(vocabulary)}
    code = np.asarray([rank[e] if e else -1 for e in employee], dtype=np.int64)
    named = (known >= 0) & (code >= 0)
    who, code, count = known[named], code[named], count[named]
    # By customer, then most interactions, then name: the first row of each customer wins.
    order = np.lexsort((code, -count, who))
    who, code = who[order], code[order]
    first = np.ones(len(who), dtype=np.bool_)
    first[1:] = who[1:] != who[:-1]
    owner = np.full(n, -1, dtype=np.int64)
    owner[who[first]] = code[first]
    used = np.unique(owner[owner >= 0])
    owner[owner >= 0] = np.searchsorted(used, owner[owner >= 0])
    return owner, tuple(vocabulary[i] for i in used)


def _per_customer(
    position: Mapping[str, int], n: int, values: Sequence[tuple[str, float]]
) -> analysis.FloatArray:
    found = np.zeros(n)
    for customer_id, value in values:
        i = position.get(customer_id)
        if i is not None:
            found[i] += value
    return found


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise InvalidAnalysis(f"{name} must be {low} to {high}")


def _kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    found = tuple(k for k in kinds if k)
    if len(found) != len(kinds) or any(len(k) > 64 for k in found):
        raise InvalidAnalysis("expansion_kinds must be non-empty kinds of at most 64 characters")
    return found


async def _run(rows: int, lens: Callable[..., R], *args: Any) -> R:
    """Runs a lens inline when small, in a thread otherwise (numpy releases the GIL for the
    heavy parts, and the loop stays free for other requests)."""
    if rows < INLINE_ROWS:
        return lens(*args)
    return await asyncio.to_thread(lens, *args)
