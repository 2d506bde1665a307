"""Playbook's pure rules: what a machine-checkable service standard is, what makes a playbook
valid, the default playbook every tenant starts with, and the plain-dict form of a draft.

No I/O and no framework here; everything is tested directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, ClassVar, Final, get_type_hints

from relint.taxonomy import CHANNELS, KINDS, STAGES
from relint.values import text_problem

# The default types' keys (scoring's "Acquaintance", ... as `evaluation.type_key` writes
# them); a tenant that renamed or added types in scoring names its own.
RELATIONSHIP_TYPES: Final = ("acquaintance", "fair_weather_friend", "bff", "partner")

# Knapp's model: five stages of coming together, then five of coming apart.
KNAPP_STAGES: Final = STAGES

# The team of a universal precept, which binds the whole company.
COMPANY: Final = "company"

# Ten years: a longer duration is a typo, not a standard.
MAX_DAYS: Final = 3650
MAX_HOURS: Final = MAX_DAYS * 24
MAX_STANDARDS: Final = 500
MAX_NAME_LENGTH: Final = 200
MAX_KEY_LENGTH: Final = 64
MAX_DESCRIPTION_LENGTH: Final = 2000
MAX_PICK: Final = 1000
# What may answer one respond-within standard: a handful of channels and touchpoints.
MAX_ANSWERED_BY: Final = 20
_KEY = re.compile(r"[a-z0-9][a-z0-9_-]*")


@dataclass(frozen=True)
class Touchpoint:
    """A kind of interaction on a channel, named in the canonical taxonomy."""

    channel: str
    kind: str


@dataclass(frozen=True)
class AnswerChannel:
    """What may answer a respond-within trigger: a touch on `channel`, of any kind, or only
    of `kind` when it names one."""

    channel: str
    kind: str | None = None

    def covers(self, other: AnswerChannel) -> bool:
        """Whether every touch `other` counts is counted by this one too."""
        return self.channel == other.channel and self.kind in (None, other.kind)


@dataclass(frozen=True)
class RespondWithin:
    """Every `trigger` gets a first response within `within_hours`. Without `answered_by` a
    response is any outbound touch but marketing's, or a resolved ticket or complaint; with
    it, only such a touch on one of its channels (marketing too, when it names it)."""

    kind: ClassVar[str] = "respond_within"
    trigger: Touchpoint
    within_hours: int
    answered_by: tuple[AnswerChannel, ...] = ()


@dataclass(frozen=True)
class Cadence:
    """At least one `of` touch every `every_days`."""

    kind: ClassVar[str] = "cadence"
    every_days: int
    of: Touchpoint


@dataclass(frozen=True)
class NoticeBefore:
    """The customer hears of an `event` at least `days` before it takes effect."""

    kind: ClassVar[str] = "notice_before"
    days: int
    event: Touchpoint


@dataclass(frozen=True)
class FollowUpAfter:
    """Every `trigger` is followed by a `follow_up` within `within_days`."""

    kind: ClassVar[str] = "follow_up_after"
    trigger: Touchpoint
    within_days: int
    follow_up: Touchpoint


@dataclass(frozen=True)
class Limit:
    """At most `at_most` touches on `channel` in any `per_days` days."""

    kind: ClassVar[str] = "limit"
    at_most: int
    per_days: int
    channel: str


@dataclass(frozen=True)
class Program:
    """Every `every_days`, the `pick` customers in scope most like the tenant's best
    (scoring's profit-improvement potential, then value) are picked, and each is owed a
    `touch` within that period. A customer picked in one period is not picked in the next."""

    kind: ClassVar[str] = "program"
    every_days: int
    pick: int
    touch: Touchpoint


Rule = RespondWithin | Cadence | NoticeBefore | FollowUpAfter | Limit | Program

RULES: Final[dict[str, type[Rule]]] = {
    rule.kind: rule
    for rule in (RespondWithin, Cadence, NoticeBefore, FollowUpAfter, Limit, Program)
}
RULE_KINDS: Final = tuple(RULES)


@dataclass(frozen=True)
class Standard:
    """One written guideline. Empty `relationship_types` or `stages` mean all of them."""

    key: str
    title: str
    team: str
    relationship_types: tuple[str, ...]
    stages: tuple[str, ...]
    rule: Rule
    description: str = ""


@dataclass(frozen=True)
class PlaybookDraft:
    """A playbook as written, before it is published as a tenant's next version."""

    name: str
    standards: tuple[Standard, ...]


@dataclass(frozen=True)
class Problem:
    """What is wrong with a draft, and where: e.g. standards[2].rule.within_hours."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class InvalidPlaybook(ValueError):
    """A draft that cannot be read or published; `problems` says every reason."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


# Validation


def validate(
    draft: PlaybookDraft, relationship_types: Sequence[str] = RELATIONSHIP_TYPES
) -> list[Problem]:
    """Every problem of the draft, its standards' types checked against the tenant's
    `relationship_types` (keys); an empty list means it can be published."""
    problems = list(_text_problems(draft.name, "name", MAX_NAME_LENGTH))
    if not draft.standards:
        problems.append(Problem("standards", "a playbook needs at least one standard"))
    if len(draft.standards) > MAX_STANDARDS:
        problems.append(Problem("standards", f"at most {MAX_STANDARDS} standards"))
    first_at: dict[str, int] = {}
    for index, standard in enumerate(draft.standards):
        path = f"standards[{index}]"
        problems.extend(_standard_problems(standard, path, relationship_types))
        if standard.key in first_at:
            problems.append(
                Problem(
                    f"{path}.key",
                    f"duplicate key {standard.key!r}, first used by "
                    f"standards[{first_at[standard.key]}]",
                )
            )
        first_at.setdefault(standard.key, index)
    if not problems:  # consistency is judged between standards that are each well formed
        problems.extend(_consistency_problems(draft.standards))
    return problems


def _overlap(a: Standard, b: Standard) -> bool:
    """Whether some customer can be in the scope of both standards."""

    def meet(x: tuple[str, ...], y: tuple[str, ...]) -> bool:
        return not x or not y or bool(set(x) & set(y))

    return meet(a.relationship_types, b.relationship_types) and meet(a.stages, b.stages)


def _subject(rule: Rule) -> tuple[str, object] | None:
    """What a rule is about, for rules that must not be given twice with different
    parameters for the same customer: the trigger, the event or the touch it counts."""
    match rule:
        case RespondWithin(trigger, _):
            return (rule.kind, trigger)
        case FollowUpAfter(trigger, _, follow_up):
            return (rule.kind, (trigger, follow_up))
        case NoticeBefore(_, event):
            return (rule.kind, event)
        case Cadence(_, of):
            return (rule.kind, of)
        case Limit(_, per_days, channel):
            return (rule.kind, (channel, per_days))
    return None


def _consistency_problems(standards: Sequence[Standard]) -> Iterator[Problem]:
    """Standards that contradict each other (the same subject with different parameters for
    the same customers; a cadence more frequent than a limit on its channel allows) and
    follow-ups that trigger each other in a circle."""
    for i, a in enumerate(standards):
        for j in range(i + 1, len(standards)):
            b = standards[j]
            if not _overlap(a, b):
                continue
            subject = _subject(a.rule)
            if subject is not None and subject == _subject(b.rule) and a.rule != b.rule:
                yield Problem(
                    f"standards[{j}].rule",
                    f"conflicts with standards[{i}] ({a.key!r}): both judge the same "
                    f"{a.rule.kind.replace('_', ' ')} for the same customers with different "
                    "parameters",
                )
            for x, y, at, other in ((a, b, i, j), (b, a, j, i)):
                if isinstance(x.rule, Cadence) and isinstance(y.rule, Limit):
                    needed = -(-y.rule.per_days // x.rule.every_days)  # ceiling
                    if x.rule.of.channel == y.rule.channel and needed > y.rule.at_most:
                        yield Problem(
                            f"standards[{at}].rule",
                            f"cannot be kept together with standards[{other}]: "
                            f"one asks for a {x.rule.of.channel} touch every "
                            f"{x.rule.every_days} days ({needed} in {y.rule.per_days} days), "
                            f"the other allows at most {y.rule.at_most}",
                        )
    yield from _circles(standards)


def _circles(standards: Sequence[Standard]) -> Iterator[Problem]:
    """Follow-ups whose follow-up is another's trigger, round to the first: each would
    demand the next for ever."""
    edges: dict[int, list[int]] = {}
    for i, a in enumerate(standards):
        if not isinstance(a.rule, FollowUpAfter):
            continue
        edges[i] = [
            j
            for j, b in enumerate(standards)
            if isinstance(b.rule, FollowUpAfter)
            and b.rule.trigger == a.rule.follow_up
            and _overlap(a, b)
        ]
    reported: set[frozenset[int]] = set()
    for start in edges:
        path = _path_back(start, edges)
        if path is not None and frozenset(path) not in reported:
            reported.add(frozenset(path))
            chain = " -> ".join(f"standards[{k}]" for k in [*path, path[0]])
            yield Problem(
                f"standards[{path[0]}].rule",
                f"circular follow-ups: {chain}; each follow-up triggers the next for ever",
            )


def _path_back(start: int, edges: dict[int, list[int]]) -> list[int] | None:
    """A path from `start` through the follow-up edges back to `start`, if any."""
    stack: list[tuple[int, list[int]]] = [(start, [start])]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        for following in edges.get(node, []):
            if following == start:
                return path
            if following not in seen:
                seen.add(following)
                stack.append((following, [*path, following]))
    return None


def _standard_problems(
    standard: Standard, path: str, relationship_types: Sequence[str]
) -> Iterator[Problem]:
    if not _KEY.fullmatch(standard.key) or len(standard.key) > MAX_KEY_LENGTH:
        yield Problem(
            f"{path}.key",
            f"must be 1 to {MAX_KEY_LENGTH} lowercase letters, digits, '_' or '-', "
            "starting with a letter or digit",
        )
    yield from _text_problems(standard.title, f"{path}.title", MAX_NAME_LENGTH)
    yield from _text_problems(standard.team, f"{path}.team", MAX_KEY_LENGTH)
    yield from _names_problems(
        standard.relationship_types,
        f"{path}.relationship_types",
        relationship_types,
        "relationship type",
    )
    yield from _names_problems(standard.stages, f"{path}.stages", KNAPP_STAGES, "stage")
    yield from _text_problems(
        standard.description, f"{path}.description", MAX_DESCRIPTION_LENGTH, may_be_empty=True
    )
    yield from _rule_problems(standard.rule, f"{path}.rule")


def _text_problems(
    value: str, path: str, max_length: int, *, may_be_empty: bool = False
) -> Iterator[Problem]:
    if not value.strip() and not may_be_empty:
        yield Problem(path, "must not be empty")
    elif len(value) > max_length:
        yield Problem(path, f"at most {max_length} characters")
    elif (unstorable := text_problem(value)) is not None:
        # Titles reach stored violations and obligations: the worker would fail on them.
        yield Problem(path, unstorable)


def _names_problems(
    names: Sequence[str], path: str, known: Sequence[str], what: str
) -> Iterator[Problem]:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name not in known:
            yield Problem(f"{path}[{index}]", f"unknown {what} {name!r}; known: {', '.join(known)}")
        elif name in seen:
            yield Problem(f"{path}[{index}]", f"{name!r} is listed twice")
        seen.add(name)


def _rule_problems(rule: Rule, path: str) -> Iterator[Problem]:
    if rule.kind not in RULES:
        yield Problem(f"{path}.kind", f"unknown rule kind {rule.kind!r}; known: {_known_rules()}")
        return
    for field in fields(rule):
        value = getattr(rule, field.name)
        at = f"{path}.{field.name}"
        if isinstance(value, Touchpoint):
            yield from _touchpoint_problems(value, at)
        elif field.name == "answered_by":
            yield from _answered_by_problems(value, at)
        elif field.name == "channel":
            if value not in CHANNELS:
                yield Problem(at, f"unknown channel {value!r}; known: {', '.join(CHANNELS)}")
        elif field.name == "at_most":
            if value < 0:
                yield Problem(at, "must not be negative")
        elif field.name == "pick":
            if not 1 <= value <= MAX_PICK:
                yield Problem(at, f"must be 1 to {MAX_PICK}")
        elif field.name.endswith("hours"):
            yield from _duration_problems(value, at, MAX_HOURS, "hours")
        elif field.name.endswith("days"):
            yield from _duration_problems(value, at, MAX_DAYS, "days")


def _duration_problems(value: int, path: str, maximum: int, unit: str) -> Iterator[Problem]:
    if value <= 0:
        yield Problem(path, "must be positive")
    elif value > maximum:
        yield Problem(path, f"at most {maximum} {unit} ({MAX_DAYS} days)")


def _touchpoint_problems(touchpoint: Touchpoint, path: str) -> Iterator[Problem]:
    if touchpoint.channel not in CHANNELS:
        yield Problem(
            f"{path}.channel",
            f"unknown channel {touchpoint.channel!r}; known: {', '.join(CHANNELS)}",
        )
    elif touchpoint.kind not in KINDS[touchpoint.channel]:
        yield Problem(
            f"{path}.kind",
            f"{touchpoint.kind!r} is not a kind of channel {touchpoint.channel!r}; "
            f"allowed: {', '.join(KINDS[touchpoint.channel])}",
        )


_NO_ANSWER: Final = (
    "must name at least one channel; leave it out for any outbound response but marketing's"
)


def _answered_by_problems(answered_by: Sequence[AnswerChannel], path: str) -> Iterator[Problem]:
    """Known channels and kinds, each counted once: an entry that another already covers
    (a kind of a channel listed whole) is reported at the narrower one. None at all is the
    default response (an empty list written out is refused as it is read)."""
    if len(answered_by) > MAX_ANSWERED_BY:
        yield Problem(path, f"at most {MAX_ANSWERED_BY} channels or touchpoints")
    first_at: dict[AnswerChannel, int] = {}
    for index, entry in enumerate(answered_by):
        at = f"{path}[{index}]"
        if entry.channel not in CHANNELS:
            yield Problem(
                f"{at}.channel",
                f"unknown channel {entry.channel!r}; known: {', '.join(CHANNELS)}",
            )
        elif entry.kind is not None and entry.kind not in KINDS[entry.channel]:
            yield Problem(
                f"{at}.kind",
                f"{entry.kind!r} is not a kind of channel {entry.channel!r}; "
                f"allowed: {', '.join(KINDS[entry.channel])}; leave it out for any kind",
            )
        elif entry in first_at:
            yield Problem(at, f"listed twice, first at {path}[{first_at[entry]}]")
        else:
            first_at[entry] = index
    # Each pair of a whole channel and one of its kinds, whichever came first.
    for entry, index in first_at.items():
        whole = first_at.get(AnswerChannel(entry.channel))
        if entry.kind is not None and whole is not None:
            yield Problem(
                f"{path}[{index}]",
                f"already counted: {path}[{whole}] counts every {entry.channel} touch",
            )


def _known_rules() -> str:
    return ", ".join(RULE_KINDS)


# The human sentence of a rule, for standards written without a description


def describe(rule: Rule) -> str:
    match rule:
        case RespondWithin(trigger, within_hours, answered_by):
            by = f" ({answer_words(answered_by)})" if answered_by else ""
            return (
                f"Every {_words(trigger)} gets a first response{by} within "
                f"{_count(within_hours, 'hour')}."
            )
        case Cadence(every_days, of):
            return f"At least one {_words(of)} every {_count(every_days, 'day')}."
        case NoticeBefore(days, event):
            return f"The customer hears of a {_words(event)} {_count(days, 'day')} ahead."
        case FollowUpAfter(trigger, within_days, follow_up):
            return (
                f"Every {_words(trigger)} is followed by a {_words(follow_up)} within "
                f"{_count(within_days, 'day')}."
            )
        case Limit(at_most, per_days, channel):
            return (
                f"No more than {_count(at_most, channel + ' touch')} in {_count(per_days, 'day')}."
            )
        case Program(every_days, pick, touch):
            return (
                f"Every {_count(every_days, 'day')}, the {_count(pick, 'customer')} most like "
                f"the best are picked, and each gets a {_words(touch)} within that time."
            )


def sentence(standard: Standard) -> str:
    """The standard's own description, or the sentence its rule says."""
    return standard.description or describe(standard.rule)


def answer_words(answered_by: Sequence[AnswerChannel]) -> str:
    """What may answer, in words: "a service or email touch, or a sales call"."""
    channels = [a.channel for a in answered_by if a.kind is None]
    kinds = [_words(Touchpoint(a.channel, a.kind)) for a in answered_by if a.kind is not None]
    parts = [f"{_or(channels)} touch"] if channels else []
    parts.extend(kinds)
    return _or([f"{_article(part)} {part}" for part in parts], ", or " if channels[1:] else " or ")


def _or(words: Sequence[str], last: str = " or ") -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])}{last}{words[-1]}"


