"""The analysis lenses, pure, on the demo company (seed fixed): each must recover the hidden
truth the generator built in (`DemoTruth`), and say how sure it is."""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import datetime, timedelta
from functools import cache

import numpy as np
import pytest

from relint_devstack.demo import CHURN_DRIVING_ISSUES, TYPE_SHARES, DemoTruth
from scoring import analysis
from scoring.analysis import Customers, Interactions, InvalidAnalysis
from tests.scoring.demo_support import demo

CUSTOMERS, SEED = 1000, 7


@cache
def company() -> tuple[DemoTruth, Customers, Interactions]:
    """The demo as the lenses see it. Types are the hidden ones (placing customers is
    relationship_types' job, tested there); a customer is lost at its cancellation, which
    the stage rules call terminating."""
    truth, items = demo(CUSTOMERS, SEED)
    ids = [c.external_id for c in truth.customers if c.external_id in items]
    rows = []
    ended: dict[str, float] = {}
    for customer_id in ids:
        for item in items[customer_id]:
            at = datetime.fromisoformat(item["occurred_at"]).timestamp()
            money = {"revenue": 0.0, "refund": 0.0, "cost_to_serve": 0.0}
            if item.get("amount_type") in money:
                money[item["amount_type"]] = float(item["amount"])
            rows.append(
                (
                    customer_id,
                    at,
                    item["kind"],
                    item["channel"],
                    item["direction"],
                    money["revenue"],
                    money["refund"],
                    money["cost_to_serve"],
                    item.get("employee"),
                    (item.get("attributes") or {}).get("issue_type"),
                )
            )
            if item["kind"] == "cancellation":
                ended[customer_id] = at
    first: dict[str, float] = {}
    for row in rows:
        first[row[0]] = min(first.get(row[0], row[1]), row[1])
    customers = Customers(
        tuple(ids),
        tuple(truth.customer(c).relationship_type for c in ids),
        tuple("terminating" if c in ended else "bonding" for c in ids),
        np.array([first[c] for c in ids]),
        np.array([ended.get(c, math.nan) for c in ids]),
    )
    return truth, customers, analysis.interactions_from_rows(rows, customers)


def end_of(truth: DemoTruth) -> float:
    return truth.config.end.timestamp()


# -- statistics -------------------------------------------------------------------------------


def test_risk_and_rate_ratios_with_their_intervals() -> None:
    ratio, interval = analysis.risk_ratio(20, 100, 10, 100)
    assert ratio == pytest.approx(2.0)
    se = math.sqrt(1 / 20 - 1 / 100 + 1 / 10 - 1 / 100)
    assert interval.low == pytest.approx(2.0 * math.exp(-1.959964 * se), rel=1e-5)
    assert interval.high == pytest.approx(2.0 * math.exp(1.959964 * se), rel=1e-5)
    # A zero cell still gives a ratio, with a wide interval.
    ratio, interval = analysis.risk_ratio(3, 10, 0, 50)
    assert ratio > 1
    assert interval.low < ratio < interval.high
    ratio, interval = analysis.rate_ratio(30, 10.0, 10, 20.0)
    assert ratio == pytest.approx(6.0)
    se = math.sqrt(1 / 30 + 1 / 10)
    assert interval.low == pytest.approx(6.0 * math.exp(-1.959964 * se), rel=1e-5)


# -- 1. portfolio -----------------------------------------------------------------------------


def test_portfolio_on_a_handful_of_customers_adds_up() -> None:
    customers = Customers(
        ("a", "b", "c", "d", "e"),
        ("partner", "acquaintance", "acquaintance", "acquaintance", ""),
        ("bonding", "experimenting", "avoiding", "terminating", ""),
        np.zeros(5),
        np.array([math.nan, math.nan, math.nan, 50.0, math.nan]),
    )
    revenue = np.array([800.0, 100.0, 60.0, 40.0, 999.0])
    cost = np.array([90.0, 30.0, 30.0, 30.0, 0.0])
    refund = np.array([10.0, 0.0, 0.0, 0.0, 0.0])
    found = analysis.portfolio(
        customers,
        ["acquaintance", "acquaintance", "", "acquaintance", ""],
        revenue,
        cost,
        refund,
        2,
    )
    assert found.customers == 4  # "e" is not placed yet
    assert [(t.relationship_type, t.customers) for t in found.type_mix] == [
        ("acquaintance", 3),
        ("partner", 1),
    ]
    assert {(t.from_type, t.to_type): t.customers for t in found.transitions} == {
        ("acquaintance", "partner"): 1,
        ("acquaintance", "acquaintance"): 2,
        ("", "acquaintance"): 1,
    }
    # The top 20% of 4 customers is 1 customer: 800 of 1000 revenue, 700 of 700 profit.
    assert found.top20_revenue_share == pytest.approx(0.8)
    assert found.total_profit == pytest.approx(1000 - 180 - 10)
    assert found.top20_profit_share == pytest.approx(700 / 810)
    assert found.pareto[-1].revenue_share == pytest.approx(1.0)
    economics = {e.relationship_type: e for e in found.economics}
    assert found.baseline_type == "acquaintance"
    assert economics["partner"].revenue_ratio == pytest.approx(800 / (200 / 3))
    assert economics["partner"].cost_ratio == pytest.approx(3.0)
    assert {s.stage: s.customers for s in found.stage_mix} == {
        "bonding": 1,
        "experimenting": 1,
        "avoiding": 1,
        "terminating": 1,
    }
    assert found.coming_apart == 2
    assert [p.customer_id for p in found.value_map] == ["a", "b"]
    assert found.value_map[0].profit == pytest.approx(700.0)
    assert found.value_map_total == 4


