"""Judging a customer's interactions against the playbook: what is owed (open obligations)
and which standards were missed (violations). Pure and deterministic: the same history,
standing and moment always give the same judgement, whatever order the history arrived in.

The rules, per standard that applies to the customer (its type and stage are in the
standard's scope, or the standard names none):

- It binds from the moment the customer entered the scope: since it has its type when the
  standard names types, since its stage when it names stages (the later of the two), and
  over the whole history otherwise. Interactions before that are not judged by it.
- respond_within: every trigger is answered by the first response after it, where a
  response is any outbound interaction but marketing's (a newsletter answers nobody), or a
  resolved ticket or complaint. A standard with `answered_by` takes only those on its
  channels (or of its kinds of them), and then marketing's too when it names marketing: the
  company said so. Due
  `within_hours` after the trigger; answered at the due moment exactly is in time. One
  response answers every trigger waiting before it. A trigger still unanswered after its
  deadline is a violation and stays owed, overdue, for `OVERDUE_KEPT` after it (the
  answer is still the next thing to do); after that it is only the violation.
- follow_up_after: the same, but only the named follow-up touchpoint answers, within
  `within_days`.
- cadence: at least one `of` every `every_days`, counted from the last one (or from the
  moment the standard started binding). Each full period without one is one violation;
  the one owed stays owed, overdue since the first period missed, until it is done.
- notice_before: an `event` says how long ahead it was announced, in its attributes
  (`notice_days`, or `effective_at` as an ISO date or moment). One without either takes
  effect as it happens: no notice at all.
- limit: at most `at_most` outbound touches on the channel in any `per_days` days; each
  touch beyond that is a violation.
- program: the service picks customers for it (`picks`: the moments each period it was
  picked for began); each pick is owed a `touch` within `every_days`, or is one violation.
  Only picks made while the standard bound the customer count.

A missed deadline is a violation as soon as the moment passes: the service judges again
on a clock at `next_due_at`, not only when the next interaction arrives.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import re
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, NamedTuple, TypeVar

from playbook.domain import (
    Cadence,
    FollowUpAfter,
    Limit,
    NoticeBefore,
    Program,
    RespondWithin,
    Standard,
    Touchpoint,
    answer_words,
)

# Kinds that answer a customer whatever their recorded direction (with `answered_by`, when
# it names them or their channel).
ANSWERING_KINDS: Final = frozenset({"ticket_resolved", "complaint_resolved"})
# Channels whose outbound touches answer nobody: a campaign is not a response to a ticket.
BROADCAST_CHANNELS: Final = frozenset({"marketing"})
ZERO: Final = timedelta(0)
# How long a response or follow-up missed stays owed (overdue) after its deadline. Bounded:
# history imported from systems whose answers were never delivered would otherwise fill the
# worklists with years-old triggers.
OVERDUE_KEPT: Final = timedelta(days=30)


class Touch(NamedTuple):
    """What the playbook keeps of one delivered interaction (a tuple: judging reads many)."""

    id: str
    occurred_at: datetime
    channel: str
    kind: str
    direction: str = ""
    employee: str = ""
    # The source's own id, e.g. a ticket number, for people to find it.
    reference: str = ""
    # For announcements: how many days ahead the change was announced, when it says.
    notice_days: float | None = None

    def is_(self, touchpoint: Touchpoint) -> bool:
        return self.channel == touchpoint.channel and self.kind == touchpoint.kind

    @property
    def answers(self) -> bool:
        return (
            self.direction == "outbound" and self.channel not in BROADCAST_CHANNELS
        ) or self.kind in ANSWERING_KINDS


@dataclass(frozen=True)
class Standing:
    """Where the customer stands, as scoring sees it: type and stage, and since when."""

    relationship_type: str = ""
    type_since: datetime | None = None
    stage: str = ""
    stage_since: datetime | None = None


@dataclass(frozen=True)
class Obligation:
    """Something owed to the customer under a standard, by `due_at`, not yet done: either not
    yet due, or overdue (its violation found, and still owed)."""

    standard_key: str
    due_at: datetime
    opened_at: datetime
    # The interaction that created it (a ticket, a complaint); empty for a cadence.
    trigger_id: str
    trigger_reference: str
    employee: str
    what: str
    # For an overdue one, when the clock alone changes it: a cadence missed once more, a
    # response no longer kept owed (`OVERDUE_KEPT` after its deadline).
    recheck_at: datetime | None = None


@dataclass(frozen=True)
class Violation:
    """A standard missed: when the thing was due, what it was about, and why it is missed."""

    standard_key: str
    due_at: datetime
    interaction_ids: tuple[str, ...]
    reason: str
    # Who was on it: the employee of the interaction that made it due.
    employee: str = ""

    @property
    def key(self) -> str:
        """Stable across evaluations: a violation found again is the same violation."""
        trigger = self.interaction_ids[0] if self.interaction_ids else ""
        return f"{self.standard_key}|{trigger}|{self.due_at.isoformat()}"


@dataclass(frozen=True)
class Judgement:
    obligations: tuple[Obligation, ...]
    violations: tuple[Violation, ...]
    # The standards that bound the customer, each from when: violations of these with a
    # due moment from then on that are no longer found were met after all (late events).
    judged_from: dict[str, datetime | None]


def type_key(name: str) -> str:
    """A relationship type as standards name it, from scoring's display name: "Fair-Weather
    Friend" is fair_weather_friend, "BFF" is bff."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def applies(standard: Standard, standing: Standing) -> bool:
    return (
        not standard.relationship_types or standing.relationship_type in standard.relationship_types
    ) and (not standard.stages or standing.stage in standard.stages)


