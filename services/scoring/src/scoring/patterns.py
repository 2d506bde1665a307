"""Out of pattern: when a relationship leaves its own normal pattern, or its cohort's.

A customer's norm is learned from its own year before the last 30 days: how often it
interacts (the gaps between interactions), through which channels, and how much its value
usually moves in two weeks. An exception is raised when, as of now:

- silence: it has been silent for more than 4x its median gap and more than 2x its longest
  usual gap (90th percentile); critical past twice that;
- channel shift: in the last 30 days (at least 4 interactions) more than half went through a
  channel that usually carries under 10% of them (say, suddenly all service);
- value swing: its value moved more in the last 14 days than 3 standard deviations of its
  usual 14-day moves (and by at least 3 points);
- cohort: its interactions in the last 90 days are fewer than those of 90% of its cohort
  (same type and stage, at least 10 customers) and fewer than half the cohort's median.

A customer needs 8 interactions over 60 days of history before its own norm counts. Each
exception carries a severity, a reason in words and a key, so evaluating again does not
raise it twice. A silence is keyed by its start (the last interaction) and severity: one
warning and one critical a silence, however many weeks it lasts, and a new one after the
customer's next interaction. A cohort laggard is keyed by its cohort and quarter (the
90 days its activity is counted over). A channel shift and a value swing, over windows
that pass by themselves (30 and 14 days), are keyed by ISO week.
"""

from __future__ import annotations

import bisect
import itertools
import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from scoring.stages import Moment

DAY = timedelta(days=1)
MIN_INTERACTIONS = 8
MIN_SPAN = 60 * DAY
MIN_COHORT = 10


@dataclass(frozen=True)
class Norm:
    median_gap: float
    long_gap: float
    channel_shares: dict[str, float]
    swing_sd: float


@dataclass(frozen=True)
class Exception_:
    kind: str  # silence, channel_shift, value_swing, cohort
    severity: str  # warning, critical
    reason: str
    key: str


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def norm(history: Sequence[Moment], at: datetime) -> Norm | None:
    """The customer's own pattern from the year before the last 30 days (None: too little)."""
    learn = [m for m in history if at - 395 * DAY < m.at <= at - 30 * DAY]
    if len(learn) < MIN_INTERACTIONS or learn[-1].at - learn[0].at < MIN_SPAN:
        return None
    gaps = [(b.at - a.at) / DAY for a, b in itertools.pairwise(learn)]
    channels = Counter(m.channel for m in learn)
    swings = []
    day = learn[0].at + 14 * DAY
    while day <= learn[-1].at:
        swings.append(_value(history, day) - _value(history, day - 14 * DAY))
        day += 7 * DAY
    return Norm(
        median_gap=max(statistics.median(gaps), 0.5),
        long_gap=max(_quantile(gaps, 0.9), 1.0),
        channel_shares={c: n / len(learn) for c, n in channels.items()},
        swing_sd=_pstdev(swings) if len(swings) >= 4 else 0.0,
    )


def _pstdev(values: Sequence[float]) -> float:
    """The population standard deviation in floats (`statistics.pstdev` sums exact
    fractions, slowly)."""
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


def _value(history: Sequence[Moment], at: datetime) -> float:
    """The value after the last moment at or before `at` (`history` sorted by time)."""
    index = bisect.bisect_right(history, at, key=_moment_at)
    return history[index - 1].value_after if index else 0.0


def _moment_at(moment: Moment) -> datetime:
    return moment.at


def _week(at: datetime) -> str:
    year, week, _ = at.isocalendar()
    return f"{year}-W{week:02d}"


def exceptions(
    customer_id: str, history: Sequence[Moment], at: datetime, value_now: float | None = None
) -> list[Exception_]:
    """The ways the customer is out of its own pattern at `at`."""
    found: list[Exception_] = []
    own = norm(history, at)
    if own is None or not history:
        return found
    week = _week(at)
    silence = (at - history[-1].at) / DAY
    limit = max(4 * own.median_gap, 2 * own.long_gap)
    if silence > limit:
        severity = "critical" if silence > 2 * limit else "warning"
        found.append(
            Exception_(
                "silence",
                severity,
                f"silent for {silence:.0f} days; it usually interacts every "
                f"{own.median_gap:.0f} days",
                f"pattern:{customer_id}:silence:{history[-1].at.isoformat()}:{severity}",
            )
        )
    recent = [m for m in history if at - 30 * DAY < m.at <= at]
    if len(recent) >= 4:
        channel, count = Counter(m.channel for m in recent).most_common(1)[0]
        usual = own.channel_shares.get(channel, 0.0)
        if count / len(recent) > 0.5 and usual < 0.10:
            found.append(
                Exception_(
                    "channel_shift",
                    "warning",
                    f"{count} of its {len(recent)} interactions in 30 days went through "
                    f"{channel} (usually {usual:.0%})",
                    f"pattern:{customer_id}:channel_shift:{week}",
                )
            )
    now = _value(history, at) if value_now is None else value_now
    swing = now - _value(history, at - 14 * DAY)
    if own.swing_sd > 0 and abs(swing) > max(3 * own.swing_sd, 3.0):
        direction = "fell" if swing < 0 else "rose"
        found.append(
            Exception_(
                "value_swing",
                "critical" if swing < 0 and abs(swing) > 6 * own.swing_sd else "warning",
                f"value {direction} {abs(swing):.1f} points in 14 days; it usually moves by "
                f"{own.swing_sd:.1f}",
                f"pattern:{customer_id}:value_swing:{week}",
            )
        )
    return found


def cohort_exceptions(
    activity: dict[str, int], cohort: dict[str, tuple[str, str]], at: datetime
) -> dict[str, Exception_]:
    """Customers far less active (interactions in 90 days) than their cohort (type x stage)."""
    members: dict[tuple[str, str], list[int]] = {}
    for customer, key in cohort.items():
        members.setdefault(key, []).append(activity.get(customer, 0))
    # Each cohort's line and median, once a cohort (not once a member: a cohort of 10,000
    # sorted for each of them took minutes).
    lines = {
        key: (len(counts), _quantile(counts, 0.1), statistics.median(counts))
        for key, counts in members.items()
        if len(counts) >= MIN_COHORT and all(key)
    }
    found: dict[str, Exception_] = {}
    quarter = f"{at.year}-Q{(at.month - 1) // 3 + 1}"
    for customer, key in cohort.items():
        if key not in lines:
            continue
        size, low, middle = lines[key]
        mine = activity.get(customer, 0)
        if mine < low and mine < 0.5 * middle:
            found[customer] = Exception_(
                "cohort",
                "warning",
                f"{mine} interactions in 90 days, fewer than 90% of the {size} "
                f"{key[0]} customers in {key[1]} (median {middle:.0f})",
                f"pattern:{customer}:cohort:{key[0]}:{key[1]}:{quarter}",
            )
    return found