def test_portfolio_recovers_the_demo_mix_and_the_articles_benchmark() -> None:
    truth, customers, interactions = company()
    n = len(customers.ids)
    end = end_of(truth)
    revenue, cost, refund = analysis.money_by_customer(interactions, n, end - analysis.YEAR, end)
    found = analysis.portfolio(customers, customers.relationship_type, revenue, cost, refund)
    shares = {t.relationship_type: t.share for t in found.type_mix}
    for name, share in zip(analysis_types(), TYPE_SHARES, strict=True):
        assert shares[name] == pytest.approx(share, abs=0.04)
    economics = {e.relationship_type: e for e in found.economics}
    partner, acquaintance = economics["partner"], economics["acquaintance"]
    # The generator's truth: partners cost ~3x and bring ~16x what acquaintances do.
    assert 2.2 < partner.cost_to_serve / acquaintance.cost_to_serve < 4.0
    assert partner.revenue / acquaintance.revenue > 10
    assert economics["bff"].revenue > economics["fair_weather_friend"].revenue
    assert economics["fair_weather_friend"].profit < economics["acquaintance"].profit
    # The 80/20 rule, and the top fifth brings at least its share of the profit.
    assert 0.6 < found.top20_revenue_share < 0.9
    assert found.top20_profit_share >= found.top20_revenue_share
    assert all(t.from_type == t.to_type for t in found.transitions)
    assert len(found.value_map) == 500
    assert found.value_map_total == n
    top = [p.revenue for p in found.value_map]
    assert top == sorted(top, reverse=True)
    assert sum(p.relationship_type == "partner" for p in found.value_map[:50]) > 20


def analysis_types() -> tuple[str, ...]:
    from relint_devstack.demo import RELATIONSHIP_TYPES

    return RELATIONSHIP_TYPES


# -- 2. service impact ------------------------------------------------------------------------


def test_service_impact_finds_the_issue_types_that_drive_churn_and_the_one_that_sells() -> None:
    truth, customers, interactions = company()
    found = analysis.service_impact(interactions, customers, end_of(truth))
    hazards = {h.issue_type: h for h in found.hazards}
    assert set(hazards) == set(truth.churn_driving_issue_types) | set(truth.benign_issue_types)
    ranked = [h.issue_type for h in found.hazards]
    assert set(ranked[:3]) == set(truth.churn_driving_issue_types)
    for issue in truth.churn_driving_issue_types:
        assert hazards[issue].foreshadows_loss
        assert hazards[issue].lost_after > 20
    assert found.lost == int(customers.lost.sum())
    # Upsell follows the resolution of one issue type, and only that one.
    upsells = {u.issue_type: u for u in found.upsells}
    assert found.upsells[0].issue_type == truth.upsell_issue_type
    assert upsells[truth.upsell_issue_type].opens_upsell
    assert upsells[truth.upsell_issue_type].share > 3 * upsells[truth.upsell_issue_type].base_rate
    assert not any(u.opens_upsell for u in found.upsells[1:])
    resolved = sum(u.resolved for u in found.upsells)
    for upsell in found.upsells:
        assert upsell.resolved + upsell.base_resolved == resolved
        assert upsell.interval.low <= upsell.lift <= upsell.interval.high


