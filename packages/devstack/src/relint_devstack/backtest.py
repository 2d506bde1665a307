"""`relint-backtest`: would you trust the scores on your own history?

Takes a history: purchases only (the CDNOW format, or a CSV with customer, date and amount
columns), or every kind of interaction (a CSV or JSON lines file of interactions, as
`ingest import` reads them, with its column mapping). Imports the part before a cutoff
through ingest's real write path (validation, identity resolution, the outbox) into fresh
embedded databases, delivers it to scoring as the relay does, lets scoring evaluate every
customer as of the cutoff, and compares with what happened after it, for the customers who
bought before the cutoff:

- AUC for "active again within the horizon" (did the customer buy at all?),
- top-decile lift (how much more often the top 10% buy again than everyone),
- the aggregate purchase count predicted against the actual one,

for our score and, on the same split, for plain Pareto/NBD and BG/NBD baselines fitted on the
calibration purchases alone. Purchases are the purchase-like kinds scoring fits its models
on (purchase, renewal, upsell). Transport is in process (no HTTP or gRPC hop); everything else
is the services' own code.

    uv run relint-backtest tests/data/cdnow/CDNOW_sample.txt --format cdnow \\
        --cutoff 1997-09-30 --horizon-weeks 39
    uv run relint-backtest history.jsonl --format interactions --cutoff 2026-05-31 \\
        --horizon-weeks 13
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import multiprocessing
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from pydantic import ValidationError
from scipy.stats import rankdata

from ingest.bulk import ColumnMapping, MappingError, parse_rows
from ingest.domain import kind_error
from ingest.main import MIGRATIONS as INGEST_MIGRATIONS
from ingest.messages import interaction_message
from ingest.models import Interaction
from ingest.repository import IngestRepository
from ingest.schemas import InteractionIn
from ingest.service import IngestService
from relint.db import Database, migrate
from relint.taxonomy import is_canonical
from scoring import retention
from scoring.main import MIGRATIONS as SCORING_MIGRATIONS
from scoring.messages import delivered
from scoring.models import RetentionModel
from scoring.repository import ScoringRepository
from scoring.service import MIN_BUYERS, PURCHASE_KINDS, ScoringService, purchase_model

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Purchase:
    customer: str
    at: datetime
    amount: float


@dataclass(frozen=True)
class Touch:
    """One interaction of the history, as ingest will be given it."""

    customer: str  # the tenant's own id (external id) of the customer
    at: datetime
    item: InteractionIn
    row: int  # where the file has it


@dataclass(frozen=True)
class History:
    touches: list[Touch]
    purchases: list[Purchase]
    skipped: list[str]  # rows that are not interactions ingest accepts, with the reason


# The purchase file's column each field of the interaction ingest is given comes from.
_COLUMNS = {"customer": "customer", "occurred_at": "date", "amount": "amount"}


def _column(loc: tuple[int | str, ...]) -> str:
    return _COLUMNS.get(str(loc[0]), str(loc[0])) if loc else "(row)"


def _purchase_item(customer: str, at: datetime, amount: float, source_id: str) -> InteractionIn:
    return InteractionIn.model_validate(
        {
            "customer": {"external_id": customer},
            "occurred_at": at.isoformat(),
            "channel": "sales",
            "kind": "purchase",
            "direction": "inbound",
            "amount": f"{max(amount, 0):.2f}",
            "amount_type": "revenue",
            "currency": "USD",
            "source": "backtest",
            "source_id": source_id,
        }
    )


def _purchases(path: Path, kind: str) -> History:
    """CDNOW: whitespace columns (id, sample id, YYYYMMDD, quantity, value). CSV: a header
    with `customer`, `date` (ISO) and `amount` columns. UTF-8, with or without a byte order
    mark. A row that does not read, or that ingest would refuse (no customer, an amount that
    is no finite number, a moment before 1970), is skipped with its reason."""
    read: list[tuple[int, str, datetime, float]] = []
    skipped: list[str] = []
    if kind == "cdnow":
        text = path.read_text(encoding="utf-8-sig", errors="surrogateescape")
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                _, customer, day, _, value = line.split()
                at = datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC)
                read.append((number, customer, at, float(value)))
            except ValueError as error:
                skipped.append(f"row {number}: {error}")
    else:
        with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"customer", "date", "amount"} - set(reader.fieldnames or ())
            if missing:
                raise SystemExit(
                    f"{path}: the header needs customer, date and amount columns; "
                    f"missing {', '.join(sorted(missing))} (or use --format interactions)"
                )
            for number, row in enumerate(reader, start=2):  # row 1 is the header
                try:
                    at = datetime.fromisoformat(row["date"])
                    amount = float(row["amount"])
                except (TypeError, ValueError) as error:
                    skipped.append(f"row {number}: {error}")
                    continue
                at = at if at.tzinfo else at.replace(tzinfo=UTC)
                read.append((number, row["customer"] or "", at, amount))
    found: list[Purchase] = []
    touches: list[Touch] = []
    for number, customer, at, amount in read:
        # Validated here, as ingest will, so that a bad row is skipped and reported, not a
        # traceback halfway through the import.
        try:
            item = _purchase_item(customer, at, amount, f"line-{len(found)}")
        except ValidationError as error:
            skipped.extend(
                f"row {number}, {_column(detail['loc'])}: {detail['msg']}"
                for detail in error.errors(include_url=False)
            )
            continue
        touches.append(Touch(customer, at, item, number))
        found.append(Purchase(customer, at, amount))
    return History(touches, found, skipped)


def _interactions(path: Path, mapping: ColumnMapping) -> History:
    """Every kind of interaction, read and validated as `ingest import` does; the customer
    must carry its external id (the backtest reports by it) and the kind must be one of the
    taxonomy's (so that no purchase is counted that ingest would refuse)."""
    touches: list[Touch] = []
    skipped: list[str] = []
    for number, item in parse_rows(path, mapping):
        if isinstance(item, list):
            where, message = item[0]
            skipped.append(f"row {number}, {where}: {message}")
            continue
        if item.customer is None or item.customer.external_id is None:
            skipped.append(f"row {number}, customer.external_id: the backtest needs it")
            continue
        # The backtest's tenant is new: it maps none of its own kinds onto the taxonomy.
        if not is_canonical(item.channel, item.kind):
            skipped.append(f"row {number}, kind: {kind_error(item.channel, item.kind)}")
            continue
        at = item.occurred_at.astimezone(UTC)
        touches.append(Touch(item.customer.external_id, at, item, number))
    touches.sort(key=lambda t: t.at)
    purchases = [
        Purchase(
            t.customer,
            t.at,
            float(t.item.amount or 0) if t.item.amount_type == "revenue" else 0.0,
        )
        for t in touches
        if t.item.kind in PURCHASE_KINDS
    ]
    return History(touches, purchases, skipped)