def _article(words: str) -> str:
    return "an" if words[:1] in ("a", "e", "i", "o", "u") else "a"


def _words(touchpoint: Touchpoint) -> str:
    return f"{touchpoint.channel} {touchpoint.kind.replace('_', ' ')}"


def _count(n: int, unit: str) -> str:
    if n == 1:
        return f"1 {unit}"
    return f"{n} {unit}es" if unit.endswith("ch") else f"{n} {unit}s"


# Plain dicts, for JSON bodies, stored documents and YAML files


def draft_to_dict(draft: PlaybookDraft) -> dict[str, Any]:
    return {"name": draft.name, "standards": [standard_to_dict(s) for s in draft.standards]}


def standard_to_dict(standard: Standard) -> dict[str, Any]:
    return {
        "key": standard.key,
        "title": standard.title,
        "team": standard.team,
        "relationship_types": list(standard.relationship_types),
        "stages": list(standard.stages),
        "rule": rule_to_dict(standard.rule),
        "description": standard.description,
    }


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    """The rule's kind and parameters; an optional one left at its default is left out, so
    a rule written before it existed reads and writes exactly as it did."""
    data: dict[str, Any] = {"kind": rule.kind}
    for field in fields(rule):
        value = getattr(rule, field.name)
        if field.default is not MISSING and value == field.default:
            continue
        if field.name == "answered_by":
            data[field.name] = [_answer_channel_to_dict(a) for a in value]
        else:
            data[field.name] = asdict(value) if isinstance(value, Touchpoint) else value
    return data