def binds_from(standard: Standard, standing: Standing) -> datetime | None:
    """When the standard started binding the customer: None for its whole history."""
    moments = []
    if standard.relationship_types and standing.type_since is not None:
        moments.append(standing.type_since)
    if standard.stages and standing.stage_since is not None:
        moments.append(standing.stage_since)
    return max(moments, default=None)


def judge(
    standards: Sequence[Standard],
    standing: Standing,
    touches: Sequence[Touch],
    now: datetime,
    cut: datetime | None = None,
    picks: Mapping[str, Sequence[datetime]] | None = None,
) -> Judgement:
    """The customer's open obligations and violations under `standards` at `now`, from its
    whole history (`touches`, in any order; only those up to `now` count) and the programs
    it was picked for (`picks`, by standard key: when each period began).

    With a `cut` (the earliest moment whose touches changed since the last judgement, at
    most that judgement's `now`, the standing and the standards the same), only what the
    change can have touched is judged: each standard's violations from `judged_from` on,
    the earlier ones being as the last judgement found them. `touches` then need only be
    those `Window.keeps` for that cut; the obligations are all of them, as without it."""
    history = _History(sorted([t for t in touches if t.occurred_at <= now], key=_ORDER))
    obligations: list[Obligation] = []
    violations: list[Violation] = []
    judged_from: dict[str, datetime | None] = {}
    for standard in standards:
        if not applies(standard, standing):
            continue
        start = judged = binds_from(standard, standing)
        # Without a cut, every violation found; with one, those due from where the change
        # can reach back (an announcement's can be due before the standard binds).
        boundary = None
        if cut is not None:
            reached_back, looks_back = _reach(standard)
            boundary = min(cut, now) - reached_back
            judged = _later(start, boundary)
            # A cadence counts, and a program's picks count, from when it started binding,
            # whatever the cut.
            if not isinstance(standard.rule, Cadence | Program):
                start = _later(start, boundary - looks_back)
        judged_from[standard.key] = judged
        for item in _judge_one(standard, history, start, now, picks):
            if isinstance(item, Obligation):
                obligations.append(item)
            elif boundary is None or item.due_at >= boundary:
                violations.append(item)
    return Judgement(tuple(obligations), tuple(violations), judged_from)


def _reached_back(standard: Standard) -> timedelta:
    """How far before a changed touch a violation it changes can be due: an announcement
    changes the violation due `days` before it takes effect; every other rule's are due at
    or after the touches they are about."""
    return timedelta(days=standard.rule.days) if isinstance(standard.rule, NoticeBefore) else ZERO