def test_service_impact_counts_exposure_in_customer_years() -> None:
    # Two customers over one year each; "x" had an outage after half a year and left at the
    # end of it: its half year after the outage holds the only loss.
    year = analysis.YEAR
    customers = Customers(
        ("x", "y"), ("", ""), ("", ""), np.array([0.0, 0.0]), np.array([year, math.nan])
    )
    rows = [
        ("x", year / 2, "ticket_opened", "service", "inbound", 0, 0, 10, "e1", "outage"),
        ("y", 10.0, "ticket_opened", "service", "inbound", 0, 0, 10, "e1", "how_to"),
    ]
    found = analysis.service_impact(
        analysis.interactions_from_rows(rows, customers), customers, year
    )
    outage = next(h for h in found.hazards if h.issue_type == "outage")
    assert outage.customers_with == 1
    assert outage.lost_after == 1
    assert outage.lost_unexposed == 0
    assert outage.exposed_years == pytest.approx(0.5)
    assert outage.unexposed_years == pytest.approx(1.5)
    how_to = next(h for h in found.hazards if h.issue_type == "how_to")
    assert how_to.lost_after == 0
    assert how_to.lost_unexposed == 1


def test_service_impact_refuses_a_window_out_of_range() -> None:
    _, customers, interactions = company()
    with pytest.raises(InvalidAnalysis, match="window_days must be 1 to 365"):
        analysis.service_impact(interactions, customers, 0.0, window_days=0)


# -- 3. journey endings ----------------------------------------------------------------------


def test_journey_endings_rank_what_precedes_loss_and_flag_trends() -> None:
    truth, customers, interactions = company()
    found = analysis.journey_endings(interactions, customers, end_of(truth))
    causes = {c.cause: c for c in found.causes}
    assert found.lost == int(customers.lost.sum()) > 100
    assert "cancellation" not in causes  # the end itself is no cause
    driving = [causes[f"issue:{i}"] for i in CHURN_DRIVING_ISSUES]
    benign = [causes[f"issue:{i}"] for i in truth.benign_issue_types if f"issue:{i}" in causes]
    assert min(c.lift for c in driving) > max(c.lift for c in benign)
    assert all(c.trend for c in driving)
    # The drift the generator builds in before a loss: complaints, escalations, fading use.
    for kind in ("complaint", "ticket_escalated", "usage_decrease", "social_complaint"):
        assert causes[kind].trend, kind
        assert causes[kind].interval.low > 1, kind
    assert not causes["invoice_sent"].trend
    for cause in found.causes:
        assert cause.trend == (cause.lost_with >= 3 and cause.lift > 1)
    lifts = [c.lift for c in found.causes]
    assert lifts == sorted(lifts, reverse=True)


def test_a_cause_seen_twice_is_no_trend() -> None:
    day = analysis.DAY
    customers = Customers(
        ("a", "b", "c", "d"),
        ("", "", "", ""),
        ("", "", "", ""),
        np.zeros(4),
        np.array([100 * day, 100 * day, math.nan, math.nan]),
    )
    rows = [
        ("a", 90 * day, "complaint", "service", "inbound", 0, 0, 0, None, None),
        ("b", 95 * day, "complaint", "service", "inbound", 0, 0, 0, None, None),
        ("a", 100 * day, "cancellation", "sales", "inbound", 0, 0, 0, None, None),
        ("c", 190 * day, "purchase", "sales", "inbound", 50, 0, 0, None, None),
    ]
    found = analysis.journey_endings(
        analysis.interactions_from_rows(rows, customers), customers, 200 * day
    )
    [complaint] = found.causes
    assert (complaint.cause, complaint.lost_with, complaint.retained_with) == ("complaint", 2, 0)
    assert not complaint.trend


# -- 4. stars ---------------------------------------------------------------------------------


def test_stars_come_out_on_top_and_small_samples_are_shrunk() -> None:
    truth, customers, interactions = company()
    found = analysis.stars(interactions, customers, end_of(truth))
    top = [c.employee for c in found.employees[: len(truth.star_employees)]]
    assert set(top) == set(truth.star_employees)
    for cell in found.employees + found.by_type:
        low, high = sorted((cell.retention_raw, found.mean_retention))
        assert low - 1e-9 <= cell.retention <= high + 1e-9
        assert cell.retention_interval.low <= cell.retention <= cell.retention_interval.high
    assert sum(c.customers for c in found.employees) == len(customers.ids)
    # Per type too: within partners, a star's customers stay more often than the others'.
    partners = [c for c in found.by_type if c.group == "partner"]
    stars = [c.retention for c in partners if c.employee in truth.star_employees]
    others = [c.retention for c in partners if c.employee not in truth.star_employees]
    assert np.mean(stars) > np.mean(others)
    assert {c.group for c in found.by_stage} == {"terminating", "bonding"}


