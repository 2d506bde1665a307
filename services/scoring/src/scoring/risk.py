"""Risk: how likely a relationship is to end, from the purchase model and from what purchases
do not show yet.

The base is the retention model's probability that the customer is no longer active
(1 - P(alive), BG/NBD on its purchase-like interactions) when the tenant has one, else a
neutral 20%. Non-transactional signals then move it on the log-odds scale, so that the
score leads the lagging figures:

| signal | added to the log-odds |
|---|---|
| stage in the coming-apart half | +1.0 (avoiding +1.5, terminating +2.5) |
| silence beyond twice its own cadence | +0.5 per doubling, at most +1.5 |
| value fell 25% or more in 60 days | +0.8 |
| grievances in 90 days (complaints, escalations, refunds, ...) | +0.3 each, at most +0.9 |
| missed service standards in 90 days | +0.4 each, at most +1.2 |
| a commitment (purchase, renewal, ...) in the last 30 days | -0.7 |

Each signal that moved the score is a reason, strongest first.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from scoring.domain import SIGNAL_KINDS, VIOLATION
from scoring.stages import COMMITMENTS, GRIEVANCES, Moment, is_coming_apart, value_fall

DAY = timedelta(days=1)
NEUTRAL_BASE = 0.2
# At or above it a customer is at risk: an `at_risk` alert when it gets there, critical from
# CRITICAL on.
AT_RISK = 0.5
CRITICAL = 0.8


@dataclass(frozen=True)
class Risk:
    score: float  # 0..1
    reasons: list[str]


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def assess(
    history: Sequence[Moment],
    at: datetime,
    stage: str,
    p_alive: float | None = None,
) -> Risk:
    """The customer's risk at `at` (history sorted by time, up to `at`; our own signals,
    violations, count as such and not as contact with the customer)."""
    everything = [m for m in history if m.at <= at]
    upto = [m for m in everything if m.kind not in SIGNAL_KINDS]
    base = 1 - p_alive if p_alive is not None else NEUTRAL_BASE
    signals: list[tuple[float, str]] = []
    if p_alive is not None:
        signals.append((0.0, f"purchase model: {p_alive:.0%} likely still active"))
    if is_coming_apart(stage):
        weight = {"avoiding": 1.5, "terminating": 2.5}.get(stage, 1.0)
        signals.append((weight, f"stage {stage}"))
    if len(upto) >= 3:
        gaps = sorted((b.at - a.at) / DAY for a, b in itertools.pairwise(upto))
        cadence = max(gaps[len(gaps) // 2], 0.5)
        silence = (at - upto[-1].at) / DAY
        if silence > 2 * cadence:
            weight = min(0.5 * math.log2(silence / cadence), 1.5)
            signals.append((weight, f"silent for {silence:.0f} days against a usual {cadence:.0f}"))
    before = [m for m in upto if m.at <= at - 60 * DAY]
    if before and upto:
        then, now = before[-1].value_after, upto[-1].value_after
        if then > 0 and now <= 0.75 * then:
            signals.append((0.8, value_fall(then, now, 60)))
    recent = [m for m in upto if m.at > at - 90 * DAY]
    grievances = sum(m.kind in GRIEVANCES for m in recent)
    if grievances:
        plural = "s" if grievances != 1 else ""
        signals.append((min(0.3 * grievances, 0.9), f"{grievances} grievance{plural} in 90 days"))
    violations = sum(m.kind == VIOLATION and m.at > at - 90 * DAY for m in everything)
    if violations:
        signals.append(
            (
                min(0.4 * violations, 1.2),
                f"{violations} missed service standard{'s' if violations != 1 else ''} in 90 days",
            )
        )
    if any(m.kind in COMMITMENTS and m.at > at - 30 * DAY for m in upto):
        signals.append((-0.7, "a commitment in the last 30 days"))
    score = 1 / (1 + math.exp(-(_logit(base) + sum(w for w, _ in signals))))
    ordered = sorted(signals, key=lambda s: -abs(s[0]))
    return Risk(round(score, 6), [reason for _, reason in ordered])
