"""Lookalikes: the customers most like a given one, or like a set (say, the most profitable
Partners), by behaviour and by their own words, with why.

Behaviour is a few named numbers per customer (`behaviour_features` builds them from plain
aggregates). Rates, money and tenure are compressed with log1p (money and counts are
heavy-tailed: one big account must not decide the scale), then every feature becomes a
robust z-score over the population (median and MAD; the standard deviation where more than
half the customers share one value, as with rare kinds), clipped to +-4. Behaviour
similarity is the cosine between a customer's z-vector and the references' centroid,
mapped from -1..1 to 0..1.

Words are the customer's own texts, concatenated. They become TF-IDF vectors over word 1-
and 2-grams (lower-cased words of two or more letters, English stop words removed before the
pairs are formed, terms in at least two customers' texts, sublinear tf, smoothed idf, unit
length): the same numbers as scikit-learn's `TfidfVectorizer` with those settings (the tests
check it), computed here with numpy and scipy because the vectoriser's per-document Python
loop takes ~4 s on 50,000 customers' texts (19 MB) and the goal is well under 2 s; this takes
~1 s, and the model of the last two corpora is kept, so that asking again about the same
customers' words costs ~0.15 s in all (`bench/lookalikes.py`). Text similarity is the
cosine with the references' centroid (0..1: TF-IDF weights are never negative). The model
runs on the CPU and downloads nothing.

The ranking blends the two: `(1 - text_weight) * behaviour + text_weight * text`; when the
references have no words at all, text cannot rank and behaviour alone does. The references
themselves are never in the answer. Each lookalike says why: the features on which it and
the references stand out the same way from the population, and the distinctive words and
phrases they share.
"""

from __future__ import annotations

import math
import numbers
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from operator import itemgetter

import numpy as np
import numpy.typing as npt
from scipy import sparse

MAX_LIMIT = 100
# Features kept on their own scale (they can be negative); every other one is log1p'd.
LINEAR_FEATURES = frozenset({"mean_sentiment"})
Z_CLIP = 4.0
# A feature speaks for a lookalike only where the references stand out on it this much.
DISTINCTIVE_Z = 0.5
REASONS_PER_LENS = 3
MIN_DF = 2
DAYS_PER_MONTH = 365.25 / 12
_TOKEN = re.compile(r"\w{2,}")
# scikit-learn's English list ("english"), kept here so that nothing but numpy and scipy is
# needed at run time.
STOP_WORDS = frozenset(
    """a about above across after afterwards again against all almost alone along already
    also although always am among amongst amoungst amount an and another any anyhow anyone
    anything anyway anywhere are around as at back be became because become becomes
    becoming been before beforehand behind being below beside besides between beyond bill
    both bottom but by call can cannot cant co con could couldnt cry de describe detail do
    done down due during each eg eight either eleven else elsewhere empty enough etc even
    ever every everyone everything everywhere except few fifteen fifty fill find fire first
    five for former formerly forty found four from front full further get give go had has
    hasnt have he hence her here hereafter hereby herein hereupon hers herself him himself
    his how however hundred i ie if in inc indeed interest into is it its itself keep last
    latter latterly least less ltd made many may me meanwhile might mill mine more moreover
    most mostly move much must my myself name namely neither never nevertheless next nine
    no nobody none noone nor not nothing now nowhere of off often on once one only onto or
    other others otherwise our ours ourselves out over own part per perhaps please put
    rather re same see seem seemed seeming seems serious several she should show side since
    sincere six sixty so some somehow someone something sometime sometimes somewhere still
    such system take ten than that the their them themselves then thence there thereafter
    thereby therefore therein thereupon these they thick thin third this those though three
    through throughout thru thus to together too top toward towards twelve twenty two un
    under until up upon us very via was we well were what whatever when whence whenever
    where whereafter whereas whereby wherein whereupon wherever whether which while whither
    who whoever whole whom whose why will with within without would yet you your yours
    yourself yourselves""".split()  # noqa: SIM905 - a word list reads better than 318 quoted words
)
_STOP_BYTES = frozenset(w.encode() for w in STOP_WORDS)
# `\w` in ASCII is letters, digits and the underscore; every other ASCII byte separates
# words. Bytes of other letters are kept (only `\w` words reach the split with them), and
# NUL marks the end of a text.
_END = b"\0"
_WORD_BYTES = bytes(
    c if c == 0 or c >= 128 or chr(c).isalnum() or chr(c) == "_" else 32 for c in range(256)
)