def test_one_lucky_customer_does_not_make_a_star() -> None:
    n = 41
    ids = tuple(f"c{i}" for i in range(n))
    # e1 keeps 14 of 20, e2 10 of 20, e3 its only customer.
    lost = [i % 20 >= 14 for i in range(20)] + [i % 20 >= 10 for i in range(20)] + [False]
    customers = Customers(
        ids,
        ("t",) * n,
        ("",) * n,
        np.zeros(n),
        np.array([50.0 if x else math.nan for x in lost]),
    )
    owners = ["e1"] * 20 + ["e2"] * 20 + ["e3"]
    rows = [
        (c, 1.0, "call", "sales", "outbound", 0, 0, 0, o, None)
        for c, o in zip(ids, owners, strict=True)
    ]
    found = analysis.stars(analysis.interactions_from_rows(rows, customers), customers, 100.0)
    cells = {c.employee: c for c in found.employees}
    assert cells["e3"].retention_raw == 1.0
    assert cells["e3"].retention < cells["e1"].retention
    assert found.employees[0].employee == "e1"


# -- 5. engagement and sales ----------------------------------------------------------------


def test_community_engagement_leads_revenue_by_about_a_month() -> None:
    truth, customers, interactions = company()
    # Months as the generator steps them (30 days from its start): its 24th ends here.
    as_of = truth.config.start + timedelta(days=720)
    found = analysis.engagement_sales(interactions, customers, as_of.timestamp())
    community = next(c for c in found.channels if c.channel == "community")
    lags = {lag.lag_months: lag for lag in community.lags}
    assert community.best_lag_months == round(truth.engagement_lead_days / 30) == 1
    assert community.leads_revenue
    assert lags[1].interval.low > 0
    assert lags[1].correlation > lags[0].correlation
    assert lags[1].revenue_per_engagement > 0
    assert lags[1].pairs > 5000


def test_engagement_refuses_lags_beyond_the_months() -> None:
    _, customers, interactions = company()
    with pytest.raises(InvalidAnalysis, match="max_lag"):
        analysis.engagement_sales(interactions, customers, 0.0, months=4, max_lag=3)


# -- 6. return on relationship ---------------------------------------------------------------


def test_return_on_relationship_values_partners_advocacy_with_tenant_weights() -> None:
    truth, customers, interactions = company()
    found = analysis.return_on_relationship(interactions, customers, end_of(truth))
    by_type = {r.group: r for r in found.by_type}
    assert max(by_type.values(), key=lambda r: r.per_customer).group == "partner"

    def advocacy(name: str) -> float:
        row = by_type[name]
        return (row.recommendations + row.sharing) / row.customers

    assert advocacy("partner") > 5 * advocacy("acquaintance")
    assert found.tenant.customers == sum(r.customers for r in found.by_type)
    assert found.tenant.total == pytest.approx(
        found.tenant.revenue
        + found.tenant.loyalty
        + found.tenant.recommendations
        + found.tenant.sharing
    )
    assert len(found.top) == 20
    assert found.top[0].total >= found.top[-1].total
    doubled = analysis.return_on_relationship(
        interactions, customers, end_of(truth), {"referral": 1000.0, "review": 0.0}
    )
    assert doubled.weights["referral"] == 1000.0
    assert doubled.tenant.recommendations != found.tenant.recommendations
    assert doubled.tenant.revenue == found.tenant.revenue


def test_bad_weights_are_refused_by_name() -> None:
    with pytest.raises(InvalidAnalysis, match=r"unknown weight 'likes'.*'referral' must be"):
        analysis.ror_weights({"likes": 1.0, "referral": -5.0})


def test_a_prior_is_never_surer_than_all_the_data() -> None:
    """Groups whose rates differ no more than noise are pooled, but with the weight of what
    was observed, not an infinite one: their intervals keep a width."""
    successes, trials = np.array([8.0, 4.0, 1.0]), np.array([10.0, 5.0, 1.0])
    a, b = analysis._beta_prior(successes, trials)
    assert a + b == pytest.approx(16.0)
    assert a / (a + b) == pytest.approx(13 / 16)


def test_a_scoring_process_does_not_load_scipy_stats() -> None:
    """The lenses' beta quantiles come from scipy.special, which the retention fit loads
    anyway: importing scipy.stats held 27 MB of every scoring process for two calls."""
    probe = "import sys, scoring.main; print(sorted(m for m in sys.modules if 'scipy.stats' in m))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
