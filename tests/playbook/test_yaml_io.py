"""Playbook YAML files: the round trip, and every problem reported at its line and column."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from playbook.cli import main as playbook_cli
from playbook.domain import (
    DEFAULT_PLAYBOOK,
    KNAPP_STAGES,
    RELATIONSHIP_TYPES,
    AnswerChannel,
    InvalidPlaybook,
    PlaybookDraft,
    RespondWithin,
    Standard,
    Touchpoint,
    validate,
)
from playbook.yaml_io import MAX_DEPTH, MAX_YAML_BYTES, dump_draft, load_draft
from relint.taxonomy import CHANNELS
from tests.playbook.strategies import rules

# Line numbers, which the tests below point into:
#  1 name   2 standards   3 key   4 title   5 team   6 relationship_types   7 stages
#  8 bonding   9 integrating   10 rule   11 kind   12 trigger   13 within_hours
VALID = """\
name: Ours
standards:
  - key: first-response
    title: First response within 4 hours
    team: service
    relationship_types: [bff, partner]
    stages:
      - bonding
      - integrating
    rule:
      kind: respond_within
      trigger: {channel: service, kind: ticket_opened}
      within_hours: 4
"""


def changed(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new)


def problems(text: str | bytes) -> list[tuple[str, str]]:
    with pytest.raises(InvalidPlaybook) as invalid:
        load_draft(text)
    return [(p.path, p.reason) for p in invalid.value.problems]


def test_a_valid_file_loads_from_text_and_bytes() -> None:
    read = load_draft(VALID)
    assert read == load_draft(VALID.encode())
    [only] = read.standards
    assert only == Standard(
        key="first-response",
        title="First response within 4 hours",
        team="service",
        relationship_types=("bff", "partner"),
        stages=("bonding", "integrating"),
        rule=RespondWithin(Touchpoint("service", "ticket_opened"), within_hours=4),
    )


def test_the_default_playbook_round_trips_through_a_readable_file() -> None:
    text = dump_draft(DEFAULT_PLAYBOOK)
    lines = text.splitlines()
    assert lines[0] == (
        "# Playbook: Default playbook. "
        "Edit, check with `playbook check FILE`, publish with `playbook import FILE`"
    )
    assert lines[1:5] == [
        "name: Default playbook",
        "standards:",
        "  - key: answer-complaints",
        "    title: Answer every complaint within a day",
    ]
    assert "    relationship_types: []" in lines
    assert "      within_hours: 24" in lines
    assert load_draft(text) == DEFAULT_PLAYBOOK


def test_awkward_text_round_trips() -> None:
    first = DEFAULT_PLAYBOOK.standards[0]
    awkward = PlaybookDraft(
        name="Spielbuch für Ärger: «ja»\n# not a comment",
        standards=(
            replace(first, title="Ответ на жалобу ☃ 🚀", team="yes"),
            replace(
                first,
                key="second",
                title="  padded: 'quoted' \"twice\" # hash  ",
                team="null",
                description="line one: here\n\n  indented # not a comment\ntrailing space \n",
            ),
            replace(first, key="third", title="on", description="\x85 odd\u2028breaks\r\n\t"),
        ),
    )
    text = dump_draft(awkward)
    assert text.startswith("# Playbook: Spielbuch für Ärger: «ja» # not a comment. Edit")
    assert load_draft(text) == awkward


# Any text a store can hold: not the NUL character, not a lone surrogate.
texts = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=60)
lines = texts.filter(str.strip)
standards = st.builds(
    Standard,
    key=st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True),
    title=lines,
    team=lines,
    relationship_types=st.lists(st.sampled_from(RELATIONSHIP_TYPES), unique=True).map(tuple),
    stages=st.lists(st.sampled_from(KNAPP_STAGES), unique=True).map(tuple),
    rule=rules,
    description=texts,
)
drafts = st.builds(
    PlaybookDraft,
    name=lines,
    standards=st.lists(standards, min_size=1, max_size=5, unique_by=lambda s: s.key).map(tuple),
)


@settings(max_examples=300)
@given(drafts)
def test_any_valid_draft_round_trips_through_yaml(draft: PlaybookDraft) -> None:
    assume(not validate(draft))  # generated standards may contradict each other
    assert load_draft(dump_draft(draft)) == draft


# VALID, answered by service or a sales call: lines 14 to 17.
ANSWERED = (
    VALID
    + """\
      answered_by:
        - channel: service
        - channel: sales
          kind: call