@dataclass(frozen=True)
class CustomerProfile:
    customer_id: str
    behaviour: Mapping[str, float]  # named behavioural features (`behaviour_features`)
    text: str  # the customer's own words, concatenated (may be "")


@dataclass(frozen=True)
class Lookalike:
    customer_id: str
    similarity: float  # 0..1, the blend used for ranking
    behaviour_similarity: float  # 0..1
    text_similarity: float  # 0..1
    # Why, in words: the features on which it stands out like the references, and the
    # distinctive words and phrases they share.
    reasons: tuple[str, ...]


# The amounts a behaviour divides by the months observed, in the order it lists them.
AMOUNT_FEATURES = ("revenue", "cost_to_serve", "refunds", "referrals")


def _per_month(group: str, name: str) -> str:
    """A rate feature's name: `channel.email_per_month`, `revenue_per_month`."""
    return f"{group}.{name}_per_month" if group else f"{name}_per_month"


def behaviour_features(
    *,
    months: float,
    interactions_by_channel: Mapping[str, float],
    revenue: float = 0.0,
    cost_to_serve: float = 0.0,
    refunds: float = 0.0,
    mean_sentiment: float | None = None,
    referrals: float = 0.0,
    tenure_days: float = 0.0,
    kinds: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """A customer's `behaviour` from plain aggregates over one observation window.

    - `months`: how long the customer was observed in the window, in months (> 0): the
      window, or less for a customer who joined during it. Counts and money are divided by
      it, so that a new customer compares with an old one by its pace, not its totals.
    - `interactions_by_channel`: the number of interactions per channel in the window
      (marketing, sales, service, social, community, finance, operations, email, ...).
    - `revenue`, `cost_to_serve`, `refunds`: money in the window, in one currency, >= 0.
    - `mean_sentiment`: the mean sentiment (-1..1) of its interactions; None when none had
      any (then 0, neutral).
    - `referrals`: referrals it made in the window.
    - `tenure_days`: days since it became a customer, at the end of the window.
    - `kinds`: counts of further interaction kinds worth comparing (renewal, review,
      co_marketing, complaint, discount_requested, ...); `referral` is `referrals`.

    Returns `<channel>_per_month` (`channel.` prefixed), `revenue_per_month`,
    `cost_to_serve_per_month`, `refunds_per_month`, `mean_sentiment`, `referrals_per_month`,
    `tenure_months` and `kind.<kind>_per_month`. Raises ValueError naming a bad input.
    """
    if not _finite(months) or months <= 0:
        raise ValueError(f"months: a positive number of months observed, not {months!r}")
    out: dict[str, float] = {}
    for group, counts in (("channel", interactions_by_channel), ("kind", kinds or {})):
        for name, count in counts.items():
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"{group} names must be non-empty strings, not {name!r}")
            if not _finite(count) or count < 0:
                raise ValueError(f"{group} {name!r}: a count >= 0, not {count!r}")
            if group == "kind" and name == "referral":
                raise ValueError("kind 'referral': pass referrals as `referrals`")
            out[_per_month(group, name)] = float(count) / months
    for name, amount in zip(
        AMOUNT_FEATURES, (revenue, cost_to_serve, refunds, referrals), strict=True
    ):
        if not _finite(amount) or amount < 0:
            raise ValueError(f"{name}: a number >= 0, not {amount!r}")
        out[_per_month("", name)] = float(amount) / months
    if mean_sentiment is not None and (not _finite(mean_sentiment) or abs(mean_sentiment) > 1):
        raise ValueError(f"mean_sentiment: a number from -1 to 1, not {mean_sentiment!r}")
    out["mean_sentiment"] = float(mean_sentiment or 0.0)
    if not _finite(tenure_days) or tenure_days < 0:
        raise ValueError(f"tenure_days: a number of days >= 0, not {tenure_days!r}")
    out["tenure_months"] = float(tenure_days) / DAYS_PER_MONTH
    return out


