"""Retention models fitted per tenant on purchase-like interactions: BG/NBD and Pareto/NBD for
whether and how often a customer buys again, Gamma-Gamma for how much, and lifetime value.

Our own maximum-likelihood fitters (numpy + scipy, vectorised over customers): on the CDNOW
1/10 sample they reproduce the published estimates (`tests/scoring/test_retention.py`).

References: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An
Alternative to the Pareto/NBD Model"; Fader & Hardie (2005), "A Note on Deriving the
Pareto/NBD Model and Related Expressions"; Fader, Hardie & Lee (2005), "RFM and CLV: Using
Iso-Value Curves for Customer Base Analysis" (Gamma-Gamma).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

from scoring.domain import customer_codes

Array = NDArray[np.float64]


@dataclass(frozen=True)
class RFM:
    """Per customer: repeat purchases (x), time of the last one since the first (t_x), and
    time from the first purchase to the end of the calibration period (T); in periods."""

    frequency: Array
    recency: Array
    age: Array
    monetary: Array | None = None  # mean value of the repeat purchases (0 without any)


def rfm(
    customer_ids: Sequence[Any] | NDArray[Any],
    times: Array,
    cutoff: float,
    amounts: Array | None = None,
    period_bucket: float | None = None,
) -> tuple[list[Any], RFM]:
    """Calibration RFM from transactions (times in periods), with the customers in its order
    (as given: names or codes). With `period_bucket`, purchases in the same bucket (say a
    day, 1/7 of a week) count once, their amounts summed. Only customers whose first
    purchase is before the cutoff."""
    ids = np.asarray(customer_ids)
    t = np.asarray(times, dtype=float)
    money = np.zeros_like(t) if amounts is None else np.asarray(amounts, dtype=float)
    keep = t <= cutoff
    ids, t, money = ids[keep], t[keep], money[keep]
    if not len(t):  # nobody bought yet: np.bincount of nothing would be integers
        empty = np.zeros(0)
        return [], RFM(frequency=empty, recency=empty, age=empty, monetary=empty)
    if period_bucket:  # rounded first: t / bucket is a whole number plus float noise
        t = np.floor(np.round(t / period_bucket, 6)) * period_bucket
    order = np.lexsort((t, ids))
    ids, t, money = ids[order], t[order], money[order]
    # Merge purchases of one customer in one bucket.
    new = np.ones(len(t), dtype=bool)
    new[1:] = (ids[1:] != ids[:-1]) | (t[1:] != t[:-1])
    group = np.cumsum(new) - 1
    ids, t = ids[new], t[new]
    money = np.bincount(group, weights=money)
    first = np.ones(len(t), dtype=bool)
    first[1:] = ids[1:] != ids[:-1]
    customer = np.cumsum(first) - 1
    start = t[first]
    count = np.bincount(customer)
    last = np.full(len(start), -np.inf)
    np.maximum.at(last, customer, t)
    repeat_money = np.bincount(customer, weights=np.where(first, 0.0, money))
    frequency = (count - 1).astype(float)
    monetary = np.divide(
        repeat_money, frequency, out=np.zeros_like(repeat_money), where=frequency > 0
    )
    return ids[first].tolist(), RFM(
        frequency=frequency, recency=last - start, age=cutoff - start, monetary=monetary
    )


@dataclass(frozen=True)
class Purchases:
    """A tenant's purchases as columns (20 bytes each, not a row object): the customer as a
    code into `customers`, the time in periods and the amount."""

    customers: list[str]
    codes: NDArray[np.int32]
    times: Array
    amounts: Array

    def rfm(self, cutoff: float, period_bucket: float | None = None) -> tuple[list[str], RFM]:
        """`rfm` of these purchases, with the customers by name."""
        codes, data = rfm(self.codes, self.times, cutoff, self.amounts, period_bucket)
        return [self.customers[c] for c in codes], data


class PurchasesBuilder:
    """Builds `Purchases` from chunks of rows (a read in chunks holds one chunk of rows at a
    time, never every purchase of the tenant)."""

    def __init__(self) -> None:
        self._index: dict[str, int] = {}
        self._parts: list[tuple[NDArray[np.int32], Array, Array]] = []

    def add(
        self,
        customer_ids: Sequence[str],
        times: Sequence[float] | Array,
        amounts: Sequence[float] | Array,
    ) -> None:
        codes = customer_codes(self._index, customer_ids)
        self._parts.append((codes, np.asarray(times, float), np.asarray(amounts, float)))

    def build(self) -> Purchases:
        codes, times, amounts = (
            (np.concatenate(c) for c in zip(*self._parts, strict=True))
            if self._parts
            else (np.zeros(0, np.int32), np.zeros(0), np.zeros(0))
        )
        return Purchases(list(self._index), codes, times, amounts)


# BG/NBD


@dataclass(frozen=True)
class BGNBD:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float


@dataclass(frozen=True)
class _Distinct:
    """The distinct rows of some per-customer columns, and which one is each customer's: a
    likelihood's costly terms (the beta and gamma functions of the purchase count, the
    Pareto/NBD's hypergeometric function) are computed once a distinct row and gathered. A
    tenant's 100,000 customers have a hundred or so distinct counts and some 15,000 distinct
    (count, day) pairs, and the customers the hypergeometric function is slowest for, with
    none or one repeat purchase, share few."""

    columns: tuple[Array, ...]
    at: NDArray[np.intp]


def _distinct(*columns: Array) -> _Distinct:
    rows, at = np.unique(np.stack(columns), axis=1, return_inverse=True)
    return _Distinct(tuple(rows), at.reshape(-1))


def _bgnbd_ll(
    params: Array, x: Array, tx: Array, T: Array, counts: _Distinct | None = None
) -> Array:
    """Each customer's log-likelihood (Fader, Hardie & Lee 2005, eq. 6); `counts` is
    `_distinct(x)`, made here when not given."""
    r, alpha, a, b = params
    counts = counts or _distinct(x)
    (n,) = counts.columns
    with np.errstate(divide="ignore", invalid="ignore"):
        base = gammaln(r + n) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
        stays = (base + betaln(a, b + n))[counts.at] - (r + x) * np.log(alpha + T)
        left = np.where(n > 0, base + betaln(a + 1, np.maximum(b + n - 1, 1e-12)), -np.inf)
        # Off the valid region the result is NaN: the fitter steps away.
        result: Array = np.logaddexp(stays, left[counts.at] - (r + x) * np.log(alpha + tx))
    return result


# The search keeps every parameter within 1e-4..1e4 (periods are weeks). Beyond, the
# likelihood is a flat ridge: Pareto/NBD on customers who all drop out at the same slow rate
# walks s and beta towards infinity together, gaining nothing, for minutes (a 200-customer
# history took 90 s and ended at s 157, beta 95,700; bounded, 1.8 s and a log-likelihood
# 0.003 lower).
LOG_BOUNDS = (float(np.log(1e-4)), float(np.log(1e4)))


# A search ends when a step gains less than this share of the likelihood: an absolute
# tolerance is below the float noise of a sum over 100,000 customers, and the polish then
# walked its whole 2,000 iterations for nothing (10 s of a BG/NBD fit at 5,000 customers).
RELATIVE_GAIN = 1e-10


def _fit(
    objective: object,
    start: Sequence[float],
    data: tuple[Array, ...],
    prepared: tuple[_Distinct, ...] = (),
) -> tuple[Array, float]:
    """Maximises the log-likelihood over log-parameters: a quasi-Newton search on the mean
    per customer (on the sum, its first steps overflowed, and a Pareto/NBD search stopped
    where it started), started again from where it stopped while that still gains, then a
    Nelder-Mead polish (robust where the surface is a flat ridge). The objective takes the
    parameters, the customers' columns `data` and what was `prepared` from them once.
    Returns the parameters and the summed log-likelihood."""

    def negative(log_params: Array) -> float:
        with np.errstate(over="ignore"):  # such a step is refused below
            value = -float(np.mean(objective(np.exp(log_params), *data, *prepared)))  # type: ignore[operator]
        return value if np.isfinite(value) else 1e300

    bounds = [LOG_BOUNDS] * len(start)
    at, lowest = np.log(np.asarray(start, dtype=float)), np.inf
    for _ in range(5):
        found = minimize(
            negative, at, method="L-BFGS-B", bounds=bounds, options={"ftol": 1e-13, "gtol": 1e-9}
        )
        gained = lowest - found.fun
        if found.fun < lowest:
            at, lowest = found.x, float(found.fun)
        if not gained > RELATIVE_GAIN * abs(lowest):
            break
    polished = minimize(
        negative,
        at,
        method="Nelder-Mead",
        bounds=bounds,
        # Parameters to a ten-thousandth of their size (the published ones have three
        # digits): tighter, the polish took twice the steps for the same likelihood.
        options={"maxiter": 2_000, "xatol": 1e-4, "fatol": RELATIVE_GAIN * abs(lowest)},
    )
    if polished.fun < lowest:
        at, lowest = polished.x, float(polished.fun)
    return np.exp(at), -lowest * len(data[0])


def fit_bgnbd(data: RFM) -> BGNBD:
    """Maximum likelihood over (r, alpha, a, b), on the log scale so all stay positive."""
    (r, alpha, a, b), ll = _fit(
        _bgnbd_ll,
        (0.5, max(float(np.mean(data.age)), 1.0), 1.0, 1.0),
        (data.frequency, data.recency, data.age),
        (_distinct(data.frequency),),
    )
    return BGNBD(r, alpha, a, b, ll)


def bgnbd_probability_alive(p: BGNBD, data: RFM) -> Array:
    x, tx, T = data.frequency, data.recency, data.age
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.where(
            x > 0,
            (p.a / np.maximum(p.b + x - 1, 1e-12)) * ((p.alpha + T) / (p.alpha + tx)) ** (p.r + x),
            0.0,
        )
    alive: Array = 1.0 / (1.0 + odds)
    return alive


def bgnbd_expected_purchases(p: BGNBD, data: RFM, horizon: float) -> Array:
    """E[purchases in the next `horizon` periods | the customer's history]."""
    x, _tx, T = data.frequency, data.recency, data.age
    ratio = (p.alpha + T) / (p.alpha + T + horizon)
    hyper = hyp2f1(p.r + x, p.b + x, p.a + p.b + x - 1, horizon / (p.alpha + T + horizon))
    numerator = (p.a + p.b + x - 1) / (p.a - 1) * (1 - ratio ** (p.r + x) * hyper)
    expected: Array = numerator * bgnbd_probability_alive(p, data)
    return expected


def bgnbd_expected_purchases_new(p: BGNBD, t: float) -> float:
    """E[purchases in `t` periods] of a customer just acquired (for aggregate forecasts)."""
    hyper = hyp2f1(p.r, p.b, p.a + p.b - 1, t / (p.alpha + t))
    return float((p.a + p.b - 1) / (p.a - 1) * (1 - (p.alpha / (p.alpha + t)) ** p.r * hyper))


# Pareto/NBD


@dataclass(frozen=True)
class ParetoNBD:
    r: float
    alpha: float
    s: float
    beta: float
    log_likelihood: float


def _pareto_log_tail(params: Array, pairs: _Distinct) -> Array:
    """log of s/(r+s+x) * A(t) for each distinct pair (x, t), where A(t) = (r+s+x) times the
    integral from t to infinity of (alpha+u)^-(r+x) (beta+u)^-(s+1) du (Fader & Hardie's A0
    is A(t_x) - A(T)). Its hypergeometric function is taken after Euler's transformation,
    2F1(a, b; a+1; z) = (1-z)^(1-b) 2F1(1, a+1-b; a+1; z): bounded for any number of
    purchases (untransformed, it overflowed past ~120 repeat purchases and the likelihood
    was NaN), and (1-z) is computed as a ratio, not a difference from 1."""
    r, alpha, s, beta = params
    x, t = pairs.columns
    rsx = r + s + x
    if alpha < beta:
        z = (beta - alpha) / (beta + t)
        log_power = -rsx * np.log(beta + t) + (1 - r - x) * np.log((alpha + t) / (beta + t))
        hyper = hyp2f1(1.0, s + 1, rsx + 1, z)
    else:
        z = (alpha - beta) / (alpha + t)
        log_power = -rsx * np.log(alpha + t) - s * np.log((beta + t) / (alpha + t))
        hyper = hyp2f1(1.0, r + x, rsx + 1, z)
    tail: Array = np.log(s) - np.log(rsx) + log_power + np.log(hyper)
    return tail


def _pareto_ll(
    params: Array,
    x: Array,
    tx: Array,
    T: Array,
    at_last: _Distinct | None = None,
    at_age: _Distinct | None = None,
) -> Array:
    """Each customer's log-likelihood (Fader & Hardie 2005, eq. 22); `at_last` and `at_age`
    are `_distinct(x, tx)` and `_distinct(x, T)`, made here when not given."""
    r, alpha, s, beta = params
    at_last = at_last or _distinct(x, tx)
    at_age = at_age or _distinct(x, T)
    n = at_last.columns[0]
    common = (gammaln(r + n) - gammaln(r))[at_last.at] + r * np.log(alpha) + s * np.log(beta)
    first = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    # The optimiser may try parameters where these overflow; the likelihood is then NaN
    # and the step is refused, so the warnings say nothing.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a1 = _pareto_log_tail(params, at_last)[at_last.at]
        a2 = _pareto_log_tail(params, at_age)[at_age.at]
        # log(exp(a1) - exp(a2)), a1 >= a2 (the tail from t_x holds the one from T)
        second = a1 + np.log1p(-np.exp(np.minimum(a2 - a1, 0.0)))
        result: Array = common + np.logaddexp(first, second)
    return result


def fit_pareto_nbd(data: RFM) -> ParetoNBD:
    """Maximum likelihood over (r, alpha, s, beta), on the log scale."""
    x, tx, T = data.frequency, data.recency, data.age
    (r, alpha, s, beta), ll = _fit(
        _pareto_ll,
        (0.5, max(float(np.mean(T)), 1.0), 0.5, max(float(np.mean(T)), 1.0)),
        (x, tx, T),
        (_distinct(x, tx), _distinct(x, T)),
    )
    return ParetoNBD(r, alpha, s, beta, ll)


def pareto_nbd_probability_alive(p: ParetoNBD, data: RFM) -> Array:
    x, tx, T = data.frequency, data.recency, data.age
    ll = _pareto_ll(np.array([p.r, p.alpha, p.s, p.beta]), x, tx, T)
    log_alive_part = (
        gammaln(p.r + x)
        - gammaln(p.r)
        + p.r * np.log(p.alpha)
        + p.s * np.log(p.beta)
        - (p.r + x) * np.log(p.alpha + T)
        - p.s * np.log(p.beta + T)
    )
    alive: Array = np.exp(log_alive_part - ll)
    return alive


def pareto_nbd_expected_purchases(p: ParetoNBD, data: RFM, horizon: float) -> Array:
    """E[purchases in the next `horizon` periods | history] (Schmittlein et al.)."""
    x, T = data.frequency, data.age
    rate = (p.r + x) * (p.beta + T) / ((p.alpha + T) * (p.s - 1))
    expected: Array = (
        rate
        * (1 - ((p.beta + T) / (p.beta + T + horizon)) ** (p.s - 1))
        * pareto_nbd_probability_alive(p, data)
    )
    return expected


# Gamma-Gamma


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    v: float
    log_likelihood: float


def _gg_ll(params: Array, x: Array, m: Array) -> Array:
    p, q, v = params
    result: Array = (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(v)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(x * m + v)
    )
    return result


def fit_gamma_gamma(frequency: Array, monetary: Array) -> GammaGamma:
    """On customers with repeat purchases: their number and mean value."""
    use = (frequency > 0) & (monetary > 0)
    (p, q, v), ll = _fit(
        _gg_ll, (1.0, 1.0, max(float(np.mean(monetary[use])), 1.0)), (frequency[use], monetary[use])
    )
    return GammaGamma(p, q, v, ll)


def gamma_gamma_expected_spend(g: GammaGamma, frequency: Array, monetary: Array) -> Array:
    """E[value of a purchase | history]; the population mean for customers without repeats."""
    population = g.p * g.v / (g.q - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        own = (g.p * (frequency * monetary + g.v)) / (g.p * frequency + g.q - 1)
    spend: Array = np.where(frequency > 0, own, population)
    return spend


def lifetime_value(
    bg: BGNBD | ParetoNBD,
    gg: GammaGamma,
    data: RFM,
    horizon: int,
    discount_per_period: float = 0.0,
) -> Array:
    """Discounted value over `horizon` periods: the expected purchases of each period (the
    difference of cumulative expectations) times the expected spend, discounted per period."""
    assert data.monetary is not None
    spend = gamma_gamma_expected_spend(gg, data.frequency, data.monetary)
    total = np.zeros(len(data.frequency))
    previous = np.zeros(len(data.frequency))
    for period in range(1, horizon + 1):
        cumulative = expected_purchases(bg, data, float(period))
        total += (cumulative - previous) / (1 + discount_per_period) ** period
        previous = cumulative
    value: Array = total * spend
    return value


def probability_alive(model: BGNBD | ParetoNBD, data: RFM) -> Array:
    if isinstance(model, BGNBD):
        return bgnbd_probability_alive(model, data)
    return pareto_nbd_probability_alive(model, data)


def expected_purchases(model: BGNBD | ParetoNBD, data: RFM, horizon: float) -> Array:
    if isinstance(model, BGNBD):
        return bgnbd_expected_purchases(model, data, horizon)
    return pareto_nbd_expected_purchases(model, data, horizon)


def _auc(score: Array, positive: NDArray[np.bool_]) -> float:
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    # Average ranks over ties, as the Mann-Whitney statistic wants.
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
    n1, n0 = int(positive.sum()), int((~positive).sum())
    if not n1 or not n0:
        return 0.5
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def select_model(
    customer_ids: Sequence[Any] | NDArray[Any],
    times: Array,
    cutoff: float,
    period_bucket: float | None = None,
) -> tuple[str, dict[str, float]]:
    """Which of BG/NBD and Pareto/NBD ranks "buys again" better on this tenant's own data:
    both are fitted on the first two thirds of the history and judged by the AUC of their
    forecast for the last third. Returns the winner ("bgnbd" on a tie) and both AUCs."""
    ids = np.asarray(customer_ids)
    t = np.asarray(times, dtype=float)
    split = cutoff - (cutoff - float(t.min())) / 3
    early_ids, early = rfm(ids, t, split, None, period_bucket)
    active = np.isin(early_ids, ids[(t > split) & (t <= cutoff)])
    horizon = cutoff - split
    scores = {
        "bgnbd": _auc(bgnbd_expected_purchases(fit_bgnbd(early), early, horizon), active),
        "pareto_nbd": _auc(
            pareto_nbd_expected_purchases(fit_pareto_nbd(early), early, horizon), active
        ),
    }
    winner = "pareto_nbd" if scores["pareto_nbd"] > scores["bgnbd"] else "bgnbd"
    return winner, scores
