"""The Relationship Value: what one interaction contributes, how contributions fade, and how
a value and its change are explained. Pure rules, no I/O; every function is tested directly.

- Each interaction gets a signed contribution from the tenant's weight table: a weight per
  channel x kind (falling back to the kind alone), plus the outcome's weight when the sender
  gave one, nudged by sentiment, plus money (revenue adds, a refund takes away, both with
  diminishing returns). Bad contributions weigh `negativity` times their size: one bad
  interaction undoes the goodwill of several good ones.
- The value is the sum of contributions, each fading with a half-life: goodwill fades
  faster than grievance (by default 180 against 365 days), so trust lost recovers slowly.
- Because the value is a sum of independent terms, applying a set of interactions in any
  order gives the same value, and as-of reads need nothing but the history.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeGuard

import numpy as np

from relint.taxonomy import CHANNELS, KINDS
from relint.values import EARLIEST_MOMENT

# Default weights per canonical kind; kinds not listed are neutral (0).
KIND_WEIGHTS: dict[str, float] = {
    # goodwill and commitment
    "contract_signed": 4.0,
    "purchase": 3.0,
    "renewal": 5.0,
    "upsell": 4.0,
    "referral": 5.0,
    "co_marketing": 4.0,
    "review": 1.0,
    "business_review": 2.0,
    "demo": 1.0,
    "meeting": 1.0,
    "call": 0.5,
    "onboarding": 1.0,
    "usage_increase": 1.5,
    "ticket_resolved": 1.0,
    "complaint_resolved": 1.5,
    "check_in": 0.5,
    "survey_response": 0.5,
    "invoice_paid": 0.5,
    "email_received": 0.5,
    "post": 0.5,
    "answer": 0.5,
    "share": 0.5,
    "mention": 0.3,
    "follow": 0.2,
    "event_attended": 1.0,
    "webinar_attended": 0.5,
    "campaign_response": 0.5,
    "content_download": 0.3,
    "email_clicked": 0.3,
    "email_opened": 0.1,
    # friction and loss
    "ticket_opened": -0.5,
    "ticket_escalated": -2.0,
    "ticket_reopened": -2.0,
    "complaint": -4.0,
    "social_complaint": -4.0,
    "refund": -3.0,
    "payment_failed": -1.0,
    "invoice_overdue": -1.5,
    "unsubscribe": -2.0,
    "discount_refused": -1.5,
    "delivery_late": -2.0,
    "outage": -3.0,
    "usage_decrease": -2.0,
    "price_change": -1.0,
    "term_change": -1.0,
    "cancellation": -10.0,
    "violation": -3.0,  # a missed playbook standard (reported by the playbook service)
}

# Kinds that are our own signals about a customer, not interactions with it: they move the
# value but are not counted as interactions nor seen as contact by the stage rules. A
# violation the playbook withdrew (a late interaction showed the standard kept) arrives again
# under its id as `violation_withdrawn`: it weighs nothing, and one found again is back.
VIOLATION: Final = "violation"
VIOLATION_WITHDRAWN: Final = "violation_withdrawn"
SIGNAL_KINDS: Final = frozenset({VIOLATION, VIOLATION_WITHDRAWN})

# attributes.outcome, when a sender gives one, adds to the weight: a won deal or a resolved
# complaint counts for more than the bare event, a lost one against. The defaults; a tenant
# sets its own under `outcomes` (`WeightTable.from_config`). Other outcomes weigh nothing.
OUTCOMES: dict[str, float] = {
    "won": 2.0,
    "positive": 1.0,
    "resolved": 1.0,
    "neutral": 0.0,
    "unresolved": -1.5,
    "negative": -1.0,
    "lost": -2.0,
}

# Words for a manager, by kind; the kind's own name otherwise.
_WORDS = {
    "ticket_opened": "a ticket opened",
    "ticket_escalated": "an escalated ticket",
    "ticket_reopened": "a reopened ticket",
    "ticket_resolved": "a resolved ticket",
    "complaint_resolved": "a resolved complaint",
    "discount_refused": "a refused discount",
    "delivery_late": "a late delivery",
    "payment_failed": "a failed payment",
    "invoice_overdue": "an overdue invoice",
    "usage_decrease": "falling usage",
    "usage_increase": "rising usage",
    "price_change": "a price change",
    "term_change": "a change of terms",
    "social_complaint": "a complaint on social media",
    "business_review": "a business review",
    "contract_signed": "a signed contract",
    "co_marketing": "co-marketing",
    "violation": "a missed service standard",
    "violation_withdrawn": "a missed service standard, withdrawn",
}

DAY = 86_400.0
# Contributions are stored relative to this instant (see `ValueModel.mass`).
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def customer_codes(index: dict[str, int], customer_ids: Sequence[str]) -> np.ndarray:
    """Each customer as a small whole number (int32), new ones numbered on in `index`: the
    columns of a tenant's history hold a code, not a string, per row."""
    size = len(customer_ids)
    return np.fromiter((index.setdefault(c, len(index)) for c in customer_ids), np.int32, size)