def behaviour_table(
    *,
    months: npt.NDArray[np.float64],
    interactions_by_channel: Mapping[str, npt.NDArray[np.float64]],
    revenue: npt.NDArray[np.float64],
    cost_to_serve: npt.NDArray[np.float64],
    refunds: npt.NDArray[np.float64],
    mean_sentiment: npt.NDArray[np.float64],
    referrals: npt.NDArray[np.float64],
    tenure_days: npt.NDArray[np.float64],
    kinds: Mapping[str, npt.NDArray[np.float64]],
) -> list[dict[str, float]]:
    """`behaviour_features` for many customers at once, from one array per input (a
    customer per element; `mean_sentiment` 0 where none was known): the same features
    under the same names, computed by numpy, checked once for the whole table."""
    if not (months > 0).all():
        raise ValueError("behaviour: months must be > 0 for every customer")
    columns: dict[str, npt.NDArray[np.float64]] = {}
    for group, counts in (("channel", interactions_by_channel), ("kind", kinds)):
        for name, count in counts.items():
            if not name.strip() or (group == "kind" and name == "referral"):
                raise ValueError(f"{group} name {name!r} is not allowed")
            columns[_per_month(group, name)] = count / months
    for name, amount in zip(
        AMOUNT_FEATURES, (revenue, cost_to_serve, refunds, referrals), strict=True
    ):
        columns[_per_month("", name)] = amount / months
    columns["mean_sentiment"] = mean_sentiment
    columns["tenure_months"] = tenure_days / DAYS_PER_MONTH
    names = list(columns)
    table = (
        np.stack([columns[n] for n in names], axis=1) if len(months) else np.zeros((0, len(names)))
    )
    if not np.isfinite(table).all():
        raise ValueError("behaviour: every feature must be a finite number")
    if (np.delete(table, names.index("mean_sentiment"), axis=1) < 0).any():
        raise ValueError("behaviour: counts, money and tenure must be >= 0")
    if (np.abs(columns["mean_sentiment"]) > 1).any():
        raise ValueError("behaviour: mean_sentiment must be from -1 to 1")
    return [dict(zip(names, row, strict=True)) for row in table.tolist()]