def _answer_channel_to_dict(answer: AnswerChannel) -> dict[str, str]:
    if answer.kind is None:
        return {"channel": answer.channel}
    return {"channel": answer.channel, "kind": answer.kind}


def draft_from_dict(data: object) -> PlaybookDraft:
    """Reads a draft from plain data; raises InvalidPlaybook naming every misshapen field.

    It checks shape only (fields, types, rule kinds); `validate` judges the content.
    """
    problems: list[Problem] = []
    given = _fields(data, "", {"name", "standards"}, set(), problems)
    name = _text(given, "name", "", problems)
    standards: list[Standard] = []
    raw_standards = given.get("standards", [])
    if isinstance(raw_standards, list):
        for index, item in enumerate(raw_standards):
            standard = _standard(item, f"standards[{index}]", problems)
            if standard is not None:
                standards.append(standard)
    else:
        problems.append(Problem("standards", "must be a list"))
    if problems:
        raise InvalidPlaybook(problems)
    return PlaybookDraft(name=name, standards=tuple(standards))


def _standard(data: object, path: str, problems: list[Problem]) -> Standard | None:
    given = _fields(
        data,
        path,
        {"key", "title", "team", "rule"},
        {"relationship_types", "stages", "description"},
        problems,
    )
    if not given:
        return None
    rule = _rule(given["rule"], f"{path}.rule", problems) if "rule" in given else None
    key = _text(given, "key", path, problems)
    title = _text(given, "title", path, problems)
    team = _text(given, "team", path, problems)
    relationship_types = _names(given, "relationship_types", path, problems)
    stages = _names(given, "stages", path, problems)
    description = _text(given, "description", path, problems)
    if rule is None:
        return None
    return Standard(key, title, team, relationship_types, stages, rule, description)