def _looks_back(standard: Standard) -> timedelta:
    """How far before the first violation it judges a standard reads the history: the
    triggers still waiting then or still owed overdue, the touches in the limit's window.
    An announcement needs none: its violation is due before the announcement itself."""
    match standard.rule:
        case RespondWithin(_, within_hours):
            return timedelta(hours=within_hours) + OVERDUE_KEPT
        case FollowUpAfter(_, within_days, _):
            return timedelta(days=within_days) + OVERDUE_KEPT
        case Limit(_, per_days, _):
            return timedelta(days=per_days)
    return ZERO


def _later(start: datetime | None, boundary: datetime) -> datetime:
    return boundary if start is None else max(start, boundary)


@dataclass(frozen=True)
class Window:
    """The touches a judgement from a cut reads: every one from `since` on (all of them when
    None), and every one at a cadence's or a program's touchpoint (`_counted_from_far_back`)."""

    since: datetime | None
    touchpoints: frozenset[tuple[str, str]] = frozenset()

    def keeps(self, touch: Touch) -> bool:
        return (
            self.since is None
            or touch.occurred_at >= self.since
            or (touch.channel, touch.kind) in self.touchpoints
        )


def window(
    standards: Sequence[Standard], standing: Standing, cut: datetime | None, now: datetime
) -> Window:
    """What `judge(..., cut)` reads of the customer's history: from the cut minus the
    playbook's longest window on, and each cadence's touches. A cadence that binds the
    whole history counts from the customer's first touch: then everything is read."""
    if cut is None:
        return Window(None)
    cadences, longest, touchpoints = _reach_of_all(standards)
    if any(applies(s, standing) and binds_from(s, standing) is None for s in cadences):
        return Window(None)
    return Window(min(cut, now) - longest, touchpoints)


# What `_reach` and `_reach_of_all` found, by the id of what they were asked about, with that
# object itself: the memo holds it, so its id cannot be reused while the entry lives, and the
# identity check makes a hit exact. A playbook's standards are parsed once and judged for
# every customer; a match over each rule per customer and standard was a tenth of judging.
_MEMO_LIMIT: Final = 4096
_Reaches = tuple[list[Standard], timedelta, frozenset[tuple[str, str]]]
_K = TypeVar("_K")
_V = TypeVar("_V")
_reach_memo: dict[int, tuple[Standard, tuple[timedelta, timedelta]]] = {}
_reach_of_all_memo: dict[int, tuple[Sequence[Standard], _Reaches]] = {}


def _remembered(memo: dict[int, tuple[_K, _V]], of: _K, compute: Callable[[_K], _V]) -> _V:
    hit = memo.get(id(of))
    if hit is not None and hit[0] is of:
        return hit[1]
    found = compute(of)
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[id(of)] = (of, found)
    return found


class _Answering(NamedTuple):
    """What answers a respond-within standard with `answered_by`, worked out once per
    standard: the channels it takes whole, the touchpoints it takes, and the words."""

    channels: frozenset[str]
    touchpoints: frozenset[tuple[str, str]]
    words: str


_answering_memo: dict[int, tuple[Standard, _Answering]] = {}


def _answering(standard: Standard) -> _Answering:
    """The `_Answering` of a respond-within standard that has `answered_by`."""
    return _remembered(_answering_memo, standard, _answering_of)


def _answering_of(standard: Standard) -> _Answering:
    rule = standard.rule
    answered_by = rule.answered_by if isinstance(rule, RespondWithin) else ()
    return _Answering(
        frozenset(a.channel for a in answered_by if a.kind is None),
        frozenset((a.channel, a.kind) for a in answered_by if a.kind is not None),
        f"first response ({answer_words(answered_by)})",
    )


def _reach(standard: Standard) -> tuple[timedelta, timedelta]:
    """(`_reached_back`, `_looks_back`) of the standard."""
    return _remembered(_reach_memo, standard, lambda s: (_reached_back(s), _looks_back(s)))