def similar_customers(
    profiles: Sequence[CustomerProfile],
    to: Sequence[str],
    limit: int = 10,
    text_weight: float = 0.4,
) -> list[Lookalike]:
    """The `limit` customers most like `to` (one id, or a set compared through its
    centroid), best first; the references themselves excluded."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: a whole number from 1 to {MAX_LIMIT}, not {limit!r}")
    if not _finite(text_weight) or not 0 <= text_weight <= 1:
        raise ValueError(f"text_weight: a number from 0 to 1, not {text_weight!r}")
    references = [to] if isinstance(to, str) else list(dict.fromkeys(to))
    if not references:
        raise ValueError("to: name at least one reference customer")
    ids = [p.customer_id for p in profiles]
    row = {c: i for i, c in enumerate(ids)}
    if len(row) != len(ids):
        twice = sorted(c for c, n in Counter(ids).items() if n > 1)
        raise ValueError(f"profiles: customer ids appear more than once: {', '.join(twice[:5])}")
    unknown = [c for c in references if c not in row]
    if unknown:
        shown = ", ".join(map(repr, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
        raise ValueError(
            f"to: {len(unknown)} unknown customer id(s) among the {len(ids)} profiles: {shown}"
        )
    refs = np.array([row[c] for c in references], dtype=np.int64)

    names, raw = _behaviour_matrix(profiles)
    z = _robust_z(names, raw)
    centre = z[refs].mean(axis=0)
    behaviour = (_cosine(z, centre) + 1.0) / 2.0

    tfidf, terms = _tfidf(tuple(p.text for p in profiles))
    words = np.asarray(tfidf[refs].mean(axis=0)).ravel()
    norm = float(np.linalg.norm(words))
    if norm > 0:
        words /= norm
        text = np.clip(tfidf @ words, 0.0, 1.0)
        blend = (1 - text_weight) * behaviour + text_weight * text
    else:
        text = np.zeros(len(ids))
        blend = behaviour

    candidates = np.ones(len(ids), dtype=bool)
    candidates[refs] = False
    pool = np.flatnonzero(candidates)
    if pool.size == 0:
        return []
    k = min(limit, pool.size)
    # Everyone tied with the k-th best stays in the running; then best first, equal scores in
    # id order, so that the answer does not depend on the order of the profiles.
    cut = -np.partition(-blend[pool], k - 1)[k - 1]
    top = pool[blend[pool] >= cut]
    ranked = sorted(top.tolist(), key=lambda i: (-blend[i], ids[i]))[:k]
    reference_raw = np.median(raw[refs], axis=0)
    single = len(references) == 1
    return [
        Lookalike(
            ids[i],
            round(float(blend[i]), 6),
            round(float(behaviour[i]), 6),
            round(float(text[i]), 6),
            tuple(
                _behaviour_reasons(names, raw[i], reference_raw, z[i], centre, single)
                + _word_reasons(tfidf, i, words, terms)
            ),
        )
        for i in ranked
    ]


# -- behaviour -------------------------------------------------------------------------------


def _finite(value: object) -> bool:
    """A real number (numpy's too), not a bool, not infinite or NaN."""
    if type(value) is float or type(value) is int:  # the common case, without the ABC check
        return math.isfinite(value)
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool | np.bool_)
        and math.isfinite(value)
    )


def _behaviour_matrix(
    profiles: Sequence[CustomerProfile],
) -> tuple[list[str], npt.NDArray[np.float64]]:
    names = sorted(set(chain.from_iterable(p.behaviour for p in profiles)))
    if not names:
        return names, np.zeros((len(profiles), 0))
    every = itemgetter(*names) if len(names) > 1 else (lambda b: (b[names[0]],))

    def row(behaviour: Mapping[str, float]) -> Sequence[float]:
        try:
            values: Sequence[float] = every(behaviour)
        except KeyError:  # a feature it does not have counts as 0
            values = [behaviour.get(n, 0.0) for n in names]
        return values

    try:
        raw = np.fromiter(
            chain.from_iterable(row(p.behaviour) for p in profiles),
            dtype=np.float64,
            count=len(profiles) * len(names),
        ).reshape(len(profiles), len(names))
    except (TypeError, ValueError):
        raw = None
    if raw is None or not np.isfinite(raw).all():
        for p in profiles:
            for n, v in p.behaviour.items():
                if not _finite(v):
                    raise ValueError(
                        f"profile {p.customer_id!r}: behaviour {n!r} must be a finite number, "
                        f"not {v!r}"
                    ) from None
    assert raw is not None
    return names, raw


