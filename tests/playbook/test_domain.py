"""Playbook's pure rules: validation at its boundaries, the default playbook, the dict form."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from playbook.domain import (
    DEFAULT_PLAYBOOK,
    KNAPP_STAGES,
    MAX_ANSWERED_BY,
    MAX_DAYS,
    MAX_HOURS,
    MAX_PICK,
    RELATIONSHIP_TYPES,
    RULE_KINDS,
    AnswerChannel,
    Cadence,
    FollowUpAfter,
    InvalidPlaybook,
    Limit,
    NoticeBefore,
    PlaybookDraft,
    Problem,
    Program,
    RespondWithin,
    Rule,
    Standard,
    Touchpoint,
    describe,
    draft_from_dict,
    draft_to_dict,
    validate,
)
from relint.taxonomy import CHANNELS, KINDS
from tests.playbook.strategies import rules

TICKET = Touchpoint("service", "ticket_opened")


def standard(key: str = "s1", rule: Rule | None = None, **changes: Any) -> Standard:
    base = Standard(
        key=key,
        title="A standard",
        team="service",
        relationship_types=("bff",),
        stages=(),
        rule=rule or RespondWithin(TICKET, within_hours=4),
    )
    return replace(base, **changes)


def draft(*standards: Standard) -> PlaybookDraft:
    return PlaybookDraft(name="Ours", standards=standards or (standard(),))


def paths(problems: list[Problem]) -> list[str]:
    return [p.path for p in problems]


def test_the_default_playbook_is_valid_and_holds_the_products_standards() -> None:
    assert validate(DEFAULT_PLAYBOOK) == []
    rules = {s.key: s.rule for s in DEFAULT_PLAYBOOK.standards}
    assert rules["first-response"] == RespondWithin(TICKET, within_hours=4)
    assert rules["partner-business-review"] == Cadence(90, Touchpoint("sales", "business_review"))
    assert rules["price-change-notice"] == NoticeBefore(60, Touchpoint("finance", "price_change"))
    assert isinstance(rules["complaint-check-in"], FollowUpAfter)
    assert rules["complaint-check-in"].within_days == 2
    assert rules["acquaintance-marketing-limit"] == Limit(3, 7, "marketing")
    assert rules["acquaintance-conversion"] == Program(90, 5, Touchpoint("sales", "call"))
    assert {s.rule.kind for s in DEFAULT_PLAYBOOK.standards} == set(RULE_KINDS)
    assert any(s.team == "company" for s in DEFAULT_PLAYBOOK.standards)


def test_the_default_playbook_survives_the_dict_and_json_round_trip() -> None:
    plain = draft_to_dict(DEFAULT_PLAYBOOK)
    assert draft_from_dict(plain) == DEFAULT_PLAYBOOK
    assert draft_from_dict(json.loads(json.dumps(plain))) == DEFAULT_PLAYBOOK
    assert plain["standards"][1]["rule"] == {
        "kind": "respond_within",
        "trigger": {"channel": "service", "kind": "ticket_opened"},
        "within_hours": 4,
    }


@pytest.mark.parametrize(
    ("rule", "field", "too_big"),
    [
        (RespondWithin(TICKET, within_hours=1), "within_hours", MAX_HOURS + 1),
        (Cadence(every_days=1, of=TICKET), "every_days", MAX_DAYS + 1),
        (NoticeBefore(days=1, event=TICKET), "days", MAX_DAYS + 1),
        (
            FollowUpAfter(TICKET, within_days=1, follow_up=Touchpoint("service", "check_in")),
            "within_days",
            MAX_DAYS + 1,
        ),
        (Limit(at_most=3, per_days=1, channel="marketing"), "per_days", MAX_DAYS + 1),
        (Program(every_days=1, pick=1, touch=TICKET), "every_days", MAX_DAYS + 1),
        (Program(every_days=90, pick=1, touch=TICKET), "pick", MAX_PICK + 1),
    ],
)
def test_durations_and_picks_are_positive_and_bounded(rule: Any, field: str, too_big: int) -> None:
    path = f"standards[0].rule.{field}"
    assert validate(draft(standard(rule=rule))) == []
    assert validate(draft(standard(rule=replace(rule, **{field: too_big - 1})))) == []
    for bad in (0, -1, too_big):
        problems = validate(draft(standard(rule=replace(rule, **{field: bad}))))
        assert paths(problems) == [path], bad


def test_a_limit_may_be_zero_but_not_negative() -> None:
    assert validate(draft(standard(rule=Limit(0, 7, "marketing")))) == []
    problems = validate(draft(standard(rule=Limit(-1, 7, "marketing"))))
    assert paths(problems) == ["standards[0].rule.at_most"]


def test_types_and_stages_must_be_known_and_listed_once() -> None:
    problems = validate(
        draft(
            standard(
                relationship_types=("bff", "frenemy", "bff"),
                stages=("bonding", "sulking"),
            )
        )
    )
    assert paths(problems) == [
        "standards[0].relationship_types[1]",
        "standards[0].relationship_types[2]",
        "standards[0].stages[1]",
    ]
    assert "frenemy" in problems[0].reason
    assert "twice" in problems[1].reason
    every = standard(relationship_types=RELATIONSHIP_TYPES, stages=KNAPP_STAGES)
    assert validate(draft(every)) == []


def test_rules_reference_canonical_channels_and_kinds() -> None:
    problems = validate(
        draft(
            standard("a", RespondWithin(Touchpoint("sales", "ticket_opened"), 4)),
            standard("b", Cadence(30, Touchpoint("carrier_pigeon", "coo"))),
            standard("c", Limit(3, 7, "fax")),
        )
    )
    assert paths(problems) == [
        "standards[0].rule.trigger.kind",
        "standards[1].rule.of.channel",
        "standards[2].rule.channel",
    ]
    assert "not a kind of channel 'sales'" in problems[0].reason


def test_keys_are_unique_and_teams_names_and_titles_not_empty() -> None:
    problems = validate(
        PlaybookDraft(
            name=" ",
            standards=(
                standard("same"),
                standard("other", team=""),
                standard("same", title=""),
                standard("Not A Key"),
                # What PostgreSQL's text cannot hold; titles reach stored violations.
                standard("nul", title="Call\x00 back", description="\x00"),
            ),
        )
    )
    assert paths(problems) == [
        "name",
        "standards[1].team",
        "standards[2].title",
        "standards[2].key",
        "standards[3].key",
        "standards[4].title",
        "standards[4].description",
    ]
    assert "standards[0]" in problems[3].reason
    assert problems[5].reason == "must not contain the NUL character (\\u0000)"


def test_a_playbook_needs_a_standard() -> None:
    assert paths(validate(PlaybookDraft("Empty", ()))) == ["standards"]


def test_an_unknown_rule_kind_is_named_by_its_path() -> None:
    plain = draft_to_dict(draft())
    plain["standards"][0]["rule"] = {"kind": "vibes", "within_hours": 4}
    with pytest.raises(InvalidPlaybook) as invalid:
        draft_from_dict(plain)
    [problem] = invalid.value.problems
    assert problem.path == "standards[0].rule.kind"
    assert "respond_within" in problem.reason


def test_misshapen_dicts_name_every_field() -> None:
    plain: dict[str, Any] = {
        "name": 7,
        "color": "blue",
        "standards": [
            {"key": "a", "title": "A", "rule": {"kind": "limit", "at_most": True, "per_days": 7}},
            {
                "key": "b",
                "title": "B",
                "team": "sales",
                "stages": "bonding",
                "rule": {
                    "kind": "cadence",
                    "every_days": "90",
                    "of": {"channel": "sales"},
                    "often": 1,
                },
            },
            "not a standard",
        ],
    }
    with pytest.raises(InvalidPlaybook) as invalid:
        draft_from_dict(plain)
    assert sorted(paths(invalid.value.problems)) == sorted(
        [
            "color",
            "name",
            "standards[0].team",
            "standards[0].rule.channel",
            "standards[0].rule.at_most",
            "standards[1].stages",
            "standards[1].rule.often",
            "standards[1].rule.every_days",
            "standards[1].rule.of.kind",
            "standards[2]",
        ]
    )
    with pytest.raises(InvalidPlaybook) as not_an_object:
        draft_from_dict(["a list"])
    assert paths(not_an_object.value.problems) == ["(draft)"]


def test_optional_fields_default_to_every_type_every_stage_and_no_description() -> None:
    read = draft_from_dict(
        {
            "name": "Minimal",
            "standards": [
                {
                    "key": "k",
                    "title": "T",
                    "team": "company",
                    "rule": {"kind": "limit", "at_most": 1, "per_days": 1, "channel": "email"},
                }
            ],
        }
    )
    [only] = read.standards
    assert (only.relationship_types, only.stages, only.description) == ((), (), "")
    assert describe(only.rule) == "No more than 1 email touch in 1 day."


def test_every_rule_has_a_sentence() -> None:
    sentences = [describe(s.rule) for s in DEFAULT_PLAYBOOK.standards]
    assert sentences[1] == "Every service ticket opened gets a first response within 4 hours."
    assert sentences[5] == "No more than 3 marketing touches in 7 days."


# Any character a store can hold: not the NUL character, not a lone surrogate.
STORABLE = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
standards = st.builds(
    Standard,
    key=st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True),
    title=st.text(STORABLE, min_size=1, max_size=40).filter(str.strip),
    team=st.sampled_from(["company", "sales", "service", "marketing"]),
    relationship_types=st.lists(st.sampled_from(RELATIONSHIP_TYPES), unique=True).map(tuple),
    stages=st.lists(st.sampled_from(KNAPP_STAGES), unique=True).map(tuple),
    rule=rules,
    description=st.text(STORABLE, max_size=80),
)


@given(st.lists(standards, min_size=1, max_size=8, unique_by=lambda s: s.key))
def test_any_valid_draft_round_trips_through_json(items: list[Standard]) -> None:
    written = PlaybookDraft(name="Generated", standards=tuple(items))
    # Each generated standard is well formed; together they may contradict each other.
    for problem in validate(written):
        assert problem.reason.startswith(("conflicts", "cannot be kept", "circular")), problem
    assert draft_from_dict(json.loads(json.dumps(draft_to_dict(written)))) == written


def _with(*standards: Standard) -> PlaybookDraft:
    return PlaybookDraft(name="Ours", standards=standards)


def _standard(key: str, rule: Rule, types: tuple[str, ...] = ()) -> Standard:
    return Standard(key, key.title(), "service", types, (), rule)


COMPLAINT = Touchpoint("service", "complaint")
CHECK_IN = Touchpoint("service", "check_in")


def _answering(*answered_by: AnswerChannel) -> Standard:
    return standard(rule=RespondWithin(TICKET, 4, answered_by))


def test_what_answers_names_known_channels_and_their_kinds_each_once() -> None:
    answered = _answering(AnswerChannel("service"), AnswerChannel("sales", "call"))
    assert validate(draft(answered)) == []
    wrong = _answering(
        AnswerChannel("service"),
        AnswerChannel("phone"),
        AnswerChannel("sales", "ticket_resolved"),
        AnswerChannel("sales", "call"),
        AnswerChannel("sales", "call"),
        AnswerChannel("service", "check_in"),
        AnswerChannel("email", ""),
    )
    at = "standards[0].rule.answered_by"
    assert [(p.path, p.reason) for p in validate(draft(wrong))] == [
        (
            f"{at}[1].channel",
            "unknown channel 'phone'; known: marketing, sales, service, social, community, "
            "finance, operations, email",
        ),
        (
            f"{at}[2].kind",
            f"'ticket_resolved' is not a kind of channel 'sales'; allowed: "
            f"{', '.join(KINDS['sales'])}; leave it out for any kind",
        ),
        (f"{at}[4]", f"listed twice, first at {at}[3]"),
        (
            f"{at}[6].kind",
            "'' is not a kind of channel 'email'; allowed: email_sent, "
            "email_received; leave it out for any kind",
        ),
        # A kind of a channel already taken whole, before or after it.
        (f"{at}[5]", f"already counted: {at}[0] counts every service touch"),
    ]
    narrower_first = _answering(AnswerChannel("email", "email_sent"), AnswerChannel("email"))
    [covered] = validate(draft(narrower_first))
    assert (covered.path, covered.reason) == (
        f"{at}[0]",
        f"already counted: {at}[1] counts every email touch",
    )
    every_kind = [AnswerChannel(c, k) for c in CHANNELS for k in KINDS[c]]
    [too_many] = validate(draft(_answering(*every_kind[: MAX_ANSWERED_BY + 1])))
    assert (too_many.path, too_many.reason) == (at, "at most 20 channels or touchpoints")
    assert validate(draft(_answering(*every_kind[:MAX_ANSWERED_BY]))) == []


def test_what_answers_is_read_from_plain_data_and_an_empty_list_is_refused() -> None:
    plain = draft_to_dict(draft())
    rule = plain["standards"][0]["rule"]
    assert "answered_by" not in rule  # left out: the default response, as before
    rule["answered_by"] = [{"channel": "service"}, {"channel": "sales", "kind": "call"}]
    [read] = draft_from_dict(plain).standards
    assert read.rule == RespondWithin(
        TICKET, 4, (AnswerChannel("service", None), AnswerChannel("sales", "call"))
    )
    assert draft_to_dict(draft(read))["standards"][0]["rule"] == rule
    at = "standards[0].rule.answered_by"
    for written, expected in [
        (
            [],
            [
                (
                    at,
                    "must name at least one channel; leave it out for any outbound response "
                    "but marketing's",
                )
            ],
        ),
        ("service", [(at, "must be a list of {channel, kind}, kind optional")]),
        (
            [{"kind": "call"}, "sales", {"channel": "sales", "kind": None, "via": "x"}],
            [
                (f"{at}[0].channel", "required"),
                (f"{at}[1]", "must be an object"),
                (f"{at}[2].via", "unknown field"),
                (f"{at}[2].kind", "must be a string"),
            ],
        ),
    ]:
        rule["answered_by"] = written
        with pytest.raises(InvalidPlaybook) as invalid:
            draft_from_dict(plain)
        assert [(p.path, p.reason) for p in invalid.value.problems] == expected, written
    # Only a respond-within standard has it.
    limit = {"kind": "limit", "at_most": 1, "per_days": 1, "channel": "email"}
    plain["standards"][0]["rule"] = {**limit, "answered_by": [{"channel": "email"}]}
    with pytest.raises(InvalidPlaybook) as not_here:
        draft_from_dict(plain)
    assert paths(not_here.value.problems) == [at]


def test_a_document_stored_before_answered_by_reads_and_writes_back_the_same() -> None:
    """Versions are stored as JSON and a publish equal to the newest makes none: a stored
    respond-within rule without answered_by is written back byte for byte."""
    stored = (
        '{"name": "Ours", "standards": [{"key": "first-response", "title": "Fast", "team": '
        '"service", "relationship_types": ["bff"], "stages": [], "rule": {"kind": '
        '"respond_within", "trigger": {"channel": "service", "kind": "ticket_opened"}, '
        '"within_hours": 4}, "description": ""}]}'
    )
    read = draft_from_dict(json.loads(stored))
    assert read.standards[0].rule == RespondWithin(TICKET, 4, ())
    assert json.dumps(draft_to_dict(read), ensure_ascii=False) == stored


def test_the_sentence_of_a_standard_names_what_answers() -> None:
    assert describe(_answering(AnswerChannel("service"), AnswerChannel("sales", "call")).rule) == (
        "Every service ticket opened gets a first response (a service touch or a sales call) "
        "within 4 hours."
    )
    three = _answering(
        AnswerChannel("operations"), AnswerChannel("email"), AnswerChannel("finance", "refund")
    )
    assert describe(three.rule) == (
        "Every service ticket opened gets a first response (an operations or email touch, or "
        "a finance refund) within 4 hours."
    )


def test_the_same_subject_with_different_parameters_for_the_same_customers_conflicts() -> None:
    fast = _standard("fast", RespondWithin(COMPLAINT, 4), ("bff",))
    slow = _standard("slow", RespondWithin(COMPLAINT, 24))
    [problem] = validate(_with(fast, slow))
    assert problem.path == "standards[1].rule"
    assert problem.reason.startswith("conflicts with standards[0] ('fast'): both judge")
    # Scopes that never meet, or the very same rule twice, are no conflict.
    partners = _standard("slow", RespondWithin(COMPLAINT, 24), ("partner",))
    assert validate(_with(fast, partners)) == []
    assert validate(_with(fast, _standard("again", RespondWithin(COMPLAINT, 4)))) == []
    # Answered by others is another parameter.
    by_service = RespondWithin(COMPLAINT, 4, (AnswerChannel("service"),))
    [other] = validate(_with(fast, _standard("by-service", by_service)))
    assert other.reason.startswith("conflicts with standards[0] ('fast'): both judge")


def test_a_cadence_that_a_limit_forbids_is_refused() -> None:
    daily = _standard("daily", Cadence(1, Touchpoint("marketing", "email_sent")))
    limit = _standard("limit", Limit(3, 7, "marketing"))
    [problem] = validate(_with(daily, limit))
    assert problem.path == "standards[0].rule"
    assert problem.reason == (
        "cannot be kept together with standards[1]: one asks for a marketing touch every 1 "
        "days (7 in 7 days), the other allows at most 3"
    )
    weekly = _standard("weekly", Cadence(7, Touchpoint("marketing", "email_sent")))
    assert validate(_with(weekly, limit)) == []


def test_circular_follow_ups_are_refused() -> None:
    there = _standard("there", FollowUpAfter(COMPLAINT, 2, CHECK_IN))
    back = _standard("back", FollowUpAfter(CHECK_IN, 2, COMPLAINT))
    [problem] = validate(_with(there, back))
    assert problem.reason == (
        "circular follow-ups: standards[0] -> standards[1] -> standards[0]; each follow-up "
        "triggers the next for ever"
    )
    [itself] = validate(_with(_standard("self", FollowUpAfter(CHECK_IN, 2, CHECK_IN))))
    assert itself.reason.startswith("circular follow-ups: standards[0] -> standards[0]")
    assert validate(_with(there)) == []
    assert validate(DEFAULT_PLAYBOOK) == []