def is_finite_number(raw: object) -> TypeGuard[float]:
    """A number a setting can hold (a weight, a type's threshold): JSON's NaN and Infinity,
    which Python's reader takes, are not, nor is a boolean."""
    if isinstance(raw, bool):
        return False
    return isinstance(raw, int) or (isinstance(raw, float) and math.isfinite(raw))


class InvalidWeights(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Touch:
    """What scoring needs of an interaction to weigh it."""

    kind: str
    sentiment: float | None = None
    revenue: float = 0.0
    channel: str = ""
    outcome: str | None = None
    refund: float = 0.0


@dataclass(frozen=True)
class Contribution:
    value: float
    reason: str


# Every kind a weight may name alone (the taxonomy's, and our own violation signal).
_WEIGHED_KINDS: Final = frozenset({k for kinds in KINDS.values() for k in kinds} | {VIOLATION})


def _weight_key_problem(key: str) -> str | None:
    """What is wrong with a weight's key (`kind` or `channel.kind`), if anything."""
    channel, _, kind = key.rpartition(".")
    if channel and channel not in CHANNELS:
        return f"unknown channel {channel!r}"
    if channel and kind not in KINDS[channel]:
        return f"{kind!r} is not a kind of {channel!r}"
    if not channel and kind not in _WEIGHED_KINDS:
        return f"unknown kind {kind!r}"
    return None


def _overrides(
    config: Mapping[str, Any],
    name: str,
    defaults: Mapping[str, float],
    keyed_by: str,
    key_problem: Callable[[str], str | None],
    problems: list[str],
) -> dict[str, float]:
    """`defaults` with the numbers `config[name]` sets, each from -100 to 100; a key
    `key_problem` refuses, or a value out of bounds, is added to `problems`, named."""
    numbers = dict(defaults)
    given = config.get(name, {})
    if not isinstance(given, Mapping):
        problems.append(f"{name}: must be an object of numbers by {keyed_by}")
        return numbers
    for key, raw in given.items():
        if (wrong := key_problem(key)) is not None:
            problems.append(f"{name}.{key}: {wrong}")
        elif not is_finite_number(raw) or abs(raw) > 100:
            problems.append(f"{name}.{key}: must be a number between -100 and 100")
        else:
            numbers[key] = float(raw)
    return numbers


@dataclass(frozen=True)
class WeightTable:
    """A tenant's weights: defaults unless it configured its own (`from_config`)."""

    weights: Mapping[str, float] = field(default_factory=lambda: dict(KIND_WEIGHTS))
    outcomes: Mapping[str, float] = field(default_factory=lambda: dict(OUTCOMES))
    sentiment_weight: float = 2.0
    revenue_weight: float = 0.5
    negativity: float = 2.0
    half_life_good_days: float = 180.0
    half_life_bad_days: float = 365.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WeightTable:
        """A table from a tenant's configuration, or InvalidWeights naming every problem.
        `weights` keys are `kind` or `channel.kind`, `outcomes` keys the known outcomes; they
        override the defaults."""
        problems: list[str] = []
        weights = _overrides(
            config, "weights", KIND_WEIGHTS, "kind or channel.kind", _weight_key_problem, problems
        )
        outcomes = _overrides(
            config,
            "outcomes",
            OUTCOMES,
            "outcome",
            lambda key: None if key in OUTCOMES else f"unknown outcome {key!r}",
            problems,
        )
        bounds = {
            "sentiment_weight": (0.0, 10.0),
            "revenue_weight": (0.0, 10.0),
            "negativity": (1.0, 10.0),
            "half_life_good_days": (30.0, 3650.0),
            "half_life_bad_days": (30.0, 3650.0),
        }
        numbers: dict[str, float] = {}
        for name, (low, high) in bounds.items():
            if name not in config:
                continue
            raw = config[name]
            if not is_finite_number(raw) or not low <= raw <= high:
                problems.append(f"{name}: must be a number from {low:g} to {high:g}")
            else:
                numbers[name] = float(raw)
        unknown = set(config) - set(bounds) - {"weights", "outcomes"}
        problems += [f"{name}: unknown setting" for name in sorted(unknown)]
        if problems:
            raise InvalidWeights(problems)
        return cls(weights=weights, outcomes=outcomes, **numbers)

    def weight(self, channel: str, kind: str) -> float:
        return self.weights.get(f"{channel}.{kind}", self.weights.get(kind, 0.0))

    def contribution(self, touch: Touch) -> Contribution:
        base = self.weight(touch.channel, touch.kind)
        parts = [words(touch.kind)]
        if touch.outcome is not None and touch.outcome in self.outcomes:
            base += self.outcomes[touch.outcome]
            parts.append(f"({touch.outcome})")
        raw = base
        if touch.sentiment is not None:
            sentiment = max(-1.0, min(1.0, touch.sentiment))
            raw += self.sentiment_weight * sentiment
            if abs(sentiment) >= 0.5:
                parts.append("with very negative words" if sentiment < 0 else "with warm words")
        if touch.revenue > 0:
            # Money counts with diminishing returns: 100 adds 1, 10,000 adds 2 (by default).
            raw += self.revenue_weight * math.log10(1 + touch.revenue)
        if touch.refund > 0:
            raw -= self.revenue_weight * math.log10(1 + touch.refund)
        value = raw * self.negativity if raw < 0 else raw
        return Contribution(round(value, 6), " ".join(parts))

    def contributions(
        self,
        channels: Sequence[str],
        kinds: Sequence[str],
        outcomes: Sequence[str | None],
        sentiments: Sequence[float | None] | np.ndarray,
        revenues: Sequence[float] | np.ndarray,
        refunds: Sequence[float] | np.ndarray,
    ) -> tuple[list[float], list[str]]:
        """`contribution` of many touches at once, given as columns: the values and reasons
        `contribution` gives each (the weights are looked up once per channel x kind, the
        reasons made once per kind, outcome and kind of words). Sentiments may be NaN for
        none given."""
        count = len(kinds)
        pair, pairs = _factorize(zip(channels, kinds, strict=True), count)
        said, named = _factorize(outcomes, count)
        base = np.array([self.weight(c, k) for c, k in pairs], dtype=float)[pair]
        raw = base + np.array([self.outcomes.get(o, 0.0) for o in named])[said]
        feeling = np.array(sentiments, dtype=float).reshape(len(kinds))
        felt = ~np.isnan(feeling)
        feeling = np.clip(np.where(felt, feeling, 0.0), -1.0, 1.0)
        raw = np.where(felt, raw + self.sentiment_weight * feeling, raw)
        revenue = np.array(revenues, dtype=float).reshape(len(kinds))
        raw = np.where(
            revenue > 0, raw + self.revenue_weight * np.log10(1 + np.maximum(revenue, 0)), raw
        )
        refund = np.array(refunds, dtype=float).reshape(len(kinds))
        raw = np.where(
            refund > 0, raw - self.revenue_weight * np.log10(1 + np.maximum(refund, 0)), raw
        )
        weighed = np.where(raw < 0, raw * self.negativity, raw).tolist()
        values = list(map(round, weighed, itertools.repeat(6)))
        # The reason: the kind's words, the outcome, then very negative or warm words.
        tone = np.where(felt & (np.abs(feeling) >= 0.5), np.where(feeling < 0, 1, 2), 0)
        kinds_of = [k for _, k in pairs]
        key = (pair * len(named) + said) * 3 + tone
        unique, inverse = np.unique(key, return_inverse=True)
        outcome_of = list(named)
        texts = []
        for k in unique.tolist():
            rest, tone_k = divmod(k, 3)
            pair_k, said_k = divmod(rest, len(named))
            parts = [words(kinds_of[pair_k])]
            if outcome_of[said_k] in self.outcomes:
                parts.append(f"({outcome_of[said_k]})")
            if tone_k:
                parts.append("with very negative words" if tone_k == 1 else "with warm words")
            texts.append(" ".join(parts))
        reasons = list(map(texts.__getitem__, inverse.reshape(-1).tolist()))
        return values, reasons

    def half_life_days(self, value: float) -> float:
        return self.half_life_bad_days if value < 0 else self.half_life_good_days


def _factorize(values: Iterable[Any], count: int) -> tuple[np.ndarray, list[Any]]:
    """Each of `count` values as the index of its distinct value, and the distinct values in
    the order they first appear (with C loops: no Python frame per value)."""
    first: dict[Any, int] = {}
    # The row where each value first appears, for every row.
    rows = np.fromiter(map(first.setdefault, values, itertools.count()), np.intp, count)
    index = np.empty(count, dtype=np.intp)
    index[np.fromiter(first.values(), np.intp, len(first))] = np.arange(len(first))
    return index[rows], list(first)


def words(kind: str) -> str:
    return _WORDS.get(kind, kind.replace("_", " "))


def contribution(touch: Touch, table: WeightTable | None = None) -> float:
    """The signed contribution with the default table (or the given one)."""
    return (table or DEFAULT_TABLE).contribution(touch).value


DEFAULT_TABLE = WeightTable()


@dataclass(frozen=True)
class Applied:
    """One applied interaction, as the value model sees it."""

    interaction_id: str
    occurred_at: datetime
    contribution: float
    reason: str = ""


def _days(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / DAY


def faded(table: WeightTable, value: float, age_days: float) -> float:
    """What is left of a contribution after `age_days` (all of it before it happened: 0)."""
    if age_days < 0:
        return 0.0
    return float(value * 0.5 ** (age_days / table.half_life_days(value)))


def value_at(table: WeightTable, history: Iterable[Applied], at: datetime) -> float:
    """The Relationship Value at `at`: every contribution up to then, each faded."""
    return math.fsum(
        faded(table, a.contribution, _days(at, a.occurred_at))
        for a in history
        if a.occurred_at <= at
    )


def mass(table: WeightTable, value: float, occurred_at: datetime) -> tuple[float, float]:
    """A contribution as (good, bad) mass at EPOCH: the value at any later time t is
    good * 2^(-(t-EPOCH)/h_good) + bad * 2^(-(t-EPOCH)/h_bad). Masses add, so the current
    value is kept per customer with two sums whatever the order of arrival."""
    half_life = table.half_life_days(value)
    scaled = value * 2.0 ** (_days(occurred_at, EPOCH) / half_life)
    return (0.0, scaled) if value < 0 else (scaled, 0.0)


def masses_after(
    table: WeightTable, history: Sequence[tuple[datetime, float]]
) -> list[tuple[float, float]]:
    """The good and bad sums just after each contribution of a time-ordered history, in one
    pass: each fades with its own half-life between contributions."""
    masses: list[tuple[float, float]] = []
    good = bad = 0.0
    previous: datetime | None = None
    for at, contribution in history:
        if previous is not None:
            days = _days(at, previous)
            good = faded(table, good, days) if good > 0 else 0.0
            bad = faded(table, bad, days) if bad < 0 else 0.0
        if contribution < 0:
            bad += contribution
        else:
            good += contribution
        previous = at
        masses.append((good, bad))
    return masses


def value_then(
    table: WeightTable,
    moments: Sequence[datetime],
    masses: Sequence[tuple[float, float]],
    at: datetime,
) -> float:
    """The value at `at` from a history's moments and `masses_after` them: the sums after
    the last contribution by then, faded to `at` (equal to `value_at` but for rounding)."""
    last = bisect_right(moments, at) - 1
    if last < 0:
        return 0.0
    good, bad = masses[last]
    days = _days(at, moments[last])
    return faded(table, good, days) + faded(table, bad, days)


def value_from_mass(table: WeightTable, good: float, bad: float, at: datetime) -> float:
    age = _days(at, EPOCH)
    good_left: float = 2.0 ** (-age / table.half_life_good_days)
    bad_left: float = 2.0 ** (-age / table.half_life_bad_days)
    return good * good_left + bad * bad_left


# The trend is the value's change over the last TREND_DAYS.
TREND_DAYS = 30


def value_before(
    table: WeightTable, good: float, bad: float, later: Iterable[Applied], at: datetime
) -> float:
    """The value at `at` from the customer's masses (every contribution it has) less the
    masses of `later`, its contributions after `at`: a past value without its whole history."""
    for applied in later:
        if applied.occurred_at > at:
            good_part, bad_part = mass(table, applied.contribution, applied.occurred_at)
            good -= good_part
            bad -= bad_part
    return value_from_mass(table, good, bad, at)


@dataclass(frozen=True)
class Driver:
    """One interaction's share of a change: what it was, when, and how much it moved."""

    interaction_id: str
    occurred_at: datetime
    reason: str
    effect: float


@dataclass(frozen=True)
class Explanation:
    start: float
    end: float
    drivers: list[Driver]
    fading: float

    @property
    def change(self) -> float:
        return self.end - self.start

    def sentence(self) -> str:
        """In words a manager understands: "It fell 18.2 points: a complaint on 3 Mar
        (-8.1), an escalated ticket on 5 Mar (-3.9); older goodwill faded (-2.0)."""
        if abs(self.change) < 0.05:
            return "It held steady."
        verb = "rose" if self.change > 0 else "fell"
        items = [
            f"{d.reason} on {d.occurred_at:%-d %b %Y} ({d.effect:+.1f})"
            for d in self.drivers
            if abs(d.effect) >= 0.05
        ]
        text = f"It {verb} {abs(self.change):.1f} points"
        if items:
            text += ": " + ", ".join(items)
        if abs(self.fading) >= 0.05:
            what = "older goodwill faded" if self.fading < 0 else "older grievances faded"
            text += f"{';' if items else ':'} {what} ({self.fading:+.1f})"
        return text + "."


def explain(
    table: WeightTable,
    history: Sequence[Applied],
    start: datetime,
    end: datetime,
    top: int = 5,
) -> Explanation:
    """Why the value moved from `start` to `end`: the interactions in between by how much
    they moved it (as of `end`), strongest first, and the fading of everything older."""
    drivers: list[Driver] = []
    fading: list[float] = []
    for a in history:
        if a.occurred_at > end:
            continue
        if a.occurred_at <= start:
            fading.append(
                faded(table, a.contribution, _days(end, a.occurred_at))
                - faded(table, a.contribution, _days(start, a.occurred_at))
            )
        else:
            effect = faded(table, a.contribution, _days(end, a.occurred_at))
            drivers.append(Driver(a.interaction_id, a.occurred_at, a.reason, effect))
    drivers.sort(key=lambda d: (-abs(d.effect), d.occurred_at, d.interaction_id))
    return Explanation(
        start=value_at(table, history, start),
        end=value_at(table, history, end),
        drivers=drivers[:top],
        fading=math.fsum(fading),
    )


def top_contributions(
    table: WeightTable, history: Sequence[Applied], at: datetime, top: int = 5
) -> list[Driver]:
    """What the value at `at` is made of: the interactions that weigh most in it now."""
    drivers = [
        Driver(
            a.interaction_id,
            a.occurred_at,
            a.reason,
            faded(table, a.contribution, _days(at, a.occurred_at)),
        )
        for a in history
        if a.occurred_at <= at
    ]
    drivers.sort(key=lambda d: (-abs(d.effect), d.occurred_at, d.interaction_id))
    return drivers[:top]


class InvalidPeriod(ValueError):
    """A period asked for that cannot be read: its reason, for the caller."""


def period(
    start: datetime | None, end: datetime | None, default_days: int, now: datetime
) -> tuple[datetime, datetime]:
    """The period a read covers: `end` (default now) and `start` (default `default_days`
    before it), both from 1970 on, the start before the end."""
    for name, moment in (("start", start), ("end", end)):
        if moment is not None and moment < EARLIEST_MOMENT:
            raise InvalidPeriod(f"{name} must be 1970-01-01 or later: nothing is recorded before")
    end = end or now
    start = start or max(end - timedelta(days=default_days), EARLIEST_MOMENT)
    if start >= end:
        raise InvalidPeriod("start must be before end")
    return start, end