def _rule(data: object, path: str, problems: list[Problem]) -> Rule | None:
    if not isinstance(data, Mapping):
        problems.append(Problem(path, "must be an object"))
        return None
    kind = data.get("kind")
    if kind is None:
        problems.append(Problem(f"{path}.kind", f"required; one of {_known_rules()}"))
        return None
    rule = RULES.get(kind) if isinstance(kind, str) else None
    if rule is None:
        problems.append(
            Problem(f"{path}.kind", f"unknown rule kind {kind!r}; known: {_known_rules()}")
        )
        return None
    names = [field.name for field in fields(rule)]
    required = {field.name for field in fields(rule) if field.default is MISSING}
    given = _fields(data, path, {"kind", *required}, set(names) - required, problems)
    hints = get_type_hints(rule)
    values: dict[str, Any] = {}
    for name in (name for name in names if name in given):
        if hints[name] is Touchpoint:
            values[name] = _touchpoint(given[name], f"{path}.{name}", problems)
        elif hints[name] is int:
            values[name] = _whole(given, name, path, problems)
        elif name == "answered_by":
            values[name] = _answer_channels(given[name], f"{path}.{name}", problems)
        else:
            values[name] = _text(given, name, path, problems)
    # A missing field is already reported; without it there is no rule to build.
    return rule(**values) if required <= values.keys() else None


