"""Next best actions: for one customer, what to do now and why, ranked; for a team or an
employee, the worklist across customers, ordered by urgency and value. Pure.

Where the actions come from, most urgent first:
- an open obligation (the playbook owes the customer something by a deadline): urgency
  grows from 0.5 to 1.0 at its deadline, by the larger of the share of its time gone and
  its nearness within a week (due in 46 hours outranks due in 79 days of 90); an overdue
  one (missed, and still owed) is 1.0;
- a recent violation (missed in the last 30 days): make amends, 0.6; not for a violation
  whose standard is still owed overdue (the overdue obligation is the action);
- out of its own pattern (scoring's latest exception in the last 30 days): look into it,
  0.7 when critical, 0.5 otherwise;
- a high risk of loss (scoring's risk 0.5 or more): call to save it, 0.5 to 0.9 with risk;
- a relationship coming apart (Knapp's second half): repair it, 0.55;
- potential (it behaves like the tenant's best customers but brings less): offer the
  conversion program, 0.3.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from playbook.domain import KNAPP_STAGES, Standard
from playbook.evaluation import Standing

RECENT_VIOLATIONS: Final = timedelta(days=30)
# Within this of its deadline an obligation grows urgent, whatever share of its time is gone.
URGENT_WITHIN: Final = timedelta(days=7)
AT_RISK: Final = 0.5
COMING_APART: Final = frozenset(KNAPP_STAGES[5:])
TYPE_NAMES: Final = {
    "acquaintance": "Acquaintance",
    "fair_weather_friend": "Fair-Weather Friend",
    "bff": "BFF",
    "partner": "Partner",
}


@dataclass(frozen=True)
class Outlook:
    """What scoring says of the customer now."""

    standing: Standing
    value: float = 0.0
    risk: float = 0.0
    risk_reasons: tuple[str, ...] = ()
    potential: float | None = None
    potential_reason: str = ""


@dataclass(frozen=True)
class Owed:
    """An open obligation, as the actions see it."""

    customer_id: str
    standard_key: str
    due_at: datetime
    opened_at: datetime
    what: str
    employee: str = ""


@dataclass(frozen=True)
class Missed:
    """A violation, as the actions see it."""

    standard_key: str
    due_at: datetime
    reason: str


@dataclass(frozen=True)
class Exception_:
    """Scoring's out-of-pattern alert about the customer, as the actions see it."""

    severity: str
    reason: str
    raised_at: datetime


@dataclass(frozen=True)
class Action:
    customer_id: str
    kind: str  # obligation, amends, save, repair, grow
    title: str
    reason: str
    urgency: float
    due_at: datetime | None = None
    standard_key: str = ""
    employee: str = ""
    value: float = 0.0


def next_best_actions(
    customer_id: str,
    outlook: Outlook | None,
    owed: Sequence[Owed],
    missed: Sequence[Missed],
    standards: Sequence[Standard],
    now: datetime,
    limit: int = 10,
    exceptions: Sequence[Exception_] = (),
) -> list[Action]:
    """The customer's actions, most urgent first (ties: earliest deadline, then title)."""
    titles = {s.key: s.title for s in standards}
    label = _type_label(outlook)
    value = outlook.value if outlook else 0.0
    actions = [_fulfil(o, titles, label, now, value) for o in owed]
    # A violation still being put right (its standard owed, overdue since it or before) has
    # the overdue obligation as its action, not a second one to make amends.
    overdue: dict[str, datetime] = {}
    for o in owed:
        if o.due_at < now:
            overdue[o.standard_key] = min(o.due_at, overdue.get(o.standard_key, o.due_at))
    for violation in missed:
        righted = overdue.get(violation.standard_key)
        if righted is not None and righted <= violation.due_at:
            continue
        if violation.due_at >= now - RECENT_VIOLATIONS:
            actions.append(
                Action(
                    customer_id,
                    "amends",
                    f"Make amends: {titles.get(violation.standard_key, violation.standard_key)}",
                    f"missed {_ago(now - violation.due_at)}: {violation.reason}",
                    0.6,
                    standard_key=violation.standard_key,
                    value=value,
                )
            )
    recent = [e for e in exceptions if e.raised_at >= now - RECENT_VIOLATIONS]
    if recent:
        latest = max(recent, key=lambda e: e.raised_at)
        actions.append(
            Action(
                customer_id,
                "look_into",
                "Look into what changed",
                f"out of its own pattern {_ago(now - latest.raised_at)}: {latest.reason}",
                0.7 if latest.severity == "critical" else 0.5,
                value=value,
            )
        )
    if outlook is not None:
        actions.extend(_from_outlook(customer_id, outlook))
    actions.sort(
        key=lambda a: (-a.urgency, a.due_at or datetime.max.replace(tzinfo=now.tzinfo), a.title)
    )
    return actions[:limit]