def _reach_of_all(standards: Sequence[Standard]) -> _Reaches:
    """The cadences among the standards, the longest reach back of any, and the cadences'
    touchpoints. Remembered for a tuple (a published playbook's); a list may change."""
    if isinstance(standards, tuple):
        return _remembered(_reach_of_all_memo, standards, _reaches)
    return _reaches(standards)


def _reaches(standards: Sequence[Standard]) -> _Reaches:
    cadences = [s for s in standards if isinstance(s.rule, Cadence)]
    longest = max((sum(_reach(s), ZERO) for s in standards), default=ZERO)
    touchpoints = frozenset(
        (t.channel, t.kind) for s in standards if (t := _counted_from_far_back(s)) is not None
    )
    return cadences, longest, touchpoints


def _counted_from_far_back(standard: Standard) -> Touchpoint | None:
    """The touchpoint whose touches the standard counts however far back they are: a
    cadence's (from the last one), a program's (from the first moment of a period it picked
    the customer for); they are read whatever the window."""
    if isinstance(standard.rule, Cadence):
        return standard.rule.of
    if isinstance(standard.rule, Program):
        return standard.rule.touch
    return None


# A touch's place in the history: by time, then id (Touch is (id, occurred_at, ...)).
_ORDER: Final = operator.itemgetter(1, 0)


class _History:
    """One customer's history in order, indexed once for every standard that reads it (a
    judgement runs for every customer touched, so each standard must not scan it all)."""

    def __init__(self, ordered: list[Touch]) -> None:
        self.ordered = ordered
        self.moments = [t.occurred_at for t in ordered]
        self.by_touchpoint: dict[tuple[str, str], list[Touch]] = {}
        for touch in ordered:
            self.by_touchpoint.setdefault((touch.channel, touch.kind), []).append(touch)
        self._answers: list[Touch] | None = None
        self._answers_by: dict[tuple[frozenset[str], frozenset[tuple[str, str]]], list[Touch]] = {}

    @property
    def answers(self) -> list[Touch]:
        """The touches that answer a respond-within standard without `answered_by`."""
        if self._answers is None:
            self._answers = [t for t in self.ordered if t.answers]
        return self._answers

    def answers_by(self, answering: _Answering) -> list[Touch]:
        """The touches that answer a standard with `answered_by`, in order: those at its
        touchpoints, read from the index rather than the whole history, that are outbound or
        close a ticket or complaint. Marketing's count here: the standard named them."""
        key = (answering.channels, answering.touchpoints)
        found = self._answers_by.get(key)
        if found is None:
            runs = [
                touches
                for touchpoint, touches in self.by_touchpoint.items()
                if touchpoint[0] in answering.channels or touchpoint in answering.touchpoints
            ]
            merged = runs[0] if len(runs) == 1 else sorted(itertools.chain(*runs), key=_ORDER)
            found = self._answers_by[key] = [
                t for t in merged if t.direction == "outbound" or t.kind in ANSWERING_KINDS
            ]
        return found

    def of(self, touchpoint: Touchpoint, start: datetime | None) -> list[Touch]:
        """The touches at `touchpoint` from `start` on (all of them when None)."""
        found = self.by_touchpoint.get((touchpoint.channel, touchpoint.kind), [])
        return found if start is None else [t for t in found if t.occurred_at >= start]

    def first_from(self, start: datetime | None) -> datetime | None:
        """The moment of the first touch from `start` on, if any."""
        position = 0 if start is None else bisect.bisect_left(self.moments, start)
        return self.moments[position] if position < len(self.moments) else None