def read_history(path: Path, kind: str, mapping: ColumnMapping | None = None) -> History:
    if kind == "interactions":
        return _interactions(path, mapping or ColumnMapping())
    return _purchases(path, kind)


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
    history: History, cutoff: datetime, work: Path
) -> tuple[ScoringService, str, list[Database], list[str]]:
    """Scoring with the history up to `cutoff` applied, its tenant, both databases, and the
    rows ingest refused (a kind it does not know, ...), with the reason."""
    ingest_url = f"sqlite+aiosqlite:///{work / 'ingest.db'}"
    scoring_url = f"sqlite+aiosqlite:///{work / 'scoring.db'}"
    await asyncio.to_thread(migrate, INGEST_MIGRATIONS, ingest_url)
    await asyncio.to_thread(migrate, SCORING_MIGRATIONS, scoring_url)
    ingest_db, scoring_db = Database(ingest_url), Database(scoring_url)
    ingest = IngestService(ingest_db, key_pepper="backtest", subscribers=["scoring"])
    scoring = ScoringService(scoring_db)
    tenant = (await ingest.create_tenant_key("backtest", "history", ["ingest:write"])).tenant_id
    calibration = [(t.row, t.item) for t in history.touches if t.at <= cutoff]
    refused: list[str] = []
    for start in range(0, len(calibration), 1000):
        for result in await ingest.record(tenant, calibration[start : start + 1000]):
            refused.extend(f"row {result.index}, {e.path}: {e.message}" for e in result.errors)

    async def send(rows: list[tuple[int, Interaction]]) -> None:
        await scoring.apply([delivered(interaction_message(row, seq)) for seq, row in rows])

    while await ingest.deliver_next("scoring", send, 1000):
        pass
    return scoring, tenant, [ingest_db, scoring_db], refused