def _touchpoint(data: object, path: str, problems: list[Problem]) -> Touchpoint:
    given = _fields(data, path, {"channel", "kind"}, set(), problems)
    return Touchpoint(
        channel=_text(given, "channel", path, problems),
        kind=_text(given, "kind", path, problems),
    )


def _answer_channels(data: object, path: str, problems: list[Problem]) -> tuple[AnswerChannel, ...]:
    if not isinstance(data, list):
        problems.append(Problem(path, "must be a list of {channel, kind}, kind optional"))
        return ()
    if not data:
        # Nothing would answer: say so rather than read it as the default response.
        problems.append(Problem(path, _NO_ANSWER))
        return ()
    found = []
    for index, item in enumerate(data):
        at = f"{path}[{index}]"
        given = _fields(item, at, {"channel"}, {"kind"}, problems)
        if given:
            kind = _text(given, "kind", at, problems) if "kind" in given else None
            found.append(AnswerChannel(_text(given, "channel", at, problems), kind))
    return tuple(found)


def _fields(
    data: object, path: str, required: set[str], optional: set[str], problems: list[Problem]
) -> Mapping[str, Any]:
    """The object at `path`, after reporting its missing and unknown fields."""
    if not isinstance(data, Mapping):
        problems.append(Problem(path or "(draft)", "must be an object"))
        return {}
    for name in sorted(required - set(data)):
        problems.append(Problem(_at(path, name), "required"))
    for name in data:
        if name not in required and name not in optional:
            problems.append(Problem(_at(path, str(name)), "unknown field"))
    return data