def _judge_one(
    standard: Standard,
    history: _History,
    start: datetime | None,
    now: datetime,
    picks: Mapping[str, Sequence[datetime]] | None,
) -> Iterator[Obligation | Violation]:
    match standard.rule:
        case RespondWithin(trigger, within_hours, answered_by):
            if answered_by:
                answering = _answering(standard)
                answers, words = history.answers_by(answering), answering.words
            else:
                answers, words = history.answers, "first response"
            yield from _answered(
                standard,
                history.of(trigger, start),
                answers,
                timedelta(hours=within_hours),
                f"{words} to",
                now,
            )
        case FollowUpAfter(trigger, within_days, follow_up):
            yield from _answered(
                standard,
                history.of(trigger, start),
                history.of(follow_up, None),
                timedelta(days=within_days),
                f"{_words(follow_up)} after",
                now,
            )
        case Cadence(every_days, of):
            yield from _cadence(
                standard,
                history.first_from(start),
                history.of(of, start),
                of,
                timedelta(days=every_days),
                start,
                now,
            )
        case NoticeBefore(days, event):
            yield from _notice(standard, history.of(event, start), days)
        case Limit(at_most, per_days, channel):
            yield from _limit(
                standard,
                [
                    t
                    for t in history.ordered[
                        0 if start is None else bisect.bisect_left(history.moments, start) :
                    ]
                    if t.channel == channel and t.direction != "inbound"
                ],
                at_most,
                timedelta(days=per_days),
            )
        case Program(every_days, _, touch):
            periods = (picks or {}).get(standard.key, ())
            yield from _program(
                standard,
                [p for p in periods if start is None or p >= start],
                history.of(touch, None),
                touch,
                timedelta(days=every_days),
                now,
            )


def _answered(
    standard: Standard,
    triggers: Sequence[Touch],
    answers: Sequence[Touch],
    within: timedelta,
    answer_named: str,
    now: datetime,
) -> Iterator[Obligation | Violation]:
    """Each trigger against the first answer strictly after it. `answer_named`: the words
    that name the answer and how it relates to its trigger ("first response to", "service
    check in after")."""
    moments = [a.occurred_at for a in answers]
    for trigger in triggers:
        due = trigger.occurred_at + within
        position = bisect.bisect_right(moments, trigger.occurred_at)
        answer = answers[position] if position < len(answers) else None
        what = f"{answer_named} {_named(trigger)}"
        if answer is not None and answer.occurred_at <= due:
            continue
        if answer is not None:
            late = answer.occurred_at - due
            yield Violation(
                standard.key,
                due,
                (trigger.id, answer.id),
                f"the {what} came {_span(late)} late (due {_when(due)}, {standard.title})",
                trigger.employee,
            )
        else:
            overdue = now > due
            if overdue:
                yield Violation(
                    standard.key,
                    due,
                    (trigger.id,),
                    f"no {what} (due {_when(due)}, {standard.title})",
                    trigger.employee,
                )
            if not overdue or now <= due + OVERDUE_KEPT:
                yield Obligation(
                    standard.key,
                    due,
                    trigger.occurred_at,
                    trigger.id,
                    trigger.reference,
                    trigger.employee,
                    what[0].upper() + what[1:],
                    due + OVERDUE_KEPT if overdue else None,
                )


def _cadence(
    standard: Standard,
    first: datetime | None,
    done: Sequence[Touch],
    of: Touchpoint,
    every: timedelta,
    start: datetime | None,
    now: datetime,
) -> Iterator[Obligation | Violation]:
    """`first` is the moment of the first touch in scope, `done` the ones at `of`. The one
    owed after the last is due a period after it; missed, it is owed from then on (overdue),
    and each further period without one is one more violation."""
    anchor = start if start is not None else first
    if anchor is None:
        return  # no relationship to keep up yet
    last: Touch | None = None
    opened = anchor
    for touch in [*done, None]:
        until = touch.occurred_at if touch is not None else now
        # Each full period without one is a missed one; due exactly then is in time.
        while anchor + every < until:
            due = anchor + every
            since = f"since the last on {_when(last.occurred_at)}" if last else "so far"
            yield Violation(
                standard.key,
                due,
                (last.id,) if last else (),
                f"no {_words(of)} in {_span(every)} {since} (due {_when(due)}, {standard.title})",
            )
            anchor = due
        if touch is not None:
            anchor = opened = touch.occurred_at
            last = touch
    ago = f"last one {_span(now - last.occurred_at)} ago" if last else "none yet"
    overdue = anchor != opened
    yield Obligation(
        standard.key,
        opened + every,
        opened,
        "",
        "",
        last.employee if last else "",
        f"A {_words(of)} ({ago})",
        anchor + every if overdue else None,
    )