class TooFewBuyers(Exception):
    """Scoring fits no purchase model on so few buying customers."""


@dataclass(frozen=True)
class Scored:
    """What scoring made of the history up to a cutoff, for the customers who bought before
    it (by external id)."""

    order: list[str]
    model: RetentionModel
    shift: np.ndarray  # what the other signals add to the risk's log-odds
    refused: list[str]  # rows up to the cutoff that ingest refused, with the reason


async def _score(history: History, cutoff: datetime) -> Scored:
    with tempfile.TemporaryDirectory(prefix="relint-backtest-") as tmp:
        scoring, tenant, databases, refused = await _import(history, cutoff, Path(tmp))
        try:
            model = await scoring.fit_retention(tenant, cutoff)
            if model is None:
                raise TooFewBuyers(cutoff)
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
    buyers = {p.customer for p in history.purchases if p.at <= cutoff}
    kept = [r for r in rows if external[r.customer_id] in buyers]
    return Scored(
        [external[r.customer_id] for r in kept],
        model,
        np.array([_signals(r.risk, r.p_alive) for r in kept]),
        refused,
    )


def _active(
    purchases: Sequence[Purchase], order: list[str], start: datetime, end: datetime
) -> np.ndarray:
    days: dict[str, set[date]] = {c: set() for c in order}
    for p in purchases:
        if start < p.at <= end and p.customer in days:
            days[p.customer].add(p.at.date())
    return np.array([float(len(days[c])) for c in order])


def _ranking(scored: Scored, expected: np.ndarray, weight: float) -> np.ndarray:
    """Our score: the expected purchases, lowered (or raised) by what the other signals add
    to the risk's log-odds, at `weight`."""
    return np.asarray(expected * np.exp(-weight * scored.shift))


WEIGHTS = (0.0, 0.25, 0.5, 1.0)


async def _signal_weight(history: History, cutoff: datetime, horizon: float) -> float:
    """How much the other signals should count, learned on the calibration period alone:
    scored as of an earlier cutoff, the weight whose ranking of the following weeks was best
    (the smallest on a tie; 0 when there is too little history)."""
    earlier = cutoff - horizon * WEEK
    if sum(1 for p in history.purchases if p.at <= earlier) < 100:
        return 0.0
    try:
        scored = await _score(history, earlier)
    except TooFewBuyers:
        return 0.0
    baselines = _baselines(history.purchases, earlier, horizon, scored.order)
    positive = _active(history.purchases, scored.order, earlier, cutoff) > 0
    expected = retention.expected_purchases(purchase_model(scored.model), baselines.data, horizon)
    results = {w: auc(_ranking(scored, expected, w), positive) for w in WEIGHTS}
    return max(WEIGHTS, key=lambda w: (round(results[w], 4), -w))


def _learn_signal_weight(history: History, cutoff: datetime, horizon: float) -> float:
    return asyncio.run(_signal_weight(history, cutoff, horizon))


