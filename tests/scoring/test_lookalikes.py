"""Lookalikes: bad input is named, references are compared one or as a set and never returned,
reasons name the right features and words, the words' model is scikit-learn's TF-IDF, and on
the demo company the lookalikes of the most profitable Partners are Partners."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from typing import Any

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]

from relint_devstack.demo import CustomerTruth
from scoring import lookalikes
from scoring.lookalikes import (
    STOP_WORDS,
    CustomerProfile,
    Lookalike,
    behaviour_features,
    similar_customers,
)
from tests.scoring.demo_support import demo


def profile(customer_id: str, text: str = "", **behaviour: float) -> CustomerProfile:
    return CustomerProfile(customer_id, behaviour, text)


def crowd(n: int = 40, seed: int = 1) -> list[CustomerProfile]:
    """Ordinary customers: modest revenue, little community, words about orders."""
    rng = random.Random(seed)
    chatter = ("order placed", "invoice question", "delivery date", "price list", "thanks")
    return [
        profile(
            f"c{i:03d}",
            " ".join(rng.choice(chatter) for _ in range(4)),
            revenue_per_month=rng.uniform(20, 60),
            community_per_month=rng.choice((0.0, 0.0, 0.1)),
            tickets_per_month=rng.uniform(0.1, 0.6),
            mean_sentiment=rng.uniform(0.0, 0.3),
        )
        for i in range(n)
    ]


def big(customer_id: str, revenue: float, text: str) -> CustomerProfile:
    return profile(
        customer_id,
        text,
        revenue_per_month=revenue,
        community_per_month=1.5,
        tickets_per_month=0.3,
        mean_sentiment=0.6,
    )


# -- bad input -------------------------------------------------------------------------------


def test_bad_arguments_are_named() -> None:
    people = crowd(5)
    with pytest.raises(ValueError, match=r"^to: name at least one reference customer$"):
        similar_customers(people, [])
    with pytest.raises(
        ValueError, match=r"^to: 2 unknown customer id\(s\) among the 5 profiles: 'x', 'y'$"
    ):
        similar_customers(people, ["c000", "x", "y"])
    for limit in (0, 101, True, 2.5):
        with pytest.raises(ValueError, match=rf"^limit: a whole number from 1 to 100, not {limit}"):
            similar_customers(people, ["c000"], limit=limit)  # type: ignore[arg-type]
    for weight in (-0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match=r"^text_weight: a number from 0 to 1"):
            similar_customers(people, ["c000"], text_weight=weight)
    with pytest.raises(ValueError, match=r"customer ids appear more than once: c001$"):
        similar_customers([*people, people[1]], ["c000"])
    for bad in (math.inf, math.nan, "many"):
        broken = CustomerProfile("c009", {"revenue_per_month": bad}, "")  # type: ignore[dict-item]
        with pytest.raises(
            ValueError, match=r"^profile 'c009': behaviour 'revenue_per_month' must be a finite"
        ):
            similar_customers([*people, broken], ["c000"])


def test_behaviour_features_are_rates_per_month_and_bad_aggregates_are_named() -> None:
    features = behaviour_features(
        months=4,
        interactions_by_channel={"community": 6, "sales": 2},
        revenue=2000,
        cost_to_serve=200,
        refunds=40,
        mean_sentiment=0.5,
        referrals=2,
        tenure_days=365.25,
        kinds={"renewal": 1},
    )
    assert features == {
        "channel.community_per_month": 1.5,
        "channel.sales_per_month": 0.5,
        "kind.renewal_per_month": 0.25,
        "revenue_per_month": 500.0,
        "cost_to_serve_per_month": 50.0,
        "refunds_per_month": 10.0,
        "referrals_per_month": 0.5,
        "mean_sentiment": 0.5,
        "tenure_months": 12.0,
    }
    assert behaviour_features(months=1, interactions_by_channel={})["mean_sentiment"] == 0.0
    # Aggregates straight from numpy are numbers too.
    assert (
        behaviour_features(
            months=np.float64(2),
            interactions_by_channel={"email": np.int64(6)},  # type: ignore[dict-item]
            revenue=np.int64(8),  # type: ignore[arg-type]  # numpy ints work at run time
        )["channel.email_per_month"]
        == 3.0
    )
    bad: list[tuple[dict[str, Any], str]] = [
        ({"months": 0}, r"^months: a positive number of months observed, not 0$"),
        ({"revenue": -1}, r"^revenue: a number >= 0, not -1$"),
        ({"mean_sentiment": 1.5}, r"^mean_sentiment: a number from -1 to 1, not 1.5$"),
        ({"tenure_days": math.nan}, r"^tenure_days: a number of days >= 0"),
        ({"interactions_by_channel": {"sales": -2}}, r"^channel 'sales': a count >= 0, not -2$"),
        ({"interactions_by_channel": {"": 1}}, r"^channel names must be non-empty strings"),
        ({"kinds": {"referral": 1}}, r"^kind 'referral': pass referrals as `referrals`$"),
    ]
    for change, message in bad:
        arguments: dict[str, Any] = {"months": 3, "interactions_by_channel": {}, **change}
        with pytest.raises(ValueError, match=message):
            behaviour_features(**arguments)


def test_the_behaviour_table_is_behaviour_features_for_many_customers_at_once() -> None:
    rng = np.random.default_rng(5)
    n = 40
    months = rng.uniform(0.1, 12, n)
    channels = {"sales": rng.integers(0, 9, n) * 1.0, "email": rng.integers(0, 4, n) * 1.0}
    kinds = {"renewal": rng.integers(0, 2, n) * 1.0, "complaint": rng.integers(0, 3, n) * 1.0}
    money = {k: rng.uniform(0, 900, n) for k in ("revenue", "cost_to_serve", "refunds")}
    mood = rng.uniform(-1, 1, n)
    referrals, tenure = rng.integers(0, 3, n) * 1.0, rng.uniform(0, 900, n)
    table = lookalikes.behaviour_table(
        months=months,
        interactions_by_channel=channels,
        mean_sentiment=mood,
        referrals=referrals,
        tenure_days=tenure,
        kinds=kinds,
        **money,
    )
    for i in range(n):
        one = behaviour_features(
            months=float(months[i]),
            interactions_by_channel={c: float(v[i]) for c, v in channels.items()},
            mean_sentiment=float(mood[i]),
            referrals=float(referrals[i]),
            tenure_days=float(tenure[i]),
            kinds={k: float(v[i]) for k, v in kinds.items()},
            **{k: float(v[i]) for k, v in money.items()},
        )
        assert table[i] == pytest.approx(one, rel=1e-12)
    # A tenant without customers: an empty table, not an IndexError (found by schemathesis).
    nobody = np.zeros(0)
    assert (
        lookalikes.behaviour_table(
            months=nobody,
            interactions_by_channel={},
            mean_sentiment=nobody,
            referrals=nobody,
            tenure_days=nobody,
            kinds={},
            revenue=nobody,
            cost_to_serve=nobody,
            refunds=nobody,
        )
        == []
    )
    bad = dict(channels)
    bad["sales"] = bad["sales"] - 20
    with pytest.raises(ValueError, match="must be >= 0"):
        lookalikes.behaviour_table(
            months=months,
            interactions_by_channel=bad,
            mean_sentiment=mood,
            referrals=referrals,
            tenure_days=tenure,
            kinds=kinds,
            **money,
        )
    with pytest.raises(ValueError, match="months must be > 0"):
        lookalikes.behaviour_table(
            months=months * 0,
            interactions_by_channel=channels,
            mean_sentiment=mood,
            referrals=referrals,
            tenure_days=tenure,
            kinds=kinds,
            **money,
        )


# -- one reference, a set, exclusions ----------------------------------------------------------


def test_a_single_reference_finds_its_twin_and_never_itself() -> None:
    people = [
        *crowd(),
        big("star", 900, "we love the integration pack"),
        big("twin", 850, "the integration pack saves us hours"),
    ]
    found = similar_customers(people, ["star"], limit=5)
    assert next(f.customer_id for f in found) == "twin"
    assert "star" not in {f.customer_id for f in found}
    assert len(found) == 5
    for f in found:
        assert 0 <= f.behaviour_similarity <= 1
        assert 0 <= f.text_similarity <= 1
        assert f.similarity == pytest.approx(
            0.6 * f.behaviour_similarity + 0.4 * f.text_similarity, abs=1e-5
        )
    assert [f.similarity for f in found] == sorted((f.similarity for f in found), reverse=True)
    # One id may be given as a plain string.
    assert similar_customers(people, "star", limit=5) == found


def test_a_set_is_compared_through_its_centroid_and_excluded() -> None:
    people = [
        *crowd(),
        big("p1", 1000, "joint case study with your team"),
        big("p2", 1200, "co-hosted a webinar, joint case study"),
        big("p3", 1100, "joint case study published"),
        big("p4", 950, "we co-hosted a webinar together"),
    ]
    found = similar_customers(people, ["p1", "p2", "p2"], limit=3)
    ids = [f.customer_id for f in found]
    assert set(ids[:2]) == {"p3", "p4"}
    assert not {"p1", "p2"} & set(ids)
    assert "both high on revenue a month (1,100 here, a median of 1,100 for the references)" in (
        found[0].reasons if ids[0] == "p3" else found[1].reasons
    )


def test_fewer_candidates_than_the_limit_and_only_references() -> None:
    people = crowd(6)
    assert len(similar_customers(people, ["c000", "c001"], limit=100)) == 4
    assert similar_customers(people, [p.customer_id for p in people]) == []


def test_the_answer_does_not_depend_on_the_order_of_the_profiles() -> None:
    people = [*crowd(), big("star", 900, "integration"), big("twin", 850, "integration")]
    shuffled = list(people)
    random.Random(3).shuffle(shuffled)
    assert similar_customers(people, ["star", "c005"]) == similar_customers(
        shuffled, ["star", "c005"]
    )


def test_ties_at_the_limit_are_broken_by_id() -> None:
    same = [profile(f"t{i}", "same words", revenue_per_month=5.0) for i in range(9)]
    for people in (same, same[::-1]):
        found = similar_customers(people, ["t4"], limit=2)
        assert [f.customer_id for f in found] == ["t0", "t1"]
    # No behaviour at all: every customer is as near (0.5); the words still rank.
    mute = [profile("a", "joint case study"), profile("b", "joint case study"), profile("c", "")]
    assert [f.customer_id for f in similar_customers(mute, "a")] == ["b", "c"]
    assert similar_customers(mute, "a")[0].behaviour_similarity == 0.5


def test_the_text_weight_chooses_between_behaviour_and_words() -> None:
    people = [
        *crowd(),
        big("star", 900, "the integration pack and the analytics module"),
        # Behaves like the star, speaks like the crowd.
        big("doer", 880, "order placed thanks"),
        # Speaks like the star, behaves like the crowd.
        profile(
            "talker",
            "the integration pack and the analytics module",
            revenue_per_month=30,
            community_per_month=0,
            tickets_per_month=0.3,
            mean_sentiment=0.1,
        ),
    ]
    assert similar_customers(people, ["star"], 1, text_weight=0)[0].customer_id == "doer"
    assert similar_customers(people, ["star"], 1, text_weight=1)[0].customer_id == "talker"
    # References without words: text cannot rank, behaviour alone does.
    silent = [p if p.customer_id != "star" else big("star", 900, "") for p in people]
    nobody = [CustomerProfile(p.customer_id, p.behaviour, "") for p in people]
    assert [f.customer_id for f in similar_customers(nobody, ["star"], 3, text_weight=0.5)] == [
        f.customer_id for f in similar_customers(people, ["star"], 3, text_weight=0)
    ]
    first = similar_customers(silent, ["star"], 1, text_weight=1)[0]
    assert first.customer_id == "doer"
    assert first.similarity == first.behaviour_similarity
    assert first.text_similarity == 0


# -- reasons ---------------------------------------------------------------------------------


def test_reasons_name_the_features_and_the_words_they_share() -> None:
    people = [
        *crowd(),
        big("star", 900, "the integration pack is great; we renewed the yearly plan"),
        big("twin", 850, "integration pack again, yearly plan renewed"),
    ]
    reasons = similar_customers(people, ["star"], 1)[0].reasons
    behaviour = [r for r in reasons if not r.startswith("both mention")]
    words = [r for r in reasons if r.startswith("both mention")]
    # Revenue and community set the star apart from the crowd most; tickets do not at all.
    assert set(behaviour[:2]) == {
        "both high on community a month (1.50 here, 1.50 for the reference)",
        "both high on revenue a month (850 here, 900 for the reference)",
    }
    assert not any("tickets" in r for r in behaviour)
    # The phrases they share, a word inside a phrase not repeated, the crowd's words absent.
    assert words == ["both mention 'integration pack', 'yearly plan', 'renewed'"]
    assert "'the'" not in words[0]  # stop words are never a reason


def test_labels_read_as_words() -> None:
    assert lookalikes._label("channel.community_per_month") == "community interactions a month"
    assert lookalikes._label("kind.renewal_per_month") == "renewals a month"
    assert lookalikes._label("kind.ticket_opened_per_month") == "'ticket opened' events a month"
    assert lookalikes._label("kind.discount_requested_per_month") == (
        "'discount requested' events a month"
    )
    assert lookalikes._label("revenue_per_month") == "revenue a month"
    assert lookalikes._label("tenure_months") == "tenure months"


# -- the words' model --------------------------------------------------------------------------


def test_the_words_model_is_scikit_learns_tfidf() -> None:
    """Our vectoriser is faster; its numbers must be TfidfVectorizer's with our settings."""
    rng = random.Random(5)
    phrases = (
        "Order placed for the integration pack.",
        "Joint case study published together!",
        "Could you add an API for bulk updates?",
        "Straße, café and ÉCOLE: ünïcode words_with_underscores 42 x y",
        "ΣΟΦΟΣ ὈΔΥΣΣΕΎΣ İstanbul",
        "a NUL\x00inside",
        "",
        "renewed the annual contract; renewed again",
    )
    texts = [" ".join(rng.choice(phrases) for _ in range(rng.randint(0, 6))) for _ in range(300)]
    ours, terms = lookalikes._tfidf(tuple(texts))
    theirs = TfidfVectorizer(
        ngram_range=(1, 2), sublinear_tf=True, min_df=2, stop_words=sorted(STOP_WORDS)
    )
    expected = theirs.fit_transform(texts)
    names = [terms.text(c) for c in range(ours.shape[1])]
    order = np.argsort(names)
    assert [names[i] for i in order] == list(theirs.get_feature_names_out())
    assert abs(ours[:, order] - expected).max() < 1e-12


