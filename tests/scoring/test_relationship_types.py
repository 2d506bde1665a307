"""Relationship types: the default rules recover the demo company's hidden types, and a
tenant's own rules are validated with every problem named."""

from __future__ import annotations

from collections import Counter

import pytest

from scoring.relationship_types import (
    DEFAULT_RULES,
    Distribution,
    Features,
    InvalidTypeRules,
    classify,
    rules_from_config,
    rules_to_config,
)
from tests.scoring.demo_support import demo, value_map

HIDDEN = {
    "acquaintance": "Acquaintance",
    "fair_weather_friend": "Fair-Weather Friend",
    "bff": "BFF",
    "partner": "Partner",
}


@pytest.mark.parametrize(("customers", "seed"), [(300, 7), (200, 11)])
def test_the_default_rules_recover_the_hidden_types(customers: int, seed: int) -> None:
    truth, items = demo(customers, seed)
    end = truth.config.end
    active = [c for c in truth.customers if not c.churned and c.external_id in items]
    placed = value_map(items).features_at(end, [c.external_id for c in active])
    distribution = Distribution.of(placed.values())
    outcome = Counter(
        (HIDDEN[c.relationship_type], classify(placed[c.external_id], distribution).name)
        for c in active
    )
    right = sum(n for (hidden, found), n in outcome.items() if hidden == found)
    assert right / sum(outcome.values()) >= 0.85, outcome
    for name in HIDDEN.values():  # every type is found, and mostly right
        found = sum(n for (_, f), n in outcome.items() if f == name)
        assert outcome[(name, name)] >= 0.6 * found, (name, outcome)


def test_a_reason_names_the_thresholds() -> None:
    people = [Features(10, revenue, 0, revenue, 0) for revenue in range(0, 1000, 10)]
    call = classify(Features(10, 990, 0, 990, 0), Distribution.of(people))
    assert call.name == "BFF"
    assert call.reason == "revenue in the top 35% (990 against 650)"


def test_a_top_share_needs_more_than_the_group_tied_across_its_cut() -> None:
    """Most customers bought nothing: the 65th percentile is 0, but they are not "in the top
    35%"; those who bought anything are, with a truthful reason."""
    people = [Features(3, 0, 0, 0, 0)] * 80 + [Features(3, r, 0, r, 0) for r in range(10, 210, 10)]
    distribution = Distribution.of(people)
    assert classify(Features(3, 0, 0, 0, 0), distribution).name == "Acquaintance"
    call = classify(Features(3, 10, 0, 10, 0), distribution)
    assert call.name == "BFF"
    assert call.reason == "revenue in the top 35% (10 against 0)"
    # Everyone alike: nobody stands out.
    same = Distribution.of([Features(3, 100, 0, 100, 0)] * 50)
    assert classify(Features(3, 100, 0, 100, 0), same).name == "Acquaintance"
    # A tied group that starts at the cut is inside the share: it is the top 35% exactly.
    split = Distribution.of([Features(3, 0, 0, 0, 0)] * 65 + [Features(3, 5, 0, 5, 0)] * 35)
    call = classify(Features(3, 5, 0, 5, 0), split)
    assert (call.name, call.reason) == ("BFF", "revenue in the top 35% (5 against 5)")


def test_rules_round_trip_and_bad_rules_are_named() -> None:
    assert rules_from_config(rules_to_config(DEFAULT_RULES)) == DEFAULT_RULES
    with pytest.raises(InvalidTypeRules) as raised:
        rules_from_config(
            [
                {"name": "A", "when": [{"feature": "revenue", "at_least_percentile": 120}]},
                {"name": "A", "when": [{"feature": "profit"}]},
                {"name": "", "when": []},
                {"name": "Key\x00account", "when": []},  # PostgreSQL's text cannot hold it
                {"name": "Rest", "when": [{"feature": "advocacy", "at_least": 1}]},
            ]
        )
    assert raised.value.problems == [
        "types[0].when[0].at_least_percentile: a percentile from 0 to 100",
        "types[1].name: 'A' appears twice",
        "types[1].when[0]: exactly one of at_least_percentile, below_percentile, at_least, below",
        "types[2].name: a name of 1 to 60 characters",
        "types[3].name: must not contain the NUL character (\\u0000)",
        "types: the last type must have no conditions (it takes everyone else)",
    ]


def test_missing_or_non_finite_conditions_and_names_alike_but_for_spaces_are_named() -> None:
    with pytest.raises(InvalidTypeRules) as raised:
        rules_from_config(
            [
                {"name": "A", "when": None},
                {"name": "BFF", "when": [{"feature": "revenue", "at_least": float("nan")}]},
                {"name": "BFF ", "when": [{"feature": "revenue", "below": float("inf")}]},
                {"name": "C", "when": [{"feature": "profit", "below_percentile": float("nan")}]},
                {"name": "D", "description": None, "when": {"feature": "revenue"}},
                "Rest",  # type: ignore[list-item]
            ]
        )
    assert raised.value.problems == [
        "types[0].when: a list of conditions",
        "types[1].when[0].at_least: a finite number",
        "types[2].name: 'BFF' appears twice",
        "types[2].when[0].below: a finite number",
        "types[3].when[0].below_percentile: a percentile from 0 to 100",
        "types[4].when: a list of conditions",
        "types[5]: an object with a name and its conditions",
    ]
    # A missing description is an empty one.
    [rule] = rules_from_config([{"name": "Everyone", "description": None}])
    assert rule.description == ""