def _program(
    standard: Standard,
    periods: Sequence[datetime],
    touches: Sequence[Touch],
    touch: Touchpoint,
    every: timedelta,
    now: datetime,
) -> Iterator[Obligation | Violation]:
    """Each period the customer was picked for, against the `touch`es in it (its first
    moment to its due moment, both in)."""
    moments = [t.occurred_at for t in touches]
    for began in sorted(periods):
        due = began + every
        if bisect.bisect_right(moments, due) > bisect.bisect_left(moments, began):
            continue
        if now > due:
            yield Violation(
                standard.key,
                due,
                (),
                f"no {_words(touch)} in the {_span(every)} since it was picked on "
                f"{_when(began)} (due {_when(due)}, {standard.title})",
            )
        else:
            yield Obligation(
                standard.key,
                due,
                began,
                "",
                "",
                "",
                f"A {_words(touch)} for the program it was picked for on {_when(began)}",
            )


def _notice(standard: Standard, events: Sequence[Touch], days: int) -> Iterator[Violation]:
    for event in events:
        notice = event.notice_days if event.notice_days is not None else 0.0
        if notice >= days:
            continue
        effective = event.occurred_at + timedelta(days=notice)
        yield Violation(
            standard.key,
            effective - timedelta(days=days),
            (event.id,),
            f"{_named(event)} announced {_count_days(notice)} before it took effect; "
            f"{days} days are owed ({standard.title})",
            event.employee,
        )


def _limit(
    standard: Standard, touches: Sequence[Touch], at_most: int, per: timedelta
) -> Iterator[Violation]:
    window: deque[Touch] = deque()
    for touch in touches:
        window.append(touch)
        while window[0].occurred_at <= touch.occurred_at - per:
            window.popleft()
        if len(window) > at_most:
            yield Violation(
                standard.key,
                touch.occurred_at,
                (touch.id, *(t.id for t in list(window)[:-1])),
                f"{len(window)} {touch.channel} touches within {_span(per)}, "
                f"at most {at_most} allowed ({standard.title})",
                touch.employee,
            )


# Words


def _words(touchpoint: Touchpoint) -> str:
    return f"{touchpoint.channel} {touchpoint.kind.replace('_', ' ')}"


def _named(touch: Touch) -> str:
    name = f"{touch.channel} {touch.kind.replace('_', ' ')}"
    return (
        f"{name} #{touch.reference}"
        if touch.reference
        else f"the {name} of {_when(touch.occurred_at)}"
    )


def _when(moment: datetime) -> str:
    # strftime("%Y-%m-%d %H:%M UTC"), written out: a judgement formats thousands of these.
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} "
        f"{moment.hour:02d}:{moment.minute:02d} UTC"
    )


def _count_days(days: float) -> str:
    whole = round(days, 1)
    if whole == 0:
        return "0 days"
    return f"{whole:g} day" if whole == 1 else f"{whole:g} days"


def _span(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def notice_days(occurred_at: datetime, attributes: Mapping[str, object]) -> float | None:
    """How many days ahead an announcement was made, from its attributes: `notice_days`, or
    `effective_at` (an ISO date or moment; a date alone means its start, UTC). None when it
    says neither, or says it in a form that cannot be read. An event tracked through the
    Segment surface has them among its `properties` (ingest keeps those under that key)."""
    properties = attributes.get("properties")
    if (
        isinstance(properties, Mapping)
        and "notice_days" not in attributes
        and "effective_at" not in attributes
    ):
        attributes = properties
    given = attributes.get("notice_days")
    if isinstance(given, int | float) and not isinstance(given, bool):
        return max(float(given), 0.0)
    effective = attributes.get("effective_at")
    if not isinstance(effective, str):
        return None
    try:
        moment = datetime.fromisoformat(effective)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - occurred_at).total_seconds() / 86400, 0.0)