def _robust_z(names: Sequence[str], raw: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    values = raw.copy()
    for j, name in enumerate(names):
        column = values[:, j]
        if name not in LINEAR_FEATURES and column.min() >= 0:
            values[:, j] = np.log1p(column)
    median = np.median(values, axis=0)
    scale = 1.4826 * np.median(np.abs(values - median), axis=0)
    flat = scale == 0
    if flat.any():  # most customers share one value (a rare kind): fall back to the spread
        scale[flat] = values[:, flat].std(axis=0)
    scale[scale == 0] = np.inf  # everyone equal: the feature says nothing
    z: npt.NDArray[np.float64] = np.clip((values - median) / scale, -Z_CLIP, Z_CLIP)
    return z


def _cosine(
    matrix: npt.NDArray[np.float64], vector: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(vector)
    dots = matrix @ vector
    out: npt.NDArray[np.float64] = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    return np.clip(out, -1.0, 1.0)


def _label(name: str) -> str:
    group, _, rest = name.partition(".")
    if not rest:
        return name.replace("_", " ").replace(" per month", " a month")
    thing = rest.removesuffix("_per_month").replace("_", " ")
    if group == "channel":
        return f"{thing} interactions a month"
    if thing.endswith("ed"):
        return f"'{thing}' events a month"
    if thing.endswith(("s", "sh", "ch", "x")):
        return f"{thing}es a month"
    if thing.endswith("y") and thing[-2:-1] not in "aeiou":
        return f"{thing[:-1]}ies a month"
    return f"{thing}s a month"


def _number(name: str, value: float) -> str:
    if name.endswith(("revenue_per_month", "cost_to_serve_per_month", "refunds_per_month")):
        return f"{value:,.0f}"
    if name == "tenure_months":
        return f"{value:.0f}"
    return f"{value:.2f}"


def _behaviour_reasons(
    names: Sequence[str],
    own: npt.NDArray[np.float64],
    reference: npt.NDArray[np.float64],
    z: npt.NDArray[np.float64],
    centre: npt.NDArray[np.float64],
    single: bool,
) -> list[str]:
    # How far both stand out the same way: the smaller of the two deviations.
    shared = np.where(np.sign(z) == np.sign(centre), np.minimum(np.abs(z), np.abs(centre)), 0)
    speaking = shared >= DISTINCTIVE_Z
    order = [j for j in np.argsort(-shared, kind="stable") if speaking[j]][:REASONS_PER_LENS]
    theirs = "{} for the reference" if single else "a median of {} for the references"
    return [
        f"both {'high' if centre[j] > 0 else 'low'} on {_label(names[j])} "
        f"({_number(names[j], own[j])} here, "
        f"{theirs.format(_number(names[j], reference[j]))})"
        for j in order
    ]


# -- words -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Terms:
    """Decodes a TF-IDF column: unigram ids first, then bigrams as `first * size + second`."""

    words: list[str]
    bigrams: npt.NDArray[np.int64]
    kept: npt.NDArray[np.int64]  # column -> term id before the min_df cut

    def text(self, column: int) -> str:
        term = int(self.kept[column])
        size = len(self.words)
        if term < size:
            return self.words[term]
        first, second = divmod(int(self.bigrams[term - size]), size)
        return f"{self.words[first]} {self.words[second]}"


def _words(texts: Sequence[str]) -> list[bytes]:
    """Every text's lower-cased words as UTF-8, in order, each text followed by `_END`.

    One split of the whole corpus instead of a regular expression per text: several times
    as fast. Plain ASCII text is split where `\\w` would not match; a text with other
    letters is first reduced to its `\\w{2,}` words by the regular expression. One-letter
    words are left in (and dropped with the stop words)."""
    lowered = [t.lower() for t in texts]
    lowered = [t if t.isascii() else " ".join(_TOKEN.findall(t)) for t in lowered]
    corpus = " \0 ".join(lowered)
    if corpus.count("\0") != max(len(texts) - 1, 0):  # a NUL of its own would end a text
        corpus = " \0 ".join(t.replace("\0", " ") for t in lowered)
    words = corpus.encode().translate(_WORD_BYTES).split()
    if texts:
        words.append(_END)
    return words


@lru_cache(maxsize=2)
def _tfidf(texts: tuple[str, ...]) -> tuple[sparse.csr_matrix, _Terms]:
    """Rows of unit length over the 1- and 2-grams found in at least MIN_DF texts.

    Kept for the last two corpora: asking again about the same customers' words (another
    reference, another limit) costs a comparison of the texts, not a new model."""
    n = len(texts)
    tokens = _words(texts)
    distinct = set(tokens)
    # Single letters (left in by the fast split) count as stop words. UTF-8 bytes sort in
    # code point order, so the vocabulary's order is the text's.
    dropped = {t for t in distinct if len(t) < 2} | (distinct & _STOP_BYTES)
    words = sorted(distinct - dropped - {_END})
    lookup = dict.fromkeys(dropped, -1)
    lookup[_END] = -2
    lookup.update(zip(words, range(len(words)), strict=True))
    ids = np.fromiter(map(lookup.__getitem__, tokens), dtype=np.int64, count=len(tokens))
    ends = ids == -2
    rows = np.cumsum(ends) - ends  # the text each word belongs to
    keep = ids >= 0
    ids, rows = ids[keep], rows[keep]
    size = len(words)
    same = rows[1:] == rows[:-1]
    pairs = ids[:-1][same] * size + ids[1:][same]
    bigrams, pair_ids = np.unique(pairs, return_inverse=True)
    total = size + bigrams.size
    # Every (text, term) once with its count, sorted by text then term: a CSR matrix's order,
    # from one sort (scipy's COO-to-CSR path sorts and sums twice as slowly).
    columns = np.concatenate([ids, size + pair_ids.ravel()])
    at = np.concatenate([rows, rows[1:][same]])
    keys = np.sort(at * total + columns)
    first = np.empty(keys.size, dtype=bool)
    first[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    entries = keys[first]
    tf = np.diff(np.r_[np.flatnonzero(first), keys.size]).astype(np.float64)
    text_of = entries // total
    term_of = entries - text_of * total
    df = np.bincount(term_of, minlength=total)
    kept = np.flatnonzero(df >= MIN_DF)
    column_of = np.full(total, -1, dtype=np.int64)
    column_of[kept] = np.arange(kept.size)
    chosen = column_of[term_of] >= 0
    text_of, term_of, tf = text_of[chosen], term_of[chosen], tf[chosen]
    idf = np.log((1 + n) / (1 + df)) + 1.0
    weights = (1.0 + np.log(tf)) * idf[term_of]
    norms = np.sqrt(np.bincount(text_of, weights * weights, minlength=n))
    weights /= norms[text_of]
    indptr = np.r_[0, np.cumsum(np.bincount(text_of, minlength=n))]
    counts = sparse.csr_matrix((weights, column_of[term_of], indptr), shape=(n, kept.size))
    decoded = [w.decode() for w in words]
    return counts, _Terms(decoded, bigrams.astype(np.int64), kept.astype(np.int64))


def _word_reasons(
    tfidf: sparse.csr_matrix, i: int, centre: npt.NDArray[np.float64], terms: _Terms
) -> list[str]:
    start, end = tfidf.indptr[i], tfidf.indptr[i + 1]
    columns = tfidf.indices[start:end]
    share = tfidf.data[start:end] * centre[columns]
    chosen: list[str] = []
    # Phrases before words on a tie (a phrase and its words often weigh the same): they say
    # more. Rounded, so that float noise does not decide a tie.
    phrase = terms.kept[columns] >= len(terms.words)
    for k in np.lexsort((~phrase, -np.round(share, 9))):
        if share[k] <= 0 or len(chosen) == REASONS_PER_LENS:
            break
        term = terms.text(int(columns[k]))
        # A word already inside a chosen phrase says nothing new (and vice versa).
        if any(term in c.split() or c in term.split() for c in chosen):
            continue
        chosen.append(term)
    if not chosen:
        return []
    return ["both mention " + ", ".join(f"'{c}'" for c in chosen)]