# How many obligations of the last urgency tenth a worklist ranks by value, per item asked:
# beyond, the rest of that tenth is taken soonest due first.
TENTH_BREADTH: Final = 10


_URGENT_SECONDS: Final = URGENT_WITHIN.total_seconds()


def urgency(opened_at: datetime, due_at: datetime, now: datetime) -> float:
    """From 0.5 to 1.0 at the deadline: by the larger of the share of the obligation's time
    gone and its nearness within `URGENT_WITHIN`."""
    return _urgency(opened_at.timestamp(), due_at.timestamp(), now.timestamp())


def _urgency(opened: float, due: float, now: float) -> float:
    """`urgency` over POSIX seconds."""
    window, left = due - opened, due - now
    if left <= 0 or window <= 0:
        return 1.0
    # Each share clamped to 0..1 (conditionals: a worklist ranks every open obligation).
    elapsed = 0.0 if left >= window else 1 - left / window
    near = 0.0 if left >= _URGENT_SECONDS else 1 - left / _URGENT_SECONDS
    return round(0.5 + 0.5 * (elapsed if elapsed > near else near), 4)


def _tenth(value: float) -> int:
    return math.floor(value * 10)


def worklist_candidates(
    times: Sequence[tuple[str, datetime, datetime]], now: datetime, limit: int
) -> list[str]:
    """Of open obligations as (id, opened_at, due_at), the ids a worklist of `limit` can
    hold once ranked by value: every one in the urgency tenths above the `limit`-th's, and
    of that tenth up to `TENTH_BREADTH` times `limit`, soonest due first."""
    moment = now.timestamp()
    ranked = sorted(
        (
            (-_tenth(_urgency(opened.timestamp(), due.timestamp(), moment)), due, id_)
            for id_, opened, due in times
        ),
    )
    if len(ranked) <= limit:
        return [id_ for *_, id_ in ranked]
    last = ranked[limit - 1][0]  # tenths negated: the most urgent sort first
    above = [id_ for tenth, _, id_ in ranked if tenth < last]
    within = [id_ for tenth, _, id_ in ranked if tenth == last]
    return above + within[: TENTH_BREADTH * limit]


def worklist(
    owed: Sequence[Owed],
    outlooks: dict[str, Outlook],
    standards: Sequence[Standard],
    now: datetime,
    limit: int = 100,
) -> list[Action]:
    """Open obligations across customers as actions: the most urgent first and, among
    equally urgent ones (by tenths), the more valuable customer first."""
    titles = {s.key: s.title for s in standards}
    actions = [
        _fulfil(
            o,
            titles,
            _type_label(outlooks.get(o.customer_id)),
            now,
            outlooks[o.customer_id].value if o.customer_id in outlooks else 0.0,
        )
        for o in owed
    ]
    actions.sort(key=lambda a: (-_tenth(a.urgency), -a.value, a.due_at, a.customer_id))
    return actions[:limit]


def _fulfil(owed: Owed, titles: dict[str, str], label: str, now: datetime, value: float) -> Action:
    left = (owed.due_at - now).total_seconds()
    standard = titles.get(owed.standard_key, owed.standard_key)
    due = f"overdue by {_span(-left)}" if left < 0 else f"due in {_span(left)}"
    return Action(
        owed.customer_id,
        "obligation",
        owed.what,
        f"{due}, {label} standard: {standard}",
        urgency(owed.opened_at, owed.due_at, now),
        owed.due_at,
        owed.standard_key,
        owed.employee,
        value,
    )


def _from_outlook(customer_id: str, outlook: Outlook) -> list[Action]:
    actions = []
    if outlook.risk >= AT_RISK:
        reasons = "; ".join(outlook.risk_reasons[:3]) or "no reason given"
        actions.append(
            Action(
                customer_id,
                "save",
                "Call to save the relationship",
                f"risk of loss {outlook.risk:.0%}: {reasons}",
                round(0.5 + 0.4 * outlook.risk, 4),
                value=outlook.value,
            )
        )
    stage = outlook.standing.stage
    if stage in COMING_APART:
        actions.append(
            Action(
                customer_id,
                "repair",
                "Repair the relationship",
                f"it is coming apart: stage {stage}",
                0.55,
                value=outlook.value,
            )
        )
    if outlook.potential:
        actions.append(
            Action(
                customer_id,
                "grow",
                "Offer the conversion program",
                outlook.potential_reason or f"could bring {outlook.potential:,.0f} more a year",
                0.3,
                value=outlook.value,
            )
        )
    return actions


def _type_label(outlook: Outlook | None) -> str:
    if outlook is None or not outlook.standing.relationship_type:
        return "company"
    name = outlook.standing.relationship_type
    return TYPE_NAMES.get(name, name.replace("_", " "))


def _span(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(int(seconds // 60), 1)} min"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} days"


def _ago(span: timedelta) -> str:
    return f"{_span(span.total_seconds())} ago"
