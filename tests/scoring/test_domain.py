"""The value model on its own: weights, asymmetry, fading, order independence, explanations."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relint.taxonomy import KINDS
from scoring.domain import (
    DEFAULT_TABLE,
    KIND_WEIGHTS,
    Applied,
    InvalidWeights,
    Touch,
    WeightTable,
    contribution,
    explain,
    mass,
    masses_after,
    top_contributions,
    value_at,
    value_before,
    value_from_mass,
    value_then,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_every_weighted_kind_is_canonical() -> None:
    canonical = {kind for kinds in KINDS.values() for kind in kinds} | {"violation"}
    assert set(KIND_WEIGHTS) <= canonical


def test_bad_interactions_weigh_more_than_good_ones() -> None:
    good = contribution(Touch("survey_response", sentiment=0.5))
    bad = contribution(Touch("survey_response", sentiment=-0.5))
    # survey_response weighs 0.5: sentiment 0.5 gives 1.5, sentiment -0.5 gives -0.5 x 2.
    assert (good, bad) == (1.5, -0.5 * DEFAULT_TABLE.negativity)


def test_a_complaint_undoes_several_purchases_without_money() -> None:
    assert contribution(Touch("complaint")) + 2 * contribution(Touch("purchase")) < 0


def test_revenue_adds_and_refunds_take_away_with_diminishing_returns() -> None:
    small = contribution(Touch("purchase", revenue=99))
    large = contribution(Touch("purchase", revenue=9_999))
    assert contribution(Touch("purchase")) < small < large
    assert large - small == pytest.approx(1.0)
    assert contribution(Touch("refund", refund=999)) < contribution(Touch("refund"))


def test_outcome_and_channel_specific_weights() -> None:
    table = WeightTable.from_config({"weights": {"sales.call": 2.0, "complaint": -6}})
    assert table.contribution(Touch("call", channel="sales")).value == 2.0
    assert table.contribution(Touch("call", channel="service")).value == 0.5
    assert table.contribution(Touch("complaint")).value == -12.0
    won = table.contribution(Touch("quote", channel="sales", outcome="won"))
    lost = table.contribution(Touch("quote", channel="sales", outcome="lost"))
    assert (won.value, lost.value) == (2.0, -4.0)
    assert won.reason == "quote (won)"
    resolved = DEFAULT_TABLE.contribution(Touch("complaint", outcome="resolved"))
    assert resolved.value == -6.0  # (-4 + 1) x 2: better than an unresolved one


def test_a_tenant_sets_its_own_outcome_weights() -> None:
    """Outcomes are part of the weight table: a tenant's own replace the defaults it names,
    in both ways of weighing, and leave the others and the default table as they were."""
    table = WeightTable.from_config({"outcomes": {"won": 5, "lost": -0.5}})
    assert table.contribution(Touch("quote", channel="sales", outcome="won")).value == 5.0
    assert table.contribution(Touch("quote", channel="sales", outcome="lost")).value == -1.0
    assert table.contribution(Touch("complaint", outcome="resolved")).value == -6.0
    values, reasons = table.contributions(
        ["sales", "sales"], ["quote", "quote"], ["won", "lost"], [None, None], [0, 0], [0, 0]
    )
    assert (values, reasons) == ([5.0, -1.0], ["quote (won)", "quote (lost)"])
    assert DEFAULT_TABLE.contribution(Touch("quote", channel="sales", outcome="won")).value == 2.0


def test_a_bad_configuration_names_every_problem() -> None:
    with pytest.raises(InvalidWeights) as raised:
        WeightTable.from_config(
            {
                "weights": {"sales.ticket_opened": 1, "telepathy": 2, "purchase": "a lot"},
                "negativity": 0.5,
                "half_life_good_days": 5,
                "colour": "red",
            }
        )
    assert raised.value.problems == [
        "weights.sales.ticket_opened: 'ticket_opened' is not a kind of 'sales'",
        "weights.telepathy: unknown kind 'telepathy'",
        "weights.purchase: must be a number between -100 and 100",
        "negativity: must be a number from 1 to 10",
        "half_life_good_days: must be a number from 30 to 3650",
        "colour: unknown setting",
    ]


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"weights": None}, "weights: must be an object of numbers by kind or channel.kind"),
        ({"weights": [1, 2]}, "weights: must be an object of numbers by kind or channel.kind"),
        ({"weights": {"complaint": math.nan}}, "weights.complaint: must be a number between"),
        ({"weights": {"complaint": -math.inf}}, "weights.complaint: must be a number between"),
        ({"negativity": math.nan}, "negativity: must be a number from 1 to 10"),
        ({"outcomes": None}, "outcomes: must be an object of numbers by outcome"),
        ({"outcomes": {"won": math.nan}}, "outcomes.won: must be a number between -100 and 100"),
        ({"outcomes": {"won": True}}, "outcomes.won: must be a number between -100 and 100"),
        ({"outcomes": {"won": 101}}, "outcomes.won: must be a number between -100 and 100"),
        ({"outcomes": {"tied": 1}}, "outcomes.tied: unknown outcome 'tied'"),
    ],
)
def test_a_missing_or_non_finite_weight_is_named(config: dict[str, object], problem: str) -> None:
    """JSON carries null and (in Python's reading) NaN: neither may reach the table, where a
    NaN weight would make every contribution of its kind unstorable."""
    with pytest.raises(InvalidWeights) as raised:
        WeightTable.from_config(config)
    [found] = raised.value.problems
    assert found.startswith(problem)


def test_goodwill_fades_faster_than_grievance() -> None:
    history = [Applied("good", T0, 10.0), Applied("bad", T0, -10.0)]
    half_a_year = T0 + timedelta(days=180)
    assert value_at(DEFAULT_TABLE, history[:1], half_a_year) == pytest.approx(5.0)
    assert value_at(DEFAULT_TABLE, history[1:], half_a_year) == pytest.approx(
        -10 * 0.5 ** (180 / 365)
    )
    assert value_at(DEFAULT_TABLE, history, half_a_year) < 0
    assert value_at(DEFAULT_TABLE, history, T0 - timedelta(days=1)) == 0.0


def test_masses_give_the_value_at_any_later_time() -> None:
    history = [
        Applied("a", T0, 4.0),
        Applied("b", T0 + timedelta(days=20), -3.0),
        Applied("c", T0 + timedelta(days=45), 7.5),
    ]
    good = bad = 0.0
    for a in history:
        g, b = mass(DEFAULT_TABLE, a.contribution, a.occurred_at)
        good, bad = good + g, bad + b
    for days in (45, 100, 700):
        at = T0 + timedelta(days=days)
        assert value_from_mass(DEFAULT_TABLE, good, bad, at) == pytest.approx(
            value_at(DEFAULT_TABLE, history, at), rel=1e-12
        )


applied = st.builds(
    Applied,
    interaction_id=st.uuids().map(str),
    occurred_at=st.integers(0, 3 * 365 * 24).map(lambda h: T0 + timedelta(hours=h)),
    contribution=st.floats(-30, 30, allow_nan=False),
)


@given(st.lists(applied, max_size=40), st.randoms(use_true_random=False))
def test_any_arrival_order_gives_the_same_value(history: list[Applied], rng: object) -> None:
    shuffled = list(history)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    at = T0 + timedelta(days=4 * 365)
    in_order = value_at(DEFAULT_TABLE, sorted(history, key=lambda a: a.occurred_at), at)
    assert value_at(DEFAULT_TABLE, shuffled, at) == in_order  # fsum: exactly the same
    good = bad = 0.0
    for a in shuffled:
        g, b = mass(DEFAULT_TABLE, a.contribution, a.occurred_at)
        good, bad = good + g, bad + b
    assert value_from_mass(DEFAULT_TABLE, good, bad, at) == pytest.approx(
        in_order, rel=1e-9, abs=1e-9
    )


@given(st.lists(applied, max_size=40), st.integers(0, 3 * 365))
def test_a_past_value_from_the_masses_and_the_later_contributions(
    history: list[Applied], days: int
) -> None:
    """The trend's earlier value needs only the masses and what happened after it."""
    good = bad = 0.0
    for a in history:
        g, b = mass(DEFAULT_TABLE, a.contribution, a.occurred_at)
        good, bad = good + g, bad + b
    at = T0 + timedelta(days=days)
    later = [a for a in history if a.occurred_at > at]
    assert value_before(DEFAULT_TABLE, good, bad, later, at) == pytest.approx(
        value_at(DEFAULT_TABLE, history, at), rel=1e-9, abs=1e-9
    )


@given(st.lists(applied, max_size=40), st.integers(-30, 4 * 365))
def test_the_value_at_any_moment_from_the_running_sums(history: list[Applied], days: int) -> None:
    """As-of reads and timelines take the value at a moment from the good and bad sums after
    the last contribution by then: what summing every contribution faded gives."""
    ordered = sorted(history, key=lambda a: a.occurred_at)
    times = [a.occurred_at for a in ordered]
    masses = masses_after(DEFAULT_TABLE, [(a.occurred_at, a.contribution) for a in ordered])
    at = T0 + timedelta(days=days)
    assert value_then(DEFAULT_TABLE, times, masses, at) == pytest.approx(
        value_at(DEFAULT_TABLE, ordered, at), rel=1e-9, abs=1e-9
    )


@given(
    kind=st.sampled_from(sorted(KIND_WEIGHTS)),
    sentiment=st.none() | st.floats(-5, 5),
    revenue=st.floats(0, 1e12),
)
def test_contribution_is_finite_and_sentiment_is_clamped(
    kind: str, sentiment: float | None, revenue: float
) -> None:
    value = contribution(Touch(kind, sentiment, revenue))
    clamped = None if sentiment is None else max(-1.0, min(1.0, sentiment))
    assert value == contribution(Touch(kind, clamped, revenue))
    assert math.isfinite(value)
    assert abs(value) < 100


def test_a_change_is_explained_in_words() -> None:
    history = [
        Applied("p", T0 - timedelta(days=200), 20.0, "purchase"),
        Applied("c", T0 + timedelta(days=2), -8.0, "a complaint"),
        Applied("e", T0 + timedelta(days=4), -4.0, "an escalated ticket"),
        Applied("r", T0 + timedelta(days=5), 1.0, "a resolved ticket"),
    ]
    end = T0 + timedelta(days=10)
    found = explain(DEFAULT_TABLE, history, T0, end)
    assert found.change == pytest.approx(found.end - found.start)
    assert [d.interaction_id for d in found.drivers] == ["c", "e", "r"]
    assert found.change == pytest.approx(sum(d.effect for d in found.drivers) + found.fading)
    sentence = found.sentence()
    assert sentence.startswith(f"It fell {abs(found.change):.1f} points: a complaint on 3 Mar 2026")
    assert "older goodwill faded" in sentence
    assert [d.interaction_id for d in top_contributions(DEFAULT_TABLE, history, end, 2)] == [
        "p",
        "c",
    ]
    assert explain(DEFAULT_TABLE, history, end, end + timedelta(hours=1)).sentence() == (
        "It held steady."
    )