"""
)


def test_what_answers_round_trips_and_is_left_out_when_not_named() -> None:
    [read] = load_draft(ANSWERED).standards
    assert read.rule == RespondWithin(
        Touchpoint("service", "ticket_opened"),
        within_hours=4,
        answered_by=(AnswerChannel("service"), AnswerChannel("sales", "call")),
    )
    text = dump_draft(PlaybookDraft("Ours", (read,)))
    assert text.split("      within_hours: 4\n")[1].startswith(
        "      answered_by:\n        - channel: service\n        - channel: sales\n"
        "          kind: call\n    description: ''\n"
    )
    assert load_draft(text) == load_draft(ANSWERED)
    # Without it (every playbook written before it existed), the file does not mention it.
    assert "answered_by" not in dump_draft(DEFAULT_PLAYBOOK)
    plain = load_draft(VALID)
    assert "answered_by" not in dump_draft(plain)
    assert load_draft(dump_draft(plain)) == plain


def test_what_answers_is_checked_and_each_problem_located() -> None:
    assert problems(ANSWERED.replace("channel: service\n", "channel: phone\n")) == [
        (
            "standards[0].rule.answered_by[0].channel",
            "line 15, column 20: unknown channel 'phone'; known: " + ", ".join(CHANNELS),
        )
    ]
    [(path, reason)] = problems(ANSWERED.replace("kind: call", "kind: ticket_opened"))
    assert path == "standards[0].rule.answered_by[1].kind"
    assert reason.startswith("line 17, column 17: 'ticket_opened' is not a kind of channel 'sales'")
    twice = ANSWERED + "        - channel: service\n"
    assert problems(twice) == [
        (
            "standards[0].rule.answered_by[2]",
            "line 18, column 11: listed twice, first at standards[0].rule.answered_by[0]",
        )
    ]
    empty = VALID + "      answered_by: []\n"
    assert problems(empty) == [
        (
            "standards[0].rule.answered_by",
            "line 14, column 20: must name at least one channel; leave it out for any "
            "outbound response but marketing's",
        )
    ]
    assert problems(VALID + "      answered_by:\n") == [
        (
            "standards[0].rule.answered_by",
            "line 14, column 19: must be a list of {channel, kind}, kind optional",
        )
    ]


def test_a_wrong_duration_is_reported_at_its_value() -> None:
    assert problems(changed("within_hours: 4", "within_hours: 0")) == [
        ("standards[0].rule.within_hours", "line 13, column 21: must be positive")
    ]


def test_an_unknown_stage_is_reported_at_its_list_item() -> None:
    [(path, reason)] = problems(changed("- integrating", "- sulking"))
    assert path == "standards[0].stages[1]"
    assert reason.startswith("line 9, column 9: unknown stage 'sulking'; known: initiating")


def test_a_missing_field_is_reported_at_the_mapping_that_lacks_it() -> None:
    assert problems(changed("    team: service\n", "")) == [
        ("standards[0].team", "line 3, column 5: required")
    ]
    assert problems(changed("{channel: service, kind: ticket_opened}", "{channel: service}")) == [
        ("standards[0].rule.trigger.kind", "line 12, column 16: required")
    ]
    assert problems(changed("name: Ours\n", "")) == [("name", "line 1, column 1: required")]


def test_an_unknown_rule_kind_is_reported_at_the_kind() -> None:
    [(path, reason)] = problems(changed("kind: respond_within", "kind: vibes"))
    assert path == "standards[0].rule.kind"
    assert reason.startswith("line 11, column 13: unknown rule kind 'vibes'; known: ")


def test_content_and_shape_problems_point_at_their_nodes() -> None:
    assert problems(changed("stages:\n      - bonding\n      - integrating\n", "stages: 3\n")) == [
        ("standards[0].stages", "line 7, column 13: must be a list of strings")
    ]
    assert problems("name: Empty\nstandards: []\n") == [
        ("standards", "line 2, column 12: a playbook needs at least one standard")
    ]
    assert problems(changed("    title:", "    colour: blue\n    title:")) == [
        ("standards[0].colour", "line 4, column 13: unknown field")
    ]
    assert problems("- just\n- a list\n") == [("(draft)", "line 1, column 1: must be an object")]
    assert problems("# only a comment\n") == [("(draft)", "line 1, column 1: must be an object")]


TEXT = "must be a string"
WHOLE = "must be a whole number"


@pytest.mark.parametrize(
    ("old", "new", "path", "reason"),
    [
        # YAML 1.1 reads an unquoted yes, no, on or off as a boolean, which is not text.
        ("title: First response within 4 hours", "title: yes", "title", f"column 12: {TEXT}"),
        ("team: service", "team: off", "team", f"column 11: {TEXT}"),
        ("team: service", "team: 1:30", "team", f"column 11: {TEXT}"),
        ("team: service", "team:", "team", f"column 10: {TEXT}"),
        ("within_hours: 4", 'within_hours: "4"', "rule.within_hours", f"column 21: {WHOLE}"),
        ("within_hours: 4", "within_hours: 4.0", "rule.within_hours", f"column 21: {WHOLE}"),
        ("within_hours: 4", "within_hours: true", "rule.within_hours", f"column 21: {WHOLE}"),
    ],
)
def test_scalars_take_the_type_yaml_resolves(old: str, new: str, path: str, reason: str) -> None:
    [(got_path, got_reason)] = problems(changed(old, new))
    assert got_path == f"standards[0].{path}"
    assert got_reason.endswith(reason)
    assert got_reason.startswith(f"line {VALID.split(old)[0].count(chr(10)) + 1}, ")


def test_quoted_yes_and_yaml_ints_read_as_written() -> None:
    text = changed("title: First response within 4 hours", "title: 'yes'")
    [only] = load_draft(text.replace("within_hours: 4", "within_hours: 0x18")).standards
    assert only.title == "yes"
    assert only.rule == RespondWithin(Touchpoint("service", "ticket_opened"), within_hours=24)


def test_a_syntax_error_is_one_problem_at_its_line() -> None:
    assert problems(changed("[bff, partner]", "[bff, partner")) == [
        (
            "(yaml)",
            "line 7, column 11: while parsing a flow sequence, expected ',' or ']', but got ':'",
        )
    ]


def test_duplicate_keys_are_refused_at_the_second() -> None:
    assert problems(changed("    team: service\n", "    team: service\n    team: sales\n")) == [
        ("standards[0].team", "line 6, column 5: duplicate key 'team', first at line 5")
    ]


def test_keys_must_be_text() -> None:
    assert problems(changed("    team: service\n", "    team: service\n    yes: 1\n")) == [
        ("standards[0]", "line 6, column 5: keys must be text; quote it")
    ]


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ('a: &a ["lol", "lol"]\nb: &b [*a, *a]\nc: &c [*b, *b]\n', 1, 4),
        ("name: Ours\nstandards: *undefined\n", 2, 12),
        ("base: &base {team: sales}\nother:\n  <<: *base\n", 1, 7),
    ],
)
def test_anchors_and_aliases_are_refused(text: str, line: int, column: int) -> None:
    assert problems(text) == [
        ("(yaml)", f"line {line}, column {column}: aliases and anchors are not allowed")
    ]


def test_tags_and_deep_nesting_are_refused() -> None:
    assert problems(changed("within_hours: 4", "within_hours: !!int 4")) == [
        ("(yaml)", "line 13, column 21: tags are not allowed; quote a value to make it text")
    ]
    assert problems("a: " + "[" * 100) == [
        ("(yaml)", f"line 1, column {MAX_DEPTH + 3}: at most {MAX_DEPTH} levels of nesting")
    ]


def test_a_file_too_large_is_refused_where_it_passes_the_limit() -> None:
    text = VALID + "#" * MAX_YAML_BYTES
    column = MAX_YAML_BYTES - len(VALID.encode()) + 1
    assert problems(text) == [
        (
            "(yaml)",
            f"line 14, column {column}: a playbook file is at most {MAX_YAML_BYTES} bytes; "
            f"this one has {len(text)}",
        )
    ]


def test_two_documents_are_refused_at_the_second() -> None:
    assert problems(VALID + "---\n" + VALID) == [
        (
            "(yaml)",
            "line 14, column 1: expected a single document in the stream, "
            "but found another document",
        )
    ]


def test_unreadable_characters_are_refused_at_their_place() -> None:
    assert problems(changed("team: service", "team: serv\x07ice").encode()) == [
        ("(yaml)", "line 5, column 15: character #x0007 is not allowed")
    ]
    assert problems(changed("team: service", "team: servé").encode("latin-1")) == [
        ("(yaml)", "line 5, column 15: the file is not UTF-8")
    ]
    assert problems(changed("within_hours: 4", "within_hours: " + "4" * 5000)) == [
        ("standards[0].rule.within_hours", "line 13, column 21: too many digits")
    ]


def test_check_takes_the_tenants_own_types(tmp_path: Path) -> None:
    """`playbook check` knows the default types; a tenant's own are named with --type."""
    respond = DEFAULT_PLAYBOOK.standards[1]
    path = tmp_path / "playbook.yaml"
    path.write_text(
        dump_draft(PlaybookDraft("Ours", (replace(respond, relationship_types=("whale",)),)))
    )
    runner = CliRunner()
    refused = runner.invoke(playbook_cli, ["check", str(path)])
    assert refused.exit_code == 1
    assert "unknown relationship type 'whale'" in refused.output
    accepted = runner.invoke(playbook_cli, ["check", str(path), "--type", "Whale"])
    assert accepted.exit_code == 0, accepted.output
    assert accepted.output.endswith("'Ours', 1 standards, no problems\n")