# -- the demo company --------------------------------------------------------------------------


def demo_profiles(customers: int, seed: int) -> tuple[list[CustomerProfile], dict[str, str]]:
    """Every demo customer's behaviour over its own lifetime, and its own (inbound) words."""
    truth, items = demo(customers, seed)

    def build(c: CustomerTruth) -> CustomerProfile:
        until = c.churned_at or truth.config.end
        days = max((until - c.joined_at).total_seconds() / 86400, 1.0)
        money: defaultdict[str, float] = defaultdict(float)
        channels: Counter[str] = Counter()
        kinds: Counter[str] = Counter()
        moods: list[float] = []
        words: list[str] = []
        for item in items[c.external_id]:
            channels[item["channel"]] += 1
            kinds[item["kind"]] += 1
            if item.get("amount_type"):
                money[item["amount_type"]] += float(item["amount"])
            if item.get("sentiment") is not None:
                moods.append(item["sentiment"])
            if item["direction"] == "inbound" and item.get("text"):
                words.append(item["text"])
        behaviour = behaviour_features(
            months=days / (365.25 / 12),
            interactions_by_channel=channels,
            revenue=money["revenue"],
            cost_to_serve=money["cost_to_serve"],
            refunds=money["refund"],
            mean_sentiment=sum(moods) / len(moods) if moods else None,
            referrals=kinds["referral"],
            tenure_days=days,
            kinds={
                k: kinds[k]
                for k in ("purchase", "renewal", "review", "complaint", "discount_requested")
            },
        )
        return CustomerProfile(c.external_id, behaviour, "\n".join(words))

    present = [c for c in truth.customers if c.external_id in items]
    return [build(c) for c in present], {c.external_id: c.relationship_type for c in present}


