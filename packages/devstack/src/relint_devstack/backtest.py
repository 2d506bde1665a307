"""`relint-backtest`: would you trust the scores on your own history?

Takes a transaction history (the CDNOW format, or a CSV with customer, date and amount
columns), imports the part before a cutoff through ingest's real write path (validation,
identity resolution, the outbox) into fresh embedded databases, delivers it to scoring as
the relay does, lets scoring evaluate every customer as of the cutoff, and compares with
what happened after it:

- AUC for "active again within the horizon" (did the customer buy at all?),
- top-decile lift (how much more often the top 10% buy again than everyone),
- the aggregate purchase count predicted against the actual one,

for our score and, on the same split, for plain Pareto/NBD and BG/NBD baselines fitted on the
calibration purchases alone. Transport is in process (no HTTP or gRPC hop); everything else is
the services' own code.

    uv run relint-backtest tests/data/cdnow/CDNOW_sample.txt --format cdnow \\
        --cutoff 1997-09-30 --horizon-weeks 39
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from ingest.main import MIGRATIONS as INGEST_MIGRATIONS
from ingest.messages import interaction_message
from ingest.models import Interaction
from ingest.repository import IngestRepository
from ingest.schemas import InteractionIn
from ingest.service import IngestService
from relint.db import Database, migrate
from scoring import retention
from scoring.main import MIGRATIONS as SCORING_MIGRATIONS
from scoring.messages import delivered
from scoring.models import RetentionModel
from scoring.repository import ScoringRepository
from scoring.service import ScoringService, purchase_model

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Purchase:
    customer: str
    at: datetime
    amount: float


def read_history(path: Path, kind: str) -> list[Purchase]:
    """CDNOW: whitespace columns (id, sample id, YYYYMMDD, quantity, value). CSV: a header
    with `customer`, `date` (ISO) and `amount` columns."""
    found: list[Purchase] = []
    if kind == "cdnow":
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            _, customer, day, _, value = line.split()
            at = datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC)
            found.append(Purchase(customer, at, float(value)))
        return found
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            at = datetime.fromisoformat(row["date"])
            found.append(
                Purchase(
                    row["customer"],
                    at if at.tzinfo else at.replace(tzinfo=UTC),
                    float(row["amount"]),
                )
            )
    return found


@dataclass(frozen=True)
class Scores:
    name: str
    ranking: np.ndarray  # higher: more likely active again
    predicted_total: float


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    ranks = rankdata(score)
    n1, n0 = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)) if n1 and n0 else 0.5


def top_decile_lift(score: np.ndarray, positive: np.ndarray) -> float:
    top = np.argsort(-score, kind="stable")[: max(1, len(score) // 10)]
    base = positive.mean()
    return float(positive[top].mean() / base) if base else 0.0


async def _import(
    history: Sequence[Purchase], cutoff: datetime, work: Path
) -> tuple[ScoringService, str, list[Database]]:
    ingest_url = f"sqlite+aiosqlite:///{work / 'ingest.db'}"
    scoring_url = f"sqlite+aiosqlite:///{work / 'scoring.db'}"
    await asyncio.to_thread(migrate, INGEST_MIGRATIONS, ingest_url)
    await asyncio.to_thread(migrate, SCORING_MIGRATIONS, scoring_url)
    ingest_db, scoring_db = Database(ingest_url), Database(scoring_url)
    ingest = IngestService(ingest_db, key_pepper="backtest", subscribers=["scoring"])
    scoring = ScoringService(scoring_db)
    tenant = (await ingest.create_tenant_key("backtest", "history", ["ingest:write"])).tenant_id
    calibration = [p for p in history if p.at <= cutoff]
    for start in range(0, len(calibration), 1000):
        batch = [
            (
                n,
                InteractionIn.model_validate(
                    {
                        "customer": {"external_id": p.customer},
                        "occurred_at": p.at.isoformat(),
                        "channel": "sales",
                        "kind": "purchase",
                        "direction": "inbound",
                        "amount": f"{max(p.amount, 0):.2f}",
                        "amount_type": "revenue",
                        "currency": "USD",
                        "source": "backtest",
                        "source_id": f"line-{start + n}",
                    }
                ),
            )
            for n, p in enumerate(calibration[start : start + 1000])
        ]
        results = await ingest.record(tenant, batch)
        refused = [r for r in results if r.status == "rejected"]
        if refused:
            raise SystemExit(f"ingest refused a purchase: {refused[0].errors}")

    async def send(rows: list[tuple[int, Interaction]]) -> None:
        await scoring.apply([delivered(interaction_message(row, seq)) for seq, row in rows])

    while await ingest.deliver_next("scoring", send, 1000):
        pass
    return scoring, tenant, [ingest_db, scoring_db]


@dataclass(frozen=True)
class Scored:
    """What scoring made of the history up to a cutoff, per customer (external ids)."""

    order: list[str]
    model: RetentionModel
    shift: np.ndarray  # what the other signals add to the risk's log-odds


async def _score(history: Sequence[Purchase], cutoff: datetime) -> Scored:
    with tempfile.TemporaryDirectory(prefix="relint-backtest-") as tmp:
        scoring, tenant, databases = await _import(history, cutoff, Path(tmp))
        try:
            model = await scoring.fit_retention(tenant, cutoff)
            if model is None:
                raise SystemExit("too few buying customers before the cutoff to fit a model")
            await scoring.classify(tenant, cutoff)
            while await scoring.evaluate_stages(500, now=cutoff):
                pass
            async with databases[1].read() as session:
                rows = await ScoringRepository(session).tenant_relationships(tenant)
            # Scoring knows customers by ingest's ids; map back through ingest.
            async with databases[0].read() as session:
                customers = await IngestRepository(session).customers_by_id(
                    tenant, [r.customer_id for r in rows]
                )
            external = {c.id: c.external_id or c.id for c in customers}
        finally:
            for db in databases:
                await db.dispose()
    return Scored(
        [external[r.customer_id] for r in rows],
        model,
        np.array([_signals(r.risk, r.p_alive) for r in rows]),
    )


def _active(
    history: Sequence[Purchase], order: list[str], start: datetime, end: datetime
) -> np.ndarray:
    days: dict[str, set[date]] = {c: set() for c in order}
    for p in history:
        if start < p.at <= end and p.customer in days:
            days[p.customer].add(p.at.date())
    return np.array([float(len(days[c])) for c in order])


WEIGHTS = (0.0, 0.25, 0.5, 1.0)


async def _signal_weight(history: Sequence[Purchase], cutoff: datetime, horizon: float) -> float:
    """How much the other signals should count, learned on the calibration period alone:
    scored as of an earlier cutoff, the weight whose ranking of the following weeks was best
    (the smallest on a tie; 0 when there is too little history)."""
    earlier = cutoff - horizon * WEEK
    if sum(1 for p in history if p.at <= earlier) < 100:
        return 0.0
    scored = await _score(history, earlier)
    baselines = _baselines(history, earlier, horizon, scored.order)
    expected = retention.expected_purchases(purchase_model(scored.model), baselines.data, horizon)
    positive = _active(history, scored.order, earlier, cutoff) > 0
    results = {w: auc(expected * np.exp(-w * scored.shift), positive) for w in WEIGHTS}
    return max(WEIGHTS, key=lambda w: (round(results[w], 4), -w))


async def run(path: Path, kind: str, cutoff: datetime, horizon_weeks: float) -> dict[str, object]:
    history = read_history(path, kind)
    end = cutoff + horizon_weeks * WEEK
    started = time.perf_counter()
    weight = await _signal_weight(history, cutoff, horizon_weeks)
    scored = await _score(history, cutoff)
    seconds = time.perf_counter() - started
    order = scored.order
    baselines = _baselines(history, cutoff, horizon_weeks, order)
    actual = _active(history, order, cutoff, end)
    positive = actual > 0
    # Ours: scoring's own tenant model (the one that ranked the tenant's later purchases
    # better) for the horizon, with the other signals (stage, silence against its cadence,
    # grievances, ...) at the weight learned on the calibration period.
    expected = retention.expected_purchases(
        purchase_model(scored.model), baselines.data, horizon_weeks
    )
    ours = Scores(
        f"relint score (w={weight:g})",
        expected * np.exp(-weight * scored.shift),
        float(expected.sum()),
    )
    report: dict[str, object] = {
        "customers": len(order),
        "calibration_purchases": sum(1 for p in history if p.at <= cutoff),
        "holdout_purchases": int(actual.sum()),
        "seconds_to_import_and_score": round(seconds, 1),
        "model": scored.model.kind,
        "results": [],
    }
    for scores in (ours, baselines.bgnbd, baselines.pareto):
        report["results"].append(  # type: ignore[attr-defined]
            {
                "model": scores.name,
                "auc": round(auc(scores.ranking, positive), 3),
                "top_decile_lift": round(top_decile_lift(scores.ranking, positive), 2),
                "predicted": round(scores.predicted_total),
                "actual": int(actual.sum()),
                "predicted_over_actual": round(scores.predicted_total / max(actual.sum(), 1), 3),
            }
        )
    return report


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def _signals(risk: float, p_alive: float | None) -> float:
    """The non-transactional part of a risk score: its log-odds beyond the model's base."""
    return _logit(risk) - _logit(1 - p_alive) if p_alive is not None else 0.0