async def run(
    path: Path,
    kind: str,
    cutoff: datetime,
    horizon_weeks: float,
    mapping: ColumnMapping | None = None,
) -> dict[str, object]:
    history = read_history(path, kind, mapping)
    if not history.purchases:
        raise SystemExit(
            f"{path}: no purchases ({', '.join(PURCHASE_KINDS)}) to backtest on"
            + "".join(f"\n  skipped {reason}" for reason in history.skipped[:5])
        )
    end = cutoff + horizon_weeks * WEEK
    started = time.perf_counter()
    # The weight is learned in a process of its own while this one scores the cutoff: two
    # imports of the same history, each on a core (spawned, not forked: this process has
    # threads).
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as apart:
        learning = asyncio.get_running_loop().run_in_executor(
            apart, _learn_signal_weight, history, cutoff, horizon_weeks
        )
        try:
            scored = await _score(history, cutoff)
        except TooFewBuyers:
            raise SystemExit(
                f"too few customers bought up to {cutoff.date()} for scoring to fit a purchase "
                f"model (it needs {MIN_BUYERS})"
            ) from None
        weight = await learning
    seconds = time.perf_counter() - started
    order = scored.order
    baselines = _baselines(history.purchases, cutoff, horizon_weeks, order)
    actual = _active(history.purchases, order, cutoff, end)
    positive = actual > 0
    # Ours: scoring's own tenant model (the one that ranked the tenant's later purchases
    # better) for the horizon, with the other signals (stage, silence against its cadence,
    # grievances, ...) at the weight learned on the calibration period. The count is the
    # model's: the signals did not make it more accurate on any split we tried (README).
    expected = retention.expected_purchases(
        purchase_model(scored.model), baselines.data, horizon_weeks
    )
    ours = Scores(
        f"relint score (w={weight:g})",
        _ranking(scored, expected, weight),
        float(expected.sum()),
    )
    report: dict[str, object] = {
        "customers": len(order),
        "interactions": sum(1 for t in history.touches if t.at <= cutoff),
        "calibration_purchases": sum(1 for p in history.purchases if p.at <= cutoff),
        "holdout_purchases": int(actual.sum()),
        "skipped": history.skipped + scored.refused,
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
    parser.add_argument(
        "--format",
        choices=("cdnow", "csv", "interactions"),
        default="csv",
        help="cdnow or csv (customer,date,amount): purchases only; interactions: a CSV or "
        "JSON lines file of interactions of every kind, as `ingest import` reads it",
    )
    parser.add_argument(
        "--mapping", type=Path, help="with --format interactions: ingest import's column mapping"
    )
    parser.add_argument("--cutoff", required=True, help="YYYY-MM-DD, the last calibration day")
    parser.add_argument("--horizon-weeks", type=float, default=39.0)
    args = parser.parse_args(argv)
    if not args.file.is_file():
        parser.error(f"{args.file}: no such file")
    if not 0 < args.horizon_weeks <= 520:
        parser.error("--horizon-weeks must be above 0 and at most 520")
    if args.mapping and args.format != "interactions":
        parser.error("--mapping goes with --format interactions")
    try:
        mapping = ColumnMapping.load(args.mapping) if args.mapping else None
    except MappingError as error:
        parser.error(str(error))
    try:
        day = date.fromisoformat(args.cutoff)
    except ValueError:
        parser.error(f"--cutoff {args.cutoff!r} is not a date (YYYY-MM-DD)")
    cutoff = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    cutoff -= timedelta(microseconds=1)
    report = asyncio.run(run(args.file, args.format, cutoff, args.horizon_weeks, mapping))
    skipped: list[str] = report["skipped"]  # type: ignore[assignment]
    if skipped:
        print(f"skipped {len(skipped)} rows that are not interactions ingest accepts, first:")
        for reason in skipped[:5]:
            print(f"  {reason}")
    print(
        f"{report['customers']} customers; {report['calibration_purchases']} purchases "
        f"(of {report['interactions']} interactions) up to "
        f"{args.cutoff}, {report['holdout_purchases']} purchase days in the next "
        f"{args.horizon_weeks:g} weeks; imported and scored in "
        f"{report['seconds_to_import_and_score']} s; tenant model {report['model']}"
    )
    header = ("AUC", "top-10% lift", "predicted", "actual", "ratio")
    print(
        f"{'model':26s} {header[0]:>6s} {header[1]:>13s} {header[2]:>10s} {header[3]:>7s}", end=""
    )
    print(f" {header[4]:>6s}")
    for r in report["results"]:  # type: ignore[attr-defined]
        print(
            f"{r['model']:26s} {r['auc']:6.3f} {r['top_decile_lift']:13.2f} "
            f"{r['predicted']:10d} {r['actual']:7d} {r['predicted_over_actual']:6.3f}"
        )


if __name__ == "__main__":
    main()
