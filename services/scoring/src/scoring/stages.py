"""Knapp's relational stages, inferred from the pattern of a customer's interactions.

Coming together: initiating, experimenting, intensifying, integrating, bonding. Coming
apart: differentiating, circumscribing, stagnating, avoiding, terminating. The stage at a
moment depends only on the interactions up to it, so a late interaction is handled by
evaluating the customer again from that moment (`timeline`), and the same history gives the
same stages whatever order it arrived in.

The signal rules, tried in this order (the first that holds decides):

1. terminating — a cancellation in the last 90 days with no commitment since, or silence
   longer than 6x the customer's own cadence (and at least 180 days).
2. avoiding — silence longer than 3x the cadence (and at least 60 days), or in the last 60
   days at least two approaches from the company and none from the customer.
3. stagnating — customer for 6 months or more, activity in the last 30 days below 35% of
   its usual rate, and no commitment in the last 180 days.
4. circumscribing — activity below half the usual rate over at least two channels fewer than
   usual.
5. differentiating — two or more grievances (complaint, escalation, reopened ticket, refund,
   refused discount, public complaint) in the last 60 days, or the value fell by more than
   25% over the last 60 days.
6. initiating — customer for less than 30 days, or at most two interactions.
7. experimenting — no commitment yet (purchase, contract, renewal, upsell), or customer for
   less than 90 days.
8. bonding — a bond in the last year (signed contract, renewal, referral, co-marketing) and
   customer for a year or more.
9. integrating — two or more commitments in the last year over three or more channels in
   the last 180 days.
10. intensifying — otherwise: committed and growing.

"Usual rate" is the customer's interactions per 30 days over the 180 days before the last 30;
"cadence" the median gap between its interactions in its last active year.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from relint.taxonomy import COMING_APART as COMING_APART
from relint.taxonomy import COMING_TOGETHER as COMING_TOGETHER
from relint.taxonomy import STAGES as STAGES

COMMITMENTS = frozenset({"purchase", "contract_signed", "renewal", "upsell"})
BONDS = frozenset({"contract_signed", "renewal", "referral", "co_marketing"})
GRIEVANCES = frozenset(
    {
        "complaint",
        "social_complaint",
        "ticket_escalated",
        "ticket_reopened",
        "refund",
        "discount_refused",
    }
)
DAY = timedelta(days=1)


class Moment(NamedTuple):
    """What the stage rules need of one interaction (a tuple: a history makes one for each
    of its interactions, and an as-of read of a big tenant a million)."""

    at: datetime
    kind: str
    channel: str
    direction: str
    value_after: float  # the Relationship Value just after it


@dataclass(frozen=True)
class StageCall:
    stage: str
    reason: str


def value_fall(then: float, now: float, days: int) -> str:
    """A fall of the value in words: as a share while it stays above zero; in points below
    it, where a share ("fell 13004%") says nothing."""
    if now >= 0:
        return f"value fell {1 - now / then:.0%} in {days} days"
    return f"value fell from {then:.1f} to {now:.1f} in {days} days"


def is_coming_apart(stage: str) -> bool:
    return stage in COMING_APART


class History:
    """A customer's moments with the indexes the rules need, so that evaluating a stage
    costs the size of the windows it looks at, not of the whole history. Times are kept as
    seconds since the epoch: a timeline bisects ~10 times for each interaction and week it
    judges, and comparing floats is several times quicker than comparing zone-aware
    datetimes."""

    def __init__(self, moments: Sequence[Moment]) -> None:
        self.moments = moments
        times = [m.at for m in moments]
        self.seconds = [t.timestamp() for t in times]
        self.commitments = [m.at.timestamp() for m in moments if m.kind in COMMITMENTS]
        self.cancellations = [m.at for m in moments if m.kind == "cancellation"]
        self.cancellation_seconds = [t.timestamp() for t in self.cancellations]
        self.bonds = [m for m in moments if m.kind in BONDS]
        self.bond_seconds = [m.at.timestamp() for m in self.bonds]
        # Days between each moment and the one before it, and cadences already worked out:
        # the grid's points between two interactions share one.
        self.gaps = [(b - a) / DAY for a, b in itertools.pairwise(times)]
        self._cadences: dict[tuple[int, int], float | None] = {}
        self._window: list[float] = []  # gaps[span[0]:span[1]], sorted (`_median_gap`)
        self._window_span = (0, 0)
        # How many of the first i moments came from us, from the customer, and were
        # grievances: a window's counts are two lookups, not a walk over its moments.
        self.outbound = _running(m.direction == "outbound" for m in moments)
        self.inbound = _running(m.direction == "inbound" for m in moments)
        self.grieved = _running(m.kind in GRIEVANCES for m in moments)

    def index(self, at: float) -> int:
        """How many moments happened at or before `at` (seconds since the epoch)."""
        return bisect.bisect_right(self.seconds, at)

    def cadence(self, start: float, end_index: int) -> float | None:
        """The median gap in days between the moments from `start` to `end_index` (at least
        half a day), None with fewer than three moments."""
        first = self.index(start)
        key = (first, end_index)
        if key not in self._cadences:
            median = self._median_gap(first, end_index - 1) if end_index - first > 2 else None
            self._cadences[key] = None if median is None else max(median, 0.5)
        return self._cadences[key]

    def _median_gap(self, first: int, end: int) -> float:
        """The median of `gaps[first:end]`. A timeline asks for windows that only move
        forward: the sorted window of the last call is kept and slid (the gaps that left it
        taken out, the new ones put in), not sorted again for every interaction."""
        was_first, was_end = self._window_span
        if was_first <= first < was_end <= end:
            window = self._window
            for gap in self.gaps[was_first:first]:
                del window[bisect.bisect_left(window, gap)]
            for gap in self.gaps[was_end:end]:
                bisect.insort(window, gap)
        else:
            self._window = window = sorted(self.gaps[first:end])
        self._window_span = (first, end)
        middle = len(window) // 2
        return window[middle] if len(window) % 2 else (window[middle - 1] + window[middle]) / 2

    def value_before(self, at: float) -> float:
        index = self.index(at)
        return self.moments[index - 1].value_after if index else 0.0


def _running(flags: Iterable[bool]) -> list[int]:
    return list(itertools.accumulate(flags, initial=0))


def stage_at(
    history: Sequence[Moment] | History, at: datetime, value_at: float | None = None
) -> StageCall:
    """The stage at `at` from the interactions up to then (`history` sorted by time).
    `value_at` is the value at `at` (defaults to the value after the last interaction)."""
    h = history if isinstance(history, History) else History(history)
    stage, why, facts = _judge(h, at, value_at)
    return StageCall(stage, why.format(*facts))


# The rules' windows in seconds, made once (a timeline judges a customer at every
# interaction and week).
DAY_SECONDS = 86_400.0
DAYS_30, DAYS_60, DAYS_90 = 30 * DAY_SECONDS, 60 * DAY_SECONDS, 90 * DAY_SECONDS
DAYS_180, DAYS_210, DAYS_365 = 180 * DAY_SECONDS, 210 * DAY_SECONDS, 365 * DAY_SECONDS


def _judge(h: History, at: datetime, value_at: float | None) -> tuple[str, str, tuple[Any, ...]]:
    """The rules (see `stage_at`): the stage, and its reason as a format string and the facts
    to fill it with. A timeline words a reason only where the stage changes."""
    now = at.timestamp()
    end = h.index(now)
    if not end:
        return "initiating", "no interactions yet", ()
    first, last = h.seconds[0], h.seconds[end - 1]
    tenure = (now - first) / DAY_SECONDS
    silence = (now - last) / DAY_SECONDS
    # The cadence of its last active year, however long ago that ended.
    cadence = h.cadence(last - DAYS_365, end)
    month_start = h.index(now - DAYS_30)
    recent = end - month_start
    usual = (month_start - h.index(now - DAYS_210)) / 6
    commitments = bisect.bisect_right(h.commitments, now)
    last_commitment = h.commitments[commitments - 1] if commitments else None
    value_now = h.moments[end - 1].value_after if value_at is None else value_at

    cancellations = bisect.bisect_right(h.cancellation_seconds, now)
    cancelled = h.cancellation_seconds[cancellations - 1] if cancellations else None
    if (
        cancelled is not None
        and cancelled > now - DAYS_90
        and (last_commitment is None or last_commitment < cancelled)
    ):
        return "terminating", "cancelled on {0:%-d %b %Y}", (h.cancellations[cancellations - 1],)
    silent = "silent for {0:.0f} days, {1:.0f}x its cadence"
    if cadence is not None and silence > max(180.0, 6 * cadence):
        return "terminating", silent, (silence, silence / cadence)
    if cadence is not None and silence > max(60.0, 3 * cadence):
        return "avoiding", silent, (silence, silence / cadence)
    window = h.index(now - DAYS_60)  # the moments of the last 60 days: [window, end)
    outbound = h.outbound[end] - h.outbound[window]
    if outbound >= 2 and h.inbound[end] == h.inbound[window]:
        return "avoiding", "{0} approaches in 60 days, no answer", (outbound,)
    committed_lately = last_commitment is not None and last_commitment > now - DAYS_180
    if tenure >= 180 and usual >= 2 and recent < 0.35 * usual and not committed_lately:
        return (
            "stagnating",
            "{0} interactions in 30 days against {1:.1f} usually, no commitment in 6 months",
            (recent, usual),
        )
    if usual >= 2 and recent < 0.5 * usual:
        now_channels = {m.channel for m in h.moments[month_start:end]}
        before = {m.channel for m in h.moments[h.index(now - DAYS_210) : month_start]}
        if len(now_channels) <= len(before) - 2:
            return (
                "circumscribing",
                "activity at {0:.0%} of usual, channels in use down from {2} to {1}",
                (recent / usual, len(now_channels), len(before)),
            )
    grievances = h.grieved[end] - h.grieved[window]
    if grievances >= 2:
        kinds = {m.kind for m in h.moments[window:end] if m.kind in GRIEVANCES}
        named = ", ".join(sorted(k.replace("_", " ") for k in kinds))
        return "differentiating", "{0} grievances in 60 days ({1})", (grievances, named)
    before_value = h.value_before(now - DAYS_60)
    if before_value > 0 and value_now < 0.75 * before_value:
        return "differentiating", "{0}", (value_fall(before_value, value_now, 60),)
    if tenure < 30 or end <= 2:
        return "initiating", "customer for {0:.0f} days, {1} interactions", (tenure, end)
    if last_commitment is None:
        return "experimenting", "no commitment yet", ()
    if tenure < 90:
        return "experimenting", "customer for {0:.0f} days", (tenure,)
    year_start = now - DAYS_365
    bonded = bisect.bisect_right(h.bond_seconds, now)
    if bonded and h.bond_seconds[bonded - 1] > year_start and tenure >= 365:
        bond = h.bonds[bonded - 1]
        return (
            "bonding",
            "{0} on {1:%-d %b %Y}, customer for {2:.1f} years",
            (bond.kind.replace("_", " "), bond.at, tenure / 365),
        )
    channels = {m.channel for m in h.moments[h.index(now - DAYS_180) : end]}
    year_commitments = commitments - bisect.bisect_right(h.commitments, year_start)
    if year_commitments >= 2 and len(channels) >= 3:
        return (
            "integrating",
            "{0} commitments in a year over {1} channels",
            (year_commitments, len(channels)),
        )
    return "intensifying", "committed and growing", ()


@dataclass(frozen=True)
class Transition:
    at: datetime
    stage: str
    previous: str | None
    reason: str


def timeline(
    history: Sequence[Moment],
    until: datetime,
    step: timedelta = timedelta(days=7),
    since: datetime | None = None,
    current: str | None = None,
) -> list[Transition]:
    """Every change of stage from the first interaction to `until`, evaluated at each
    interaction and on a weekly grid between them (so silence moves the stage too). With
    `since`, only moments from then on are evaluated, starting from the `current` stage:
    the stage at a moment depends only on what happened up to it, so earlier moments keep
    the stages they had (a replay from a late interaction's time)."""
    if not history:
        return []
    indexed = History(history)
    points = sorted({m.at for m in history} | set(_grid(history[0].at, until, step)))
    if since is not None:
        points = points[bisect.bisect_left(points, since) :]
    transitions: list[Transition] = []
    for point in points:
        if point > until:
            break
        stage, why, facts = _judge(indexed, point, None)
        if stage != current:
            transitions.append(Transition(point, stage, current, why.format(*facts)))
            current = stage
    return transitions


def _grid(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    points = []
    point = start + step
    while point <= end:
        points.append(point)
        point += step
    return points