@dataclass(frozen=True)
class Baselines:
    data: retention.RFM
    bgnbd: Scores
    pareto: Scores


def _baselines(
    history: Sequence[Purchase], cutoff: datetime, horizon: float, order: list[str]
) -> Baselines:
    """Plain Pareto/NBD and BG/NBD on the calibration purchases, in `order` of customers."""
    origin = min(p.at for p in history)
    calibration = [p for p in history if p.at <= cutoff]
    ids, data = retention.rfm(
        [p.customer for p in calibration],
        np.array([(p.at - origin) / WEEK for p in calibration]),
        (cutoff - origin) / WEEK,
        np.array([p.amount for p in calibration]),
        period_bucket=1 / 7,
    )
    position = {c: i for i, c in enumerate(ids)}
    index = np.array([position[c] for c in order])
    aligned = retention.RFM(data.frequency[index], data.recency[index], data.age[index], None)
    bg = retention.bgnbd_expected_purchases(retention.fit_bgnbd(aligned), aligned, horizon)
    pareto = retention.pareto_nbd_expected_purchases(
        retention.fit_pareto_nbd(aligned), aligned, horizon
    )
    return Baselines(
        aligned,
        Scores("BG/NBD (plain)", bg, float(bg.sum())),
        Scores("Pareto/NBD (plain)", pareto, float(pareto.sum())),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="relint-backtest", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--format", choices=("cdnow", "csv"), default="csv")
    parser.add_argument("--cutoff", required=True, help="YYYY-MM-DD, the last calibration day")
    parser.add_argument("--horizon-weeks", type=float, default=39.0)
    args = parser.parse_args(argv)
    cutoff = (
        datetime.fromisoformat(args.cutoff).replace(tzinfo=UTC)
        + timedelta(days=1)
        - timedelta(microseconds=1)
    )
    report = asyncio.run(run(args.file, args.format, cutoff, args.horizon_weeks))
    print(
        f"{report['customers']} customers; {report['calibration_purchases']} purchases up to "
        f"{args.cutoff}, {report['holdout_purchases']} purchase days in the next "
        f"{args.horizon_weeks:g} weeks; imported and scored in "
        f"{report['seconds_to_import_and_score']} s; tenant model {report['model']}"
    )
    header = ("AUC", "top-10% lift", "predicted", "actual", "ratio")
    print(
        f"{'model':22s} {header[0]:>6s} {header[1]:>13s} {header[2]:>10s} {header[3]:>7s}", end=""
    )
    print(f" {header[4]:>6s}")
    for r in report["results"]:  # type: ignore[attr-defined]
        print(
            f"{r['model']:26s} {r['auc']:6.3f} {r['top_decile_lift']:13.2f} "
            f"{r['predicted']:10d} {r['actual']:7d} {r['predicted_over_actual']:6.3f}"
        )


if __name__ == "__main__":
    main()