def partner_share(found: list[Lookalike], hidden: dict[str, str]) -> float:
    return sum(hidden[f.customer_id] == "partner" for f in found) / len(found)


@pytest.mark.parametrize(("customers", "seed"), [(300, 7), (200, 11)])
def test_on_the_demo_company_partners_look_like_the_best_partners(
    customers: int, seed: int
) -> None:
    people, hidden = demo_profiles(customers, seed)
    base_rate = Counter(hidden.values())["partner"] / len(hidden)
    assert base_rate < 0.12  # 8% of the demo's customers are partners

    def profit(p: CustomerProfile) -> float:
        return p.behaviour["revenue_per_month"] - p.behaviour["cost_to_serve_per_month"]

    partners = [p for p in people if hidden[p.customer_id] == "partner"]
    best = [p.customer_id for p in sorted(partners, key=profit, reverse=True)[:5]]
    blended = similar_customers(people, best, 10)
    by_behaviour = similar_customers(people, best, 10, text_weight=0)
    by_words = similar_customers(people, best, 10, text_weight=1)
    # Measured on seeds 7 and 11: 10 and 10 of 10 blended, 7 and 6 by behaviour alone, 10 and
    # 9 by words alone (partners alone write partner reviews and co-marketing; partners and
    # BFFs alone sign contracts and renew).
    assert partner_share(blended, hidden) >= 0.8
    assert partner_share(by_behaviour, hidden) >= max(0.5, 4 * base_rate)
    assert partner_share(by_words, hidden) >= max(0.6, 4 * base_rate)
    # The nearest to the single most profitable partner are partners too.
    assert partner_share(similar_customers(people, best[0], 10), hidden) >= 0.8
    for found in blended:
        assert found.customer_id not in best
        assert any(r.startswith("both high on") for r in found.reasons), found
        assert any(r.startswith("both mention") for r in found.reasons), found
