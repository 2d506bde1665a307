from hypothesis import given
from hypothesis import strategies as st

from relint.taxonomy import KINDS
from scoring.domain import KIND_WEIGHTS, NEGATIVITY, Touch, contribution


def test_every_weighted_kind_is_canonical() -> None:
    canonical = {kind for kinds in KINDS.values() for kind in kinds}
    assert set(KIND_WEIGHTS) <= canonical


def test_bad_interactions_weigh_more_than_good_ones() -> None:
    good = contribution(Touch("survey_response", sentiment=0.5))
    bad = contribution(Touch("survey_response", sentiment=-0.5))
    assert good > 0 > bad
    # survey_response weighs 0.5, so sentiment 0.5 gives 1.5 and sentiment -0.5 gives -0.5.
    assert bad == -0.5 * NEGATIVITY


def test_a_complaint_undoes_several_purchases_without_money() -> None:
    assert contribution(Touch("complaint")) + 2 * contribution(Touch("purchase")) < 0


def test_revenue_adds_with_diminishing_returns() -> None:
    small = contribution(Touch("purchase", revenue=99))
    large = contribution(Touch("purchase", revenue=9_999))
    assert contribution(Touch("purchase")) < small < large
    assert large - small == 1.0


@given(
    kind=st.sampled_from(sorted(KIND_WEIGHTS)),
    sentiment=st.none() | st.floats(-5, 5),
    revenue=st.floats(0, 1e9),
)
def test_contribution_is_finite_and_sentiment_is_clamped(
    kind: str, sentiment: float | None, revenue: float
) -> None:
    value = contribution(Touch(kind, sentiment, revenue))
    clamped = None if sentiment is None else max(-1.0, min(1.0, sentiment))
    assert value == contribution(Touch(kind, clamped, revenue))
    assert abs(value) < 100