def _text(given: Mapping[str, Any], name: str, path: str, problems: list[Problem]) -> str:
    value = given.get(name, "")
    if not isinstance(value, str):
        problems.append(Problem(_at(path, name), "must be a string"))
        return ""
    return value


def _whole(given: Mapping[str, Any], name: str, path: str, problems: list[Problem]) -> int:
    value = given[name]
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(Problem(_at(path, name), "must be a whole number"))
        return 0
    return value


def _names(
    given: Mapping[str, Any], name: str, path: str, problems: list[Problem]
) -> tuple[str, ...]:
    value = given.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append(Problem(_at(path, name), "must be a list of strings"))
        return ()
    return tuple(value)


def _at(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# The playbook of a tenant that has not published one

DEFAULT_PLAYBOOK: Final = PlaybookDraft(
    name="Default playbook",
    standards=(
        Standard(
            key="answer-complaints",
            title="Answer every complaint within a day",
            team=COMPANY,
            relationship_types=(),
            stages=(),
            rule=RespondWithin(Touchpoint("service", "complaint"), within_hours=24),
            description="Whoever hears a complaint, from any customer, sees that it gets a "
            "first answer within 24 hours.",
        ),
        Standard(
            key="first-response",
            title="First response to BFF and Partner tickets within 4 hours",
            team="service",
            relationship_types=("bff", "partner"),
            stages=(),
            rule=RespondWithin(Touchpoint("service", "ticket_opened"), within_hours=4),
            description="A service ticket opened by a BFF or a Partner gets its first "
            "response within 4 hours.",
        ),
        Standard(
            key="partner-business-review",
            title="A business review with every Partner every 90 days",
            team="sales",
            relationship_types=("partner",),
            stages=(),
            rule=Cadence(every_days=90, of=Touchpoint("sales", "business_review")),
            description="Every Partner has a business review with us at least every 90 days.",
        ),
        Standard(
            key="price-change-notice",
            title="60 days' notice of a price change",
            team="finance",
            relationship_types=("bff", "partner"),
            stages=(),
            rule=NoticeBefore(days=60, event=Touchpoint("finance", "price_change")),
            description="BFFs and Partners hear of a price change at least 60 days before it "
            "takes effect; a surprise feels like betrayal.",
        ),
        Standard(
            key="complaint-check-in",
            title="A check-in within 2 days after a resolved complaint",
            team="service",
            relationship_types=(),
            stages=(),
            rule=FollowUpAfter(
                trigger=Touchpoint("service", "complaint_resolved"),
                within_days=2,
                follow_up=Touchpoint("service", "check_in"),
            ),
            description="Once a complaint is resolved, the customer gets a check-in within "
            "2 days to make sure it stays resolved.",
        ),
        Standard(
            key="acquaintance-marketing-limit",
            title="No more than 3 marketing touches a week for Acquaintances",
            team="marketing",
            relationship_types=("acquaintance",),
            stages=(),
            rule=Limit(at_most=3, per_days=7, channel="marketing"),
            description="Acquaintances like the service as it is; more than 3 marketing "
            "touches in a week turns it into noise.",
        ),
        Standard(
            key="acquaintance-conversion",
            title="Each quarter, a conversion program call for 5 picked Acquaintances",
            team="sales",
            relationship_types=("acquaintance",),
            stages=(),
            rule=Program(every_days=90, pick=5, touch=Touchpoint("sales", "call")),
            description="Each quarter the five Acquaintances who look most like our best "
            "customers are picked for the conversion program that recruits BFFs and "
            "Partners, and each gets a sales call within the quarter.",
        ),
        Standard(
            key="term-change-notice",
            title="60 days' notice of a change of terms",
            team="finance",
            relationship_types=("bff", "partner"),
            stages=(),
            rule=NoticeBefore(days=60, event=Touchpoint("finance", "term_change")),
            description="BFFs and Partners hear of a change to their contract's terms at "
            "least 60 days before it takes effect.",
        ),
    ),
)
