"""Scoring's use cases: apply delivered interactions exactly once, keep each customer's
value, stage and type with their history, raise alerts, and answer "as of" any moment.

Applying is cheap and commutative (a contribution and two sums per customer), so it keeps up
with the stream; stages and types, which depend on the order and on the whole tenant, are
evaluated just after by `evaluate_stages` and `classify`, which the service's worker runs
continuously. A late interaction marks its customer dirty from its own time, and the stage
history is evaluated again from the customer's history — the same history gives the same
stages whatever order it arrived in.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from relint.as_of import alert_as_it_stood
from relint.db import Database, new_id, utcnow
from relint.telemetry import context_from_traceparent, tracer, tracing_enabled
from relint.values import json_problem
from scoring import patterns, potential, retention, risk, stages
from scoring import relationship_types as types
from scoring.domain import (
    EPOCH,
    SIGNAL_KINDS,
    TREND_DAYS,
    VIOLATION,
    VIOLATION_WITHDRAWN,
    Applied,
    Explanation,
    InvalidWeights,
    WeightTable,
    explain,
    mass,
    masses_after,
    top_contributions,
    value_before,
    value_from_mass,
    value_then,
)
from scoring.models import (
    Alert,
    AppliedInteraction,
    Relationship,
    RetentionModel,
    StateChange,
    TenantSettings,
)
from scoring.repository import (
    LockedStanding,
    Placing,
    RelationshipFilter,
    ScoringRepository,
    Weighing,
)

log = logging.getLogger(__name__)

SETTINGS_TTL_SECONDS = 10.0
# A stage change older than this when it is found (a replay of old history) is recorded
# but raises no alert: nobody can act on it any more.
ALERT_HORIZON = timedelta(days=30)
# Alerts about the present (silence, a recent move apart) are raised only while the tenant's
# data is current: during an import of history, "silent since the last imported month" is
# not news. The customers judged before are judged again when the data becomes current.
CURRENT_DATA = timedelta(days=3)
# What the retention model counts as a purchase; a tenant needs this many buying customers.
PURCHASE_KINDS = ("purchase", "renewal", "upsell")
MIN_BUYERS = 30
WEEK = timedelta(days=7)
WEEK_MICROS = WEEK // timedelta(microseconds=1)
# Purchases on one day count once (the published fits' "one purchase a customer a day").
DAY_IN_WEEKS = 1 / 7
VALUE_HORIZON_WEEKS = 52
WEEKLY_DISCOUNT = 0.10 / 52  # 10% a year
DAY = timedelta(days=1)
# What stands for an interaction's span while tracing is off.
_NO_SPAN = contextlib.nullcontext()
# The retention model is fitted again when a placement finds it this old (and at once when
# the tenant has none): a fit costs seconds of CPU, a placement comes every 30 s.
RETENTION_REFIT = timedelta(hours=24)
# ... and at once when the tenant's buying customers doubled since the fit (a fit during a
# load saw its first buyers only); more often, a load of 200 customers paid for twenty fits.
RETENTION_GROWTH = 2.0
# An at-risk ranking as of a past moment assesses this many customers at a time (their
# history up to then in memory), keeping only the riskiest.
AT_RISK_CHUNK = 500
# Past types are placed again for customers that received interactions from before the
# month began once the tenant's stream pauses (a placement pass without new interactions),
# or after this long under a stream that never does.
RETYPE_WAIT = 600.0


@dataclass(frozen=True)
class Delivered:
    """An interaction as delivered by ingest, reduced to what scoring uses."""

    interaction_id: str
    tenant_id: str
    customer_id: str
    occurred_at: datetime
    channel: str
    kind: str
    sentiment: float | None = None
    revenue: float = 0.0
    traceparent: str = ""
    direction: str = ""
    refund: float = 0.0
    cost: float = 0.0
    outcome: str | None = None
    employee: str | None = None
    issue_type: str | None = None
    text: str | None = None


@dataclass
class ApplyResult:
    applied: int = 0
    duplicates: int = 0
    # Applied before under another customer, which ingest has since merged into this one.
    moved: int = 0
    # Violations the playbook withdrew, or found again after withdrawing them.
    restated: int = 0


@dataclass
class _Change:
    good: float = 0.0
    bad: float = 0.0
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    last_value: float = 0.0
    # The earliest moment the history changed: the stage is evaluated again from there.
    since: datetime | None = None
    # Revenue net of refunds.
    revenue: float = 0.0

    def add(
        self,
        good: float,
        bad: float,
        at: datetime,
        value: float,
        count: int = 1,
        revenue: float = 0.0,
    ) -> None:
        self.good += good
        self.bad += bad
        self.count += count
        self.revenue += revenue
        self.since = at if self.since is None else min(self.since, at)
        if count == 0:  # a signal of ours, not an interaction: no first or last contact
            return
        self.first = at if self.first is None else min(self.first, at)
        if self.last is None or at >= self.last:
            self.last, self.last_value = at, value


@dataclass(frozen=True)
class TenantRules:
    weights: WeightTable = field(default_factory=WeightTable)
    types: tuple[types.TypeRule, ...] = types.DEFAULT_RULES
    version: int = 0


# A customer's purchase outlook: p_alive, expected_purchases, lifetime_value.
Outlook = Mapping[str, float | None]
NO_OUTLOOK: Outlook = MappingProxyType(
    {"p_alive": None, "expected_purchases": None, "lifetime_value": None}
)


@dataclass(frozen=True)
class RelationshipView:
    """A customer's relationship at a moment (now, or as of a past one)."""

    tenant_id: str
    customer_id: str
    as_of: datetime
    value: float
    interaction_count: int
    first_interaction_at: datetime | None
    last_interaction_at: datetime | None
    last_contribution: float
    relationship_type: str
    type_reason: str
    stage: str
    stage_since: datetime | None
    stage_reason: str
    updated_at: datetime
    risk: float = 0.0
    risk_reasons: tuple[str, ...] = ()
    p_alive: float | None = None
    expected_purchases: float | None = None
    lifetime_value: float | None = None
    potential: float | None = None
    potential_reason: str = ""
    type_since: datetime | None = None
    # Revenue net of refunds up to the moment.
    revenue: float = 0.0
    # How much the value moved over the TREND_DAYS up to the moment (positive: rising).
    trend: float = 0.0
    # When scoring last changed the type or stage (unset: never since it was followed).
    standing_changed_at: datetime | None = None


@dataclass(frozen=True)
class TimelinePoint:
    at: datetime
    value: float
    relationship_type: str
    stage: str
    # The risk of loss from the interactions up to `at` (None before the first): the
    # purchase model's chance of being active on the purchases up to then, moved by
    # silence against the customer's own cadence, value drops, complaints, violations, the
    # stage.
    risk: float | None = None


class InvalidSettings(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class ScoringService:
    def __init__(self, db: Database, history_settle_seconds: float = 0.0) -> None:
        self.db = db
        # Alerts about the present wait this long after the last interaction older than
        # CURRENT_DATA arrived for a tenant: a load of history still arriving out of time
        # order across customers (concurrent batches) judges some of them without their
        # last weeks. The service's setting; 0 in a library use (a test, the backtest).
        # The moment is kept in the store (`history_arrival`), for every replica.
        self.history_settle_seconds = history_settle_seconds
        # When this process last stored a tenant's arrival (monotonic): once a tenth of the
        # settle time at most, not once a batch.
        self._history_noted: dict[str, float] = {}
        self._tracer = tracer("scoring.service")
        self._rules: dict[str, tuple[float, TenantRules]] = {}
        # Tenants with interactions applied since their types were last classified.
        self.unclassified: set[str] = set()
        # Tenants whose customers judged before the data was current have been marked to
        # be judged again on current data (by this process; once more after a restart).
        self._judged_current: set[str] = set()
        # Tenants that may have customers whose past types are to be placed again, and since
        # when (monotonic); None: not yet read from the store (after a start).
        self._retyping: dict[str, float] | None = None

    # Settings

    async def rules(self, tenant_id: str) -> TenantRules:
        cached = self._rules.get(tenant_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        async with self.db.read() as session:
            row = await ScoringRepository(session).settings(tenant_id)
        rules = TenantRules()
        if row is not None:
            rules = TenantRules(*_stored_rules(tenant_id, row.weights, row.types), row.version)
        self._rules[tenant_id] = (time.monotonic() + SETTINGS_TTL_SECONDS, rules)
        return rules

    @staticmethod
    def validate_settings(
        weights: dict[str, Any] | None, type_rules: list[dict[str, Any]] | None
    ) -> TenantRules:
        """The tenant's rules from its settings, or InvalidSettings naming every problem:
        nothing is stored until all of it holds."""
        problems: list[str] = []
        table, rules = WeightTable(), types.DEFAULT_RULES
        try:
            table = WeightTable.from_config(weights or {})
        except InvalidWeights as error:
            problems += error.problems
        try:
            rules = types.rules_from_config(type_rules) if type_rules else types.DEFAULT_RULES
        except types.InvalidTypeRules as error:
            problems += error.problems
        # Both are stored as they came, keys the rules ignore too: what JSON cannot hold (a
        # NaN, a NUL) must be refused here, by name, not by the database.
        named = {problem.partition(": ")[0] for problem in problems}
        for prefix, value in (("", weights), ("types", type_rules)):
            if (found := json_problem(value)) is not None:
                path = prefix + found[0]
                if path not in named:
                    problems.append(f"{path}: {found[1]}")
        if problems:
            raise InvalidSettings(problems)
        return TenantRules(table, rules)

    async def put_settings(
        self,
        tenant_id: str,
        weights: dict[str, Any] | None,
        type_rules: list[dict[str, Any]] | None,
    ) -> TenantRules:
        """Replaces the tenant's weights and types (None: the defaults), then weighs its whole
        history again and places its customers again, so every number follows the rules."""
        rules = self.validate_settings(weights, type_rules)
        await self._store_settings(tenant_id, type_rules or [], weights or {})
        await self.recompute(tenant_id)
        self.unclassified.add(tenant_id)
        return rules

    async def put_types(self, tenant_id: str, type_rules: list[dict[str, Any]]) -> TenantRules:
        """Replaces the tenant's relationship types (empty: the default four), keeping its
        weights; its customers are placed again by the next classification pass."""
        placed = self.validate_settings(None, type_rules).types
        current = await self.rules(tenant_id)
        await self._store_settings(tenant_id, type_rules)
        if placed != current.types:
            self.unclassified.add(tenant_id)
        return await self.rules(tenant_id)

    async def _store_settings(
        self,
        tenant_id: str,
        type_rules: list[dict[str, Any]],
        weights: dict[str, Any] | None = None,
    ) -> None:
        """Writes the tenant's types and, when given, its weights, as a new version."""
        async with self.db.transaction() as session:
            row = await ScoringRepository(session).settings(tenant_id)
            if row is None:
                row = TenantSettings(tenant_id=tenant_id)
                session.add(row)
            if weights is not None:
                row.weights = weights
            row.types = type_rules
            row.version += 1
            row.updated_at = utcnow()
        self._rules.pop(tenant_id, None)

    # Applying the stream

    async def apply(self, batch: Sequence[Delivered]) -> ApplyResult:
        """Applies each interaction not applied before, in one transaction."""
        result = ApplyResult()
        rules = {t: await self.rules(t) for t in {d.tenant_id for d in batch}}
        now = utcnow()
        tracing = tracing_enabled()
        # Every contribution of the batch at once (those found applied before are not used).
        weighed = _weigh(batch, rules)
        async with self.db.transaction() as session:
            repo = ScoringRepository(session)
            seen = await repo.applied(d.interaction_id for d in batch)
            rows: list[tuple[Any, ...]] = []
            changes: dict[tuple[str, str], _Change] = defaultdict(_Change)
            for item, (value, reason) in zip(batch, weighed, strict=True):
                table = rules[item.tenant_id].weights
                known = seen.get(item.interaction_id)
                if known is not None:
                    owner, earlier, was = known
                    if owner == item.customer_id and _restated(was, item.kind):
                        # A violation withdrawn, or found again: its effect goes, or returns.
                        before = mass(table, earlier, item.occurred_at)
                        after = mass(table, value, item.occurred_at)
                        changes[(item.tenant_id, owner)].add(
                            after[0] - before[0], after[1] - before[1], item.occurred_at, 0.0, 0
                        )
                        await repo.reweigh_applied(item.interaction_id, item.kind, value, reason)
                        seen[item.interaction_id] = (owner, value, item.kind)
                        result.restated += 1
                        continue
                    if owner == item.customer_id:
                        result.duplicates += 1
                        continue
                    # The customer was merged into another: its effect moves along.
                    good, bad = mass(table, earlier, item.occurred_at)
                    counted = _counted(item.kind)
                    net = item.revenue - item.refund
                    changes[(item.tenant_id, owner)].add(
                        -good, -bad, item.occurred_at, 0.0, -counted, -net
                    )
                    changes[(item.tenant_id, item.customer_id)].add(
                        good, bad, item.occurred_at, earlier, counted, net
                    )
                    await repo.move_applied(item.interaction_id, item.customer_id)
                    seen[item.interaction_id] = (item.customer_id, earlier, was)
                    result.moved += 1
                    continue
                # A span per interaction joins the trace that accepted it.
                with (
                    self._tracer.start_as_current_span(
                        "scoring apply interaction",
                        context=context_from_traceparent(item.traceparent),
                        attributes={"interaction.id": item.interaction_id, "kind": item.kind},
                    )
                    if tracing
                    else _NO_SPAN
                ):
                    seen[item.interaction_id] = (item.customer_id, value, item.kind)
                    good, bad = mass(table, value, item.occurred_at)
                    changes[(item.tenant_id, item.customer_id)].add(
                        good,
                        bad,
                        item.occurred_at,
                        value,
                        _counted(item.kind),
                        item.revenue - item.refund,
                    )
                    rows.append(_applied_row(item, value, reason, now))
            result.applied = len(rows)
            await repo.add_applied(rows)
            await self._add(repo, changes, rules, now)
            # In the same transaction: no replica's pass sees these customers changed and
            # the load not arriving.
            noting = self._history_to_note(batch, now)
            if noting:
                await repo.note_history_arrived(noting, now)
        self.unclassified.update(rules)
        self._history_noted.update(dict.fromkeys(noting, time.monotonic()))
        return result

    def _history_to_note(self, batch: Sequence[Delivered], now: datetime) -> set[str]:
        """The batch's tenants that received interactions older than current data, and
        whose arrival this process has not stored in the last tenth of the settle time."""
        if self.history_settle_seconds <= 0:
            return set()
        old, at, every = now - CURRENT_DATA, time.monotonic(), self.history_settle_seconds / 10
        return {
            d.tenant_id
            for d in batch
            if d.occurred_at < old and at - self._history_noted.get(d.tenant_id, -every) >= every
        }

    async def _add(
        self,
        repo: ScoringRepository,
        changes: dict[tuple[str, str], _Change],
        rules: dict[str, TenantRules],
        now: datetime,
    ) -> None:
        current = await repo.masses(changes)
        month = _month_start(now)
        fresh, updates = [], []
        for (tenant_id, customer_id), change in changes.items():
            table = rules[tenant_id].weights
            existing = current.get((tenant_id, customer_id))
            if existing is None:
                fresh.append(
                    {
                        "tenant_id": tenant_id,
                        "customer_id": customer_id,
                        "good_mass": change.good,
                        "bad_mass": change.bad,
                        "value": value_from_mass(table, change.good, change.bad, now),
                        "interaction_count": change.count,
                        "first_interaction_at": change.first,
                        "last_interaction_at": change.last,
                        "last_contribution": change.last_value,
                        "dirty_since": change.since,
                        "revenue": change.revenue,
                        "updated_at": now,
                    }
                )
                continue
            good, bad = existing[0] + change.good, existing[1] + change.bad
            updates.append(
                {
                    "b_tenant": tenant_id,
                    "b_id": customer_id,
                    "b_good": change.good,
                    "b_bad": change.bad,
                    "b_count": change.count,
                    "b_first": change.first,
                    "b_last": change.last,
                    "b_last_value": change.last_value,
                    "b_dirty": change.since,
                    # From before the month began: the past types are placed again (a
                    # customer not placed yet is placed by its first placement anyway).
                    "b_retype": change.since
                    if change.since is not None and change.since < month
                    else None,
                    "b_value": value_from_mass(table, good, bad, now),
                    "b_revenue": change.revenue,
                    "b_now": now,
                }
            )
        await repo.insert_relationships(fresh)
        await repo.add_to_relationships(updates)
        for row in updates:
            if row["b_retype"] is not None:
                self._retype_later(str(row["b_tenant"]))

    async def recompute(self, tenant_id: str) -> int:
        """Weighs the tenant's whole history again with its current rules: contributions,
        reasons, value sums and each customer's last contribution (its newest interaction's);
        every customer is marked for stage evaluation. Vectorised: the history is read as
        columns a chunk at a time, each weighed at once, and only the interactions whose
        contribution or reason changed are written back."""
        self._rules.pop(tenant_id, None)
        table = (await self.rules(tenant_id)).weights
        async with self.db.transaction() as session:
            repo = ScoringRepository(session)
            customers = await repo.customer_ids(tenant_id)
            index = {c: i for i, c in enumerate(customers)}
            good, bad = np.zeros(len(customers)), np.zeros(len(customers))
            newest, last = np.full(len(customers), -np.inf), np.zeros(len(customers))
            weighed = 0
            # A chunk of rows at a time: a tenant's history is never held at once.
            async for history in repo.weighing(tenant_id):
                values, reasons = table.contributions(
                    history.channels,
                    history.kinds,
                    history.outcomes,
                    history.sentiments,
                    history.revenues,
                    history.refunds,
                )
                reasons = [r if len(r) <= 200 else r[:200] for r in reasons]
                await repo.update_contributions(
                    [
                        (key, value, reason)
                        for key, value, reason, old_value, old_reason in zip(
                            history.keys,
                            values,
                            reasons,
                            history.contributions.tolist(),
                            history.reasons,
                            strict=True,
                        )
                        if value != old_value or reason != old_reason
                    ]
                )
                contributions = np.array(values, dtype=float)
                owner = _owners(index, history)
                chunk_good, chunk_bad = _masses(
                    table, len(customers), owner, history, contributions
                )
                good += chunk_good
                bad += chunk_bad
                _take_last_contributions(newest, last, owner, history, contributions)
                weighed += len(values)
            now = utcnow()
            await repo.set_masses(
                [
                    (tenant_id, c, g, b, value_from_mass(table, g, b, now), v)
                    for c, g, b, v in zip(
                        customers, good.tolist(), bad.tolist(), last.tolist(), strict=True
                    )
                ]
            )
            await repo.mark_dirty(tenant_id)
        return weighed

    # Stages

    async def evaluate_stages(
        self, limit: int = 200, now: datetime | None = None, *, streaming: bool = False
    ) -> int:
        """Evaluates the stages of up to `limit` customers marked dirty, from the earliest
        moment their history changed (a late interaction replays from its time); records
        the transitions and raises an alert for a recent move into the coming-apart half.
        One transaction per tenant of the batch. Returns how many customers were evaluated.

        `streaming` (the worker's passes while interactions keep arriving) leaves out the
        customers of tenants whose history is still arriving: judged in the middle of a
        load, a customer's stage would be read on half its history (silent since the last
        month loaded) and judged again when the rest arrives. They are judged once the
        stream pauses or the load settles.

        Alerts about the present wait for current data (a load of history still arriving
        judges its customers against today without them). When a tenant's data becomes
        current, its customers last judged without it are marked to be judged again: a
        customer whose last contact came early in a load gets nothing new from the rest."""
        now = now or utcnow()
        await self._judge_settled_again(now)
        async with self.db.read() as session:
            arriving = (
                self._settle_line() if streaming and self.history_settle_seconds > 0 else None
            )
            dirty = await ScoringRepository(session).dirty(limit, arriving)
        by_tenant: dict[str, list[Relationship]] = defaultdict(list)
        for r in dirty:
            by_tenant[r.tenant_id].append(r)
        for tenant_id, relationships in by_tenant.items():
            table = (await self.rules(tenant_id)).weights
            ids = sorted(r.customer_id for r in relationships)
            async with self.db.read() as session:
                repo = ScoringRepository(session)
                current = await repo.heard_since(
                    tenant_id, now - CURRENT_DATA
                ) and not await self._history_arriving(repo, tenant_id)
                model = await repo.retention_model(tenant_id, now)
                risk_alerts = model is not None or not await _model_due(repo, tenant_id, now)
                history = await repo.history(tenant_id, ids, judging=True)
                before = await repo.stages_before(
                    tenant_id, {r.customer_id: r.dirty_since for r in relationships}
                )
            per_customer: dict[str, list[AppliedInteraction]] = defaultdict(list)
            for row in history:
                per_customer[row.customer_id].append(row)
            # The reckoning is CPU work: off the event loop, so reads keep being answered.
            ordered = sorted(relationships, key=lambda r: r.customer_id)
            found = await asyncio.to_thread(
                _assess_all, table, ordered, per_customer, before, now, current, model
            )
            await self._store_assessments(tenant_id, found, risk_alerts)
            # Those judged while the data was not current yet (not the ones just judged on
            # it) are judged again on the passes after this one: once per tenant and process.
            if not current:
                self._judged_current.discard(tenant_id)
            else:
                await self._judge_again_on_current_data(tenant_id, now)
        return len(dirty)

    async def _judge_again_on_current_data(self, tenant_id: str, now: datetime) -> None:
        """Marks the tenant's customers last judged while its data was not current to be
        judged again, once per tenant and process (until its data is not current again)."""
        if tenant_id in self._judged_current:
            return
        async with self.db.transaction() as session:
            await ScoringRepository(session).mark_dirty(tenant_id, now - DAY, unjudged=True)
        self._judged_current.add(tenant_id)

    async def _judge_settled_again(self, now: datetime) -> None:
        """Tenants whose history stopped arriving `history_settle_seconds` ago, in any
        replica: when their data is current, the customers judged while it arrived are
        marked to be judged again (a load's last customers may have nothing left to arrive
        that would), whatever this process marked before the load."""
        if self.history_settle_seconds <= 0:
            return
        async with self.db.read() as session:
            repo = ScoringRepository(session)
            settled = await repo.settled_arrivals(self._settle_line())
            current = {t: await repo.heard_since(t, now - CURRENT_DATA) for t, _ in settled}
        for tenant_id, arrived_at in settled:
            if current[tenant_id]:
                self._judged_current.discard(tenant_id)
                await self._judge_again_on_current_data(tenant_id, now)
            async with self.db.transaction() as session:
                await ScoringRepository(session).note_judged_again(tenant_id, arrived_at)

    async def _history_arriving(self, repo: ScoringRepository, tenant_id: str) -> bool:
        return self.history_settle_seconds > 0 and await repo.history_arrived_after(
            tenant_id, self._settle_line()
        )

    def _settle_line(self) -> datetime:
        """History that arrived after this moment is still arriving."""
        return utcnow() - timedelta(seconds=self.history_settle_seconds)

    async def _store_assessments(
        self, tenant_id: str, found: Sequence[Assessment], risk_alerts: bool
    ) -> None:
        """Stores a pass's assessments of the tenant's customers in one transaction, a few
        statements for all of them (a transaction of five statements a customer judged a
        load of history at ~100 customers a second). Without `risk_alerts`, no customer's
        risk alerts yet."""
        async with self.db.transaction() as session:
            repo = ScoringRepository(session)
            # Where each stands now, locked: a pass beside this one (another replica, or the
            # worker beside a direct call) may have stored this very stage already, and
            # that is no second change for the feeds.
            standing = await repo.locked_stages(
                tenant_id, [f.relationship.customer_id for f in found]
            )
            stored = [
                _stored_assessment(f, standing.get(f.relationship.customer_id), risk_alerts)
                for f in found
            ]
            await repo.replace_stage_histories(
                tenant_id,
                [(f.relationship.customer_id, f.since) for f in found],
                [row for s in stored for row in s.transitions],
            )
            await repo.raise_alerts([alert for s in stored for alert in s.alerts])
            await repo.save_stages(
                tenant_id,
                [
                    (f.relationship.customer_id, s.values, f.relationship.dirty_marks)
                    for f, s in zip(found, stored, strict=True)
                ],
            )

    # Types

    async def classify(self, tenant_id: str, at: datetime | None = None) -> int:
        """Places every customer of the tenant on the value map as of `at` (now) with the
        tenant's rules; records each change of type with its reason. Returns the changes."""
        at = at or utcnow()
        rules = (await self.rules(tenant_id)).types
        async with self.db.read_transaction() as session:
            repo = ScoringRepository(session)
            touches = await _value_map(repo, tenant_id, at - types.WINDOW, at)
            relationships = await repo.placings(tenant_id)
        present_only = at >= utcnow() - ALERT_HORIZON
        current = {r.customer_id: r.relationship_type for r in relationships}
        # The reckoning is CPU work: off the event loop, so reads keep being answered.
        placed = await asyncio.to_thread(
            _place, tenant_id, relationships, current, touches, rules, at, present_only
        )
        async with self.db.transaction() as session:
            await _store_placement(ScoringRepository(session), placed)
        return len(placed.changes)

    async def classify_tenant(self, tenant_id: str) -> int:
        """Fits the tenant's retention model when it has none, it is older than
        RETENTION_REFIT or the buying customers grew by RETENTION_GROWTH, and classifies
        now; a tenant never classified before gets its type history first, and so do
        customers whose history arrived after it was (an import of older customers)."""
        async with self.db.read() as session:
            repo = ScoringRepository(session)
            current = await repo.retention_model(tenant_id)
            buyers = await repo.buyers(tenant_id, PURCHASE_KINDS)
        stale = (
            current is None
            or current.fitted_at <= utcnow() - RETENTION_REFIT
            # Fitted on an early part of the data (say, during an import): fit again.
            or buyers >= current.customers * RETENTION_GROWTH
        )
        if stale and await self.fit_retention(tenant_id) is not None:
            # Every customer's outlook and risk are refreshed with the new model.
            async with self.db.transaction() as session:
                await ScoringRepository(session).mark_dirty(tenant_id, utcnow() - DAY)
        async with self.db.read() as session:
            relationships = await ScoringRepository(session).placings(tenant_id)
        if not any(r.relationship_type for r in relationships):
            return await self.classify_history(tenant_id)
        # Never placed, though they were here at a month end that was: a type history for
        # them, placed among everyone as the tenant stood then.
        month = _month_start(utcnow())
        late = {
            r.customer_id
            for r in relationships
            if not r.relationship_type
            and r.first_interaction_at is not None
            and r.first_interaction_at < month
        }
        if late:
            return await self.classify_history(tenant_id, only=late)
        return await self.classify(tenant_id)

    async def retyping_due(self, busy: Collection[str]) -> list[str]:
        """The tenants whose customers' past types are to be placed again now: their stream
        paused (not among the `busy` ones, which received interactions since the last
        placement pass), or they waited RETYPE_WAIT seconds."""
        if self._retyping is None:
            async with self.db.read() as session:
                waiting = await ScoringRepository(session).retyping_tenants()
            self._retyping = dict.fromkeys(waiting, time.monotonic())
        now = time.monotonic()
        return sorted(
            t for t, since in self._retyping.items() if t not in busy or now - since >= RETYPE_WAIT
        )

    def _retype_later(self, tenant_id: str) -> None:
        """Puts the tenant on the list `retyping_due` reads (once read from the store: until
        then the store's marks are what it reads)."""
        if self._retyping is not None:
            self._retyping.setdefault(tenant_id, time.monotonic())

    async def retype(self, tenant_id: str) -> int:
        """Places again the past types of the tenant's customers that received interactions
        from before the month began (a late event, an import of older history, a merge):
        their type changes from the earliest of those moments on are dropped, their type set
        back to the one they had then, and they are placed at each month end from there and
        now, among everyone as the tenant stood then. All of it is stored in one transaction
        (readers see the types before or after, never a past one as the present), and the
        marks are cleared in it, but for a customer that received an interaction meanwhile:
        that one is placed again on a later pass. Returns the changes of type recorded."""
        if self._retyping is not None:
            self._retyping.pop(tenant_id, None)
        try:
            async with self.db.read() as session:
                repo = ScoringRepository(session)
                marks = await repo.retype_marks(tenant_id)
                if not marks:
                    return 0
                since = min(at for at, _ in marks.values())
                before = await repo.standings(
                    tenant_id, list(marks), since - timedelta(microseconds=1)
                )
            types_then = {s.customer_id: s for s in before if s.dimension == "type"}
            back = {
                customer_id: (
                    TypeRow(customer_id, then.current, then.reason[:500], then.at)
                    if then
                    else TypeRow(customer_id, "", "", None)
                )
                for customer_id in sorted(marks)
                for then in [types_then.get(customer_id)]
            }
            placed = await self._placed_history(
                tenant_id, utcnow(), set(marks), since, back
            ) or Placement(tenant_id, [], list(back.values()), None, [])
            async with self.db.transaction() as session:
                repo = ScoringRepository(session)
                left = await repo.clear_retype_marks(tenant_id, marks)
                await repo.drop_type_changes(tenant_id, list(marks), since)
                await _store_placement(repo, placed)
            if left:
                self._retype_later(tenant_id)
        except Exception:
            # Nothing was stored and the marks stay: the next pass places them; until then
            # they keep the types they had.
            self._retype_later(tenant_id)
            raise
        return len(placed.changes)

    async def fit_retention(
        self, tenant_id: str, at: datetime | None = None
    ) -> RetentionModel | None:
        """BG/NBD, Pareto/NBD and Gamma-Gamma on the tenant's purchases (weekly, one a day),
        as of `at`; the one of the first two that ranks the tenant's own later purchases
        better forecasts. None while fewer than MIN_BUYERS customers bought."""
        at = at or utcnow()
        builder = retention.PurchasesBuilder()
        async with self.db.read_transaction() as session:
            chunks = ScoringRepository(session).purchase_rows(tenant_id, PURCHASE_KINDS, at)
            async for customers, micros, revenues in chunks:
                await asyncio.to_thread(builder.add, customers, micros / WEEK_MICROS, revenues)
        model = await asyncio.to_thread(_fit_retention, tenant_id, builder.build(), at)
        if model is None:
            return None
        async with self.db.transaction() as session:
            await ScoringRepository(session).save_retention_model(model)
        return model

    async def mark_all_dirty(self, since: datetime | None = None) -> None:
        """Every customer's stage is evaluated again from `since` (default: from its start);
        the daily clock passes the last days, so that silence moves stages too."""
        async with self.db.transaction() as session:
            await ScoringRepository(session).mark_dirty(None, since)

    async def classify_history(
        self,
        tenant_id: str,
        now: datetime | None = None,
        only: Collection[str] | None = None,
        since: datetime | None = None,
    ) -> int:
        """Types at every month end from the tenant's first interaction, then now: the type
        history as-of reads need, for a tenant whose history arrived at once. With `only`,
        the month ends change those customers' types alone (from their first interaction,
        or the month ends after `since`); now places everyone. Stored in one transaction:
        readers never see a past type as the present one."""
        placed = await self._placed_history(tenant_id, now or utcnow(), only, since)
        if placed is None:
            return 0
        async with self.db.transaction() as session:
            await _store_placement(ScoringRepository(session), placed)
        return len(placed.changes)

    async def _placed_history(
        self,
        tenant_id: str,
        now: datetime,
        only: Collection[str] | None,
        since: datetime | None,
        back: Mapping[str, TypeRow] | None = None,
    ) -> Placement | None:
        """`classify_history`'s placements, not stored; `back` sets customers' types back
        to those rows' (what they were at `since`) before the first month end. None when
        nobody is there to place."""
        rules = (await self.rules(tenant_id)).types
        async with self.db.read_transaction() as session:
            repo = ScoringRepository(session)
            relationships = await repo.placings(tenant_id)
            firsts = [
                r.first_interaction_at
                for r in relationships
                if r.first_interaction_at and (only is None or r.customer_id in only)
            ]
            if not firsts:
                return None
            # The month ends after the start; one at `since` itself counts what happened then.
            start = min(firsts)
            if since is not None:
                start = max(start, since - timedelta(microseconds=1))
            # Read once; each month end places from its own year of it.
            touches = await _value_map(repo, tenant_id, start - types.WINDOW, now)
        return await asyncio.to_thread(
            _place_history,
            tenant_id,
            relationships,
            touches,
            rules,
            [*_month_ends(start, now), now],
            utcnow() - ALERT_HORIZON,
            only,
            back or {},
        )

    # Reads

    async def relationships(
        self, tenant_id: str, customer_ids: Sequence[str], as_of: datetime | None = None
    ) -> list[RelationshipView]:
        """The customers' relationships now, or as they stood at `as_of`."""
        async with self.db.read() as session:
            repo = ScoringRepository(session)
            rows = await repo.relationships_of(tenant_id, customer_ids)
            if as_of is None:
                return await self._current(repo, rows)
            ids = [r.customer_id for r in rows]
            history = await repo.history(tenant_id, ids, as_of, judging=True)
            standings = await repo.standings(tenant_id, ids, as_of)
            model = await repo.retention_model(tenant_id, as_of)
        table = (await self.rules(tenant_id)).weights
        return _as_of(tenant_id, ids, history, standings, table, as_of, model)

    async def at_risk(
        self, tenant_id: str, limit: int = 50, as_of: datetime | None = None
    ) -> list[RelationshipView]:
        """The tenant's customers most likely to end, riskiest first (ties by customer id),
        with their reasons: now, or as they stood at a past `as_of` (a moment not yet past
        is now). As of a past moment each risk is the one `relationships(..., as_of)` gives,
        from the history up to then, the stage then and the tenant's purchase model, for the
        customers with an interaction by then; they are assessed
        AT_RISK_CHUNK at a time, keeping the `limit` riskiest, so a big tenant's history is
        never held at once (the next chunk is read while one is assessed: the database's
        work on one core, the reckoning on the other)."""
        if as_of is None or as_of >= utcnow():
            return await self._ranked(tenant_id, "risk", limit)
        table = (await self.rules(tenant_id)).weights
        async with self.db.read() as session:
            model = await ScoringRepository(session).retention_model(tenant_id, as_of)

        async def chunk(after: str) -> tuple[list[str], list[Any], list[Any]]:
            async with self.db.read() as session:
                repo = ScoringRepository(session)
                ids = await repo.customers_after(tenant_id, after, AT_RISK_CHUNK, as_of)
                return (
                    ids,
                    await repo.history(tenant_id, ids, as_of, judging=True),
                    await repo.standings(tenant_id, ids, as_of),
                )

        riskiest: list[RelationshipView] = []
        ids, history, standings = await chunk("")
        while True:
            following = asyncio.create_task(chunk(ids[-1])) if len(ids) == AT_RISK_CHUNK else None
            try:
                # CPU work on a whole chunk: off the event loop, as the worker's assessments.
                views = await asyncio.to_thread(
                    _as_of, tenant_id, ids, history, standings, table, as_of, model
                )
            except BaseException:
                if following is not None:
                    following.cancel()
                raise
            riskiest = heapq.nsmallest(
                limit, [*riskiest, *views], key=lambda v: (-v.risk, v.customer_id)
            )
            if following is None:
                return riskiest
            ids, history, standings = await following

    async def list_relationships(
        self, tenant_id: str, wanted: RelationshipFilter, limit: int
    ) -> list[tuple[RelationshipView, float]]:
        """A page of the tenant's relationships as `wanted` filters and orders them, each with
        its order key (one more than `limit`, so the caller sees whether more follow)."""
        async with self.db.read() as session:
            repo = ScoringRepository(session)
            rows = await repo.list_relationships(tenant_id, wanted, limit + 1)
            views = await self._current(repo, rows)
        return [(v, float(getattr(r, wanted.order_by))) for v, r in zip(views, rows, strict=True)]

    async def with_potential(
        self, tenant_id: str, limit: int = 50, as_of: datetime | None = None
    ) -> list[RelationshipView]:
        """Customers who behave like the best ones but bring less, most potential first
        (ties by customer id): now, or as the tenant stood at a past `as_of` (a moment not
        yet past is now): every customer placed then from its year up to then, as the
        placement does, and the `limit` with the most potential read as of then."""
        if as_of is None or as_of >= utcnow():
            return await self._ranked(tenant_id, "potential", limit)
        async with self.db.read_transaction() as session:
            repo = ScoringRepository(session)
            relationships = await repo.placings(tenant_id)
            touches = await _value_map(repo, tenant_id, as_of - types.WINDOW, as_of)
        # The reckoning is CPU work: off the event loop, as the placement's.
        promising = await asyncio.to_thread(
            lambda: potential.potentials(_features(relationships, touches, as_of))
        )
        top = sorted(promising, key=lambda c: (-promising[c].amount, c))[:limit]
        views = {v.customer_id: v for v in await self.relationships(tenant_id, top, as_of)}
        return [
            replace(views[c], potential=promising[c].amount, potential_reason=promising[c].reason)
            for c in top
            if c in views
        ]

    async def _ranked(self, tenant_id: str, by: str, limit: int) -> list[RelationshipView]:
        async with self.db.read() as session:
            repo = ScoringRepository(session)
            return await self._current(repo, await repo.ranked(tenant_id, by, limit))

    async def explanation(
        self, tenant_id: str, customer_id: str, start: datetime, end: datetime, top: int = 5
    ) -> Explanation:
        table = (await self.rules(tenant_id)).weights
        async with self.db.read() as session:
            history = await ScoringRepository(session).history(tenant_id, [customer_id], end)
        return explain(table, _applied(history), start, end, top)

    async def top_contributions(
        self, tenant_id: str, customer_id: str, at: datetime, top: int = 5
    ) -> list[Any]:
        table = (await self.rules(tenant_id)).weights
        async with self.db.read() as session:
            history = await ScoringRepository(session).history(tenant_id, [customer_id], at)
        return top_contributions(table, _applied(history), at, top)

    async def timeline(
        self, tenant_id: str, customer_id: str, start: datetime, end: datetime, points: int = 60
    ) -> list[TimelinePoint]:
        """Value, type, stage and risk at `points` evenly spaced moments from start to end."""
        points = max(2, min(points, 500))
        table = (await self.rules(tenant_id)).weights
        async with self.db.read() as session:
            repo = ScoringRepository(session)
            rows = await repo.history(tenant_id, [customer_id], end)
            changes = await repo.state_changes(tenant_id, [customer_id], end)
            models = await repo.retention_models(tenant_id)
        # Each point's model is the one in use then (before the first fit, the first).
        fits = [m.fitted_at for m in models]
        # Each moment's value after it depends on the ones before only: computed once (a
        # moment for every row, in the rows' order), and the value at any point from it.
        reckoned = _reckoned(table, rows)
        moments, moment_times = reckoned.moments, reckoned.times
        step = (end - start) / (points - 1)
        result = []
        for n in range(points):
            at = start + step * n
            kind = [c for c in changes if c.dimension == "type" and c.at <= at]
            stage = [c for c in changes if c.dimension == "stage" and c.at <= at]
            stage_then = stage[-1].current if stage else ""
            seen = bisect_right(moment_times, at)
            model = models[max(bisect_right(fits, at) - 1, 0)] if models else None
            p_alive = (
                _outlooks(model, {customer_id: rows[:seen]}, at, value=False)[customer_id][
                    "p_alive"
                ]
                if seen
                else None
            )
            result.append(
                TimelinePoint(
                    at,
                    reckoned.value(table, at),
                    kind[-1].current if kind else "",
                    stage_then,
                    risk.assess(moments[:seen], at, stage_then, p_alive).score if seen else None,
                )
            )
        return result

    async def alerts(
        self,
        tenant_id: str,
        customer_ids: Sequence[str] | None = None,
        open_only: bool = False,
        limit: int = 100,
        as_of: datetime | None = None,
    ) -> list[Alert]:
        """The tenant's alerts, newest first; as of a moment, those raised by then, each as
        it stood: one acknowledged later was open then (`open_only` keeps it) and shows no
        acknowledgement."""
        async with self.db.read() as session:
            found = await ScoringRepository(session).alerts(
                tenant_id, customer_ids, open_only, limit, as_of
            )
        return found if as_of is None else [alert_as_it_stood(a, as_of) for a in found]

    async def alert_feed(
        self, since: datetime, limit: int = 500, after_id: str = ""
    ) -> list[Alert]:
        """Every tenant's alerts raised at or after `since` (and, at `since` itself, with an
        id after `after_id`), in (raised_at, id) order: a page of the feed."""
        async with self.db.read() as session:
            return await ScoringRepository(session).alert_feed(since, limit, after_id)

    async def relationship_feed(
        self,
        since: datetime,
        limit: int = 500,
        after: tuple[str, str] = ("", ""),
        standing_only: bool = False,
    ) -> list[RelationshipView]:
        """Every tenant's relationships changed at or after `since` (at `since` itself, after
        the (tenant, customer) `after`), oldest change first, each as it stands now; with
        `standing_only`, those whose type or stage changed, by `standing_changed_at`."""
        async with self.db.read() as session:
            repo = ScoringRepository(session)
            rows = await repo.relationship_feed(since, limit, after, standing_only)
            return await self._current(repo, rows)

    async def _current(
        self, repo: ScoringRepository, rows: Sequence[Relationship]
    ) -> list[RelationshipView]:
        """The rows' relationships now, each with its trend: its value's change over the
        last TREND_DAYS, from its masses and the contributions since (one query a tenant)."""
        now = utcnow()
        since = now - timedelta(days=TREND_DAYS)
        later: dict[tuple[str, str], list[Applied]] = defaultdict(list)
        for tenant_id in {r.tenant_id for r in rows}:
            ids = [r.customer_id for r in rows if r.tenant_id == tenant_id]
            for c in await repo.contributions_since(tenant_id, ids, since):
                later[(tenant_id, c.customer_id)].append(
                    Applied(c.interaction_id, c.occurred_at, c.contribution)
                )
        views = []
        for r in rows:
            table = (await self.rules(r.tenant_id)).weights
            value = value_from_mass(table, r.good_mass, r.bad_mass, now)
            then = value_before(
                table, r.good_mass, r.bad_mass, later[(r.tenant_id, r.customer_id)], since
            )
            views.append(_view(r, now, value, value - then))
        return views

    async def acknowledge(self, tenant_id: str, alert_id: str, who: str) -> bool:
        async with self.db.transaction() as session:
            return await ScoringRepository(session).acknowledge(tenant_id, alert_id, who, utcnow())

    async def tenants(self) -> list[str]:
        async with self.db.read() as session:
            return await ScoringRepository(session).tenants()


def _weigh(batch: Sequence[Delivered], rules: dict[str, TenantRules]) -> list[tuple[float, str]]:
    """The contribution and reason of each interaction of the batch, with its tenant's
    weights, weighed together per tenant."""
    by_tenant: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(batch):
        by_tenant[item.tenant_id].append(i)
    weighed: list[tuple[float, str]] = [(0.0, "")] * len(batch)
    for tenant_id, indexes in by_tenant.items():
        items = [batch[i] for i in indexes] if len(indexes) < len(batch) else batch
        values, reasons = rules[tenant_id].weights.contributions(
            [d.channel for d in items],
            [d.kind for d in items],
            [d.outcome for d in items],
            [d.sentiment for d in items],
            [d.revenue for d in items],
            [d.refund for d in items],
        )
        for i, value, reason in zip(indexes, values, reasons, strict=True):
            weighed[i] = (value, reason)
    return weighed


def _owners(index: Mapping[str, int], history: Weighing) -> np.ndarray:
    """Each row of `history`'s customer as its position in `index` (-1: another's)."""
    return np.fromiter(
        (index.get(c, -1) for c in history.customer_ids),
        dtype=np.intp,
        count=len(history.customer_ids),
    )


def _masses(
    table: WeightTable, customers: int, owner: np.ndarray, history: Weighing, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The good and bad masses (see `mass`) of each customer, summed over the rows of
    `history` weighing `values`, each row's customer found by `_owners` (rows of other
    customers are left out)."""
    days = history.seconds / DAY.total_seconds()
    good_mass = np.where(values < 0, 0.0, values * 2.0 ** (days / table.half_life_good_days))
    bad_mass = np.where(values < 0, values * 2.0 ** (days / table.half_life_bad_days), 0.0)
    known = owner >= 0
    good = np.bincount(owner[known], weights=good_mass[known], minlength=customers)
    bad = np.bincount(owner[known], weights=bad_mass[known], minlength=customers)
    return good, bad


def _take_last_contributions(
    newest: np.ndarray, last: np.ndarray, owner: np.ndarray, history: Weighing, values: np.ndarray
) -> None:
    """Moves each customer's newest interaction's moment (`newest`, -inf: none yet) and
    contribution (`last`) on to the rows of `history` weighing `values` (each row's customer
    found by `_owners`), read after those before: what `apply` keeps as the last
    contribution, our own signals (violations) being no interaction. Of interactions at one
    moment, the one read last counts (storage order): either is the newest."""
    counted = np.fromiter(
        (kind not in SIGNAL_KINDS for kind in history.kinds),
        dtype=bool,
        count=len(history.kinds),
    )
    rows = np.flatnonzero((owner >= 0) & counted)
    if not len(rows):
        return
    here = np.full(len(newest), -np.inf)
    np.maximum.at(here, owner[rows], history.seconds[rows])
    rows = rows[history.seconds[rows] == here[owner[rows]]]
    # Several at a customer's newest moment: the last read (the first of them reversed).
    found, first = np.unique(owner[rows][::-1], return_index=True)
    later = here[found] >= newest[found]  # read after one at the same moment: it counts
    found, first = found[later], first[later]
    last[found] = values[rows[::-1][first]]
    newest[found] = here[found]


def _applied_row(item: Delivered, value: float, reason: str, now: datetime) -> tuple[Any, ...]:
    """The applied interaction's row, in `APPLIED_COLUMNS` order."""
    return (
        item.interaction_id,
        item.tenant_id,
        item.customer_id,
        item.occurred_at,
        item.channel,
        item.kind,
        item.direction,
        item.sentiment,
        item.revenue,
        item.refund,
        item.cost,
        item.outcome,
        item.employee,
        item.issue_type[:64] if item.issue_type else None,
        item.text[:2000] if item.text else None,
        value,
        reason[:200],
        now,
    )


def _applied(rows: Sequence[AppliedInteraction]) -> list[Applied]:
    return [Applied(r.interaction_id, r.occurred_at, r.contribution, r.reason) for r in rows]


@dataclass(frozen=True)
class _Reckoned:
    """A customer's history in time order: its moments (signals included), and the good and
    bad sums after each, from which its value at any moment follows."""

    times: list[datetime]
    masses: list[tuple[float, float]]
    moments: list[stages.Moment]

    def value(self, table: WeightTable, at: datetime) -> float:
        return value_then(table, self.times, self.masses, at)


def _reckoned(table: WeightTable, rows: Sequence[AppliedInteraction]) -> _Reckoned:
    ordered = sorted(rows, key=lambda r: (r.occurred_at, r.interaction_id))
    times = [r.occurred_at for r in ordered]
    masses = masses_after(table, list(zip(times, [r.contribution for r in ordered], strict=True)))
    return _Reckoned(
        times,
        masses,
        [
            stages.Moment(r.occurred_at, r.kind, r.channel, r.direction, good + bad)
            for r, (good, bad) in zip(ordered, masses, strict=True)
        ],
    )


def _restated(was: str, kind: str) -> bool:
    """Whether an applied signal arrives again in its other state: withdrawn, or back."""
    return was != kind and {was, kind} == {VIOLATION, VIOLATION_WITHDRAWN}


def _counted(kind: str) -> int:
    """1 for an interaction with the customer, 0 for one of our own signals about it."""
    return 0 if kind in SIGNAL_KINDS else 1


def _warns(transition: stages.Transition, now: datetime) -> bool:
    return (
        stages.is_coming_apart(transition.stage)
        and (transition.previous is None or not stages.is_coming_apart(transition.previous))
        and transition.at >= now - ALERT_HORIZON
    )


def _alert_row(
    tenant_id: str,
    customer_id: str,
    kind: str,
    severity: str,
    reason: str,
    dedup_key: str,
    now: datetime,
) -> dict[str, Any]:
    """An alert's row for `ScoringRepository.raise_alerts` (kept once per dedup key)."""
    return {
        "id": new_id(),
        "tenant_id": tenant_id,
        "customer_id": customer_id,
        "kind": kind,
        "severity": severity,
        "reason": reason[:500],
        "dedup_key": dedup_key,
        "raised_at": now,
        "acknowledged_at": None,
        "acknowledged_by": None,
    }


def _stage_alert(
    tenant_id: str, customer_id: str, transition: stages.Transition, now: datetime
) -> dict[str, Any]:
    return _alert_row(
        tenant_id,
        customer_id,
        "stage_change",
        "critical" if transition.stage in ("avoiding", "terminating") else "warning",
        f"moved from {transition.previous or 'nothing'} to {transition.stage}: {transition.reason}",
        f"stage:{customer_id}:{transition.stage}:{transition.at.isoformat()}",
        now,
    )


def _risk_alert(
    relationship: Relationship, assessed: risk.Risk, risk_was: float, now: datetime
) -> dict[str, Any]:
    """The alert, with the risk the customer had before it crossed the line (`risk_was`, as
    the store holds it now); none when it was judged at risk before, while its alert waited
    (for current data or the model)."""
    reasons = "; ".join(assessed.reasons[:3]) or "no single reason"
    was = f" (was {risk_was:.0%})" if risk_was < risk.AT_RISK else ""
    return _alert_row(
        relationship.tenant_id,
        relationship.customer_id,
        "at_risk",
        "critical" if assessed.score >= risk.CRITICAL else "warning",
        f"risk {assessed.score:.0%}{was}: {reasons}",
        f"risk:{relationship.customer_id}:{now.isoformat()}",
        now,
    )


def _stored_rules(
    tenant_id: str, weights: dict[str, Any], type_rules: list[dict[str, Any]]
) -> tuple[WeightTable, tuple[types.TypeRule, ...]]:
    """The rules a tenant stored. Settings stored before a check was added (a NaN weight, two
    names alike but for spaces) would fail every read: that part falls back to the defaults,
    logged, until the tenant sends settings again."""
    table, rules = WeightTable(), types.DEFAULT_RULES
    try:
        table = WeightTable.from_config(weights)
    except InvalidWeights as error:
        log.error("tenant %s: stored weights refused, defaults used: %s", tenant_id, error)
    try:
        rules = types.rules_from_config(type_rules) if type_rules else types.DEFAULT_RULES
    except types.InvalidTypeRules as error:
        log.error("tenant %s: stored types refused, defaults used: %s", tenant_id, error)
    return table, rules


def _fit_retention(
    tenant_id: str, bought: retention.Purchases, at: datetime
) -> RetentionModel | None:
    cutoff = (at - EPOCH) / WEEK
    _, data = retention.rfm(bought.codes, bought.times, cutoff, bought.amounts, DAY_IN_WEEKS)
    # Without buyers enough, the types are placed from the other signals alone.
    if len(data.frequency) < MIN_BUYERS:
        return None
    bg = retention.fit_bgnbd(data)
    pareto = retention.fit_pareto_nbd(data)
    kind, _ = retention.select_model(bought.codes, bought.times, cutoff, DAY_IN_WEEKS)
    model = RetentionModel(
        tenant_id=tenant_id,
        kind=kind,
        bgnbd={"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b},
        pareto_nbd={"r": pareto.r, "alpha": pareto.alpha, "s": pareto.s, "beta": pareto.beta},
        customers=len(data.frequency),
        fitted_at=at,
    )
    assert data.monetary is not None
    if int(np.sum(data.frequency > 0)) >= MIN_BUYERS:
        spend = retention.fit_gamma_gamma(data.frequency, data.monetary)
        if spend.q > 1:
            model.gamma_gamma = {"p": spend.p, "q": spend.q, "v": spend.v}
    return model


async def _value_map(
    repo: ScoringRepository, tenant_id: str, start: datetime, end: datetime
) -> types.ValueMapHistory:
    """The tenant's interactions with start < occurred_at <= end as the value map reads them,
    read in chunks (each turned into columns off the event loop)."""
    builder = types.ValueMapBuilder()
    async for rows in repo.value_map_rows(tenant_id, start, end):
        await asyncio.to_thread(
            builder.add,
            rows.customer_ids,
            rows.moments,
            rows.channels,
            rows.kinds,
            rows.revenues,
            rows.refunds,
            rows.costs,
            rows.sentiments,
        )
    return builder.build()


def _features(
    relationships: Sequence[Placing], touches: types.ValueMapHistory, at: datetime
) -> dict[str, types.Features]:
    """Where each customer here by `at` stands on the value map at `at`, from its year of
    `touches` up to `at`."""
    return touches.features_at(
        at,
        (
            r.customer_id
            for r in relationships
            if r.first_interaction_at is not None and r.first_interaction_at <= at
        ),
    )


@dataclass(frozen=True)
class Placement:
    """A tenant's customers placed on the value map: the rows `classify` stores."""

    tenant_id: str
    changes: list[TypeChange]
    updates: list[TypeRow]
    # Each customer's (id, potential or None, its reason), when the present was placed.
    potentials: list[tuple[str, float | None, str]] | None
    alerts: list[dict[str, Any]]


class TypeRow(NamedTuple):
    """A customer's type as `ScoringRepository.set_types` stores it."""

    customer_id: str
    name: str
    reason: str
    since: datetime | None


class TypeChange(NamedTuple):
    """A customer's change of type, as a placement holds it until it is stored (a tuple:
    a tenant's first placement may hold hundreds of thousands)."""

    customer_id: str
    at: datetime
    previous: str
    current: str
    reason: str


def _place(
    tenant_id: str,
    relationships: Sequence[Placing],
    current: Mapping[str, str],
    touches: types.ValueMapHistory,
    rules: Sequence[types.TypeRule],
    at: datetime,
    present: bool,
    only: Collection[str] | None = None,
) -> Placement:
    """The customers placed at `at` from their year of `touches` up to then."""
    features = _features(relationships, touches, at)
    placed = [r for r in relationships if r.customer_id in features]
    distribution = types.Distribution.of(features.values())
    changes, updates = [], []
    new_types: dict[str, str] = {}
    for r in placed:
        if only is not None and r.customer_id not in only:
            continue
        call = types.classify(features[r.customer_id], distribution, rules)
        was = current[r.customer_id]
        if call.name != was:
            new_types[r.customer_id] = call.name
            changes.append(TypeChange(r.customer_id, at, was, call.name, call.reason[:500]))
            updates.append(TypeRow(r.customer_id, call.name, call.reason[:500], at))
    if not present:  # potential and cohort exceptions are about the present
        return Placement(tenant_id, changes, updates, None, [])
    promising = potential.potentials(features)
    potentials: list[tuple[str, float | None, str]] = [
        (r.customer_id, promise.amount, promise.reason[:500])
        if (promise := promising.get(r.customer_id))
        else (r.customer_id, None, "")
        for r in placed
    ]
    alerts: list[dict[str, Any]] = []
    frontier = max((r.last_interaction_at for r in placed if r.last_interaction_at), default=None)
    if frontier is not None and frontier >= at - CURRENT_DATA:
        recent = touches.interactions(at - 90 * DAY, at)
        cohorts = {
            r.customer_id: (new_types.get(r.customer_id, current[r.customer_id]), r.stage)
            for r in placed
        }
        found = patterns.cohort_exceptions(recent, cohorts, at)
        alerts = [_pattern_alert(tenant_id, c, e, at) for c, e in sorted(found.items())]
    return Placement(tenant_id, changes, updates, potentials, alerts)


def _place_history(
    tenant_id: str,
    relationships: Sequence[Placing],
    touches: types.ValueMapHistory,
    rules: Sequence[types.TypeRule],
    moments: Sequence[datetime],
    present_from: datetime,
    only: Collection[str] | None,
    back: Mapping[str, TypeRow],
) -> Placement:
    """The tenant placed at each of `moments` in turn (the last is now), each from its own
    year of `touches` (the tenant's interactions, oldest first), each starting from the
    types the one before left; with `only`, the moments before the last change those
    customers' types alone. `back` sets customers' types back before the first. One
    placement to store: every change, each customer's last type, and the present's
    potentials and alerts."""
    current = {r.customer_id: r.relationship_type for r in relationships}
    current |= {customer_id: row.name for customer_id, row in back.items()}
    updates = dict(back)
    changes: list[TypeChange] = []
    alerts: list[dict[str, Any]] = []
    potentials = None
    for at in moments:
        last = at == moments[-1]
        placed = _place(
            tenant_id,
            relationships,
            current,
            touches,
            rules,
            at,
            at >= present_from,
            None if last else only,
        )
        changes += placed.changes
        for row in placed.updates:
            updates[row.customer_id] = row
            current[row.customer_id] = row.name
        alerts += placed.alerts
        potentials = placed.potentials if placed.potentials is not None else potentials
    return Placement(tenant_id, changes, list(updates.values()), potentials, alerts)


async def _store_placement(repo: ScoringRepository, placed: Placement) -> None:
    async with repo.passing_once():
        await repo.insert_type_changes(placed.tenant_id, placed.changes)
        await repo.set_types(placed.tenant_id, placed.updates, utcnow())
        if placed.potentials is not None:
            await repo.set_potentials(placed.tenant_id, placed.potentials)
        await repo.raise_alerts(placed.alerts)


class StoredAssessment(NamedTuple):
    """What storing an assessment writes: the stage changes since its change, the alerts
    and the relationship's new values."""

    transitions: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    values: dict[str, Any]


async def _model_due(repo: ScoringRepository, tenant_id: str, now: datetime) -> bool:
    """Whether a tenant without a retention model is to have one: its risks lack their
    purchase outlook, and their alerts wait for the judgement the fit brings to every
    customer. Its first placement fits the model once MIN_BUYERS customers bought; placed
    without one, it had fewer (a later placement that finds them fits it). Before that
    placement, the buyers are counted, up to MIN_BUYERS."""
    if await repo.placed(tenant_id):
        return False
    return await repo.buyers(tenant_id, PURCHASE_KINDS, now, at_most=MIN_BUYERS) >= MIN_BUYERS


def _stored_assessment(
    found: Assessment,
    now_stands: LockedStanding | None,
    risk_alerts: bool,
) -> StoredAssessment:
    """What storing `found` writes, given where the relationship stands now in the store
    (the assessment's own reading without it); an at-risk alert only with `risk_alerts`,
    and only once a stretch at risk, whichever pass stored it."""
    relationship, now = found.relationship, found.now
    latest = found.transitions[-1] if found.transitions else None
    stands = now_stands or LockedStanding(
        (relationship.stage, relationship.stage_since),
        relationship.risk,
        relationship.risk_alerted,
    )
    was, risk_was = stands.stage, stands.risk
    transitions = [
        {
            "id": new_id(),
            "tenant_id": relationship.tenant_id,
            "customer_id": relationship.customer_id,
            "dimension": "stage",
            "at": t.at,
            "previous": t.previous,
            "current": t.stage,
            "reason": t.reason[:500],
        }
        for t in found.transitions
    ]
    alerts = [
        _pattern_alert(relationship.tenant_id, relationship.customer_id, e, now)
        for e in found.unusual
    ]
    # The customer's standing move: this pass's last, or the one before its change.
    # A move into the coming-apart half judged while the data was not yet current
    # (a load still arriving) alerts on the first pass that is, once, by its key.
    standing = latest or found.before
    if found.alerting and standing is not None and _warns(standing, now):
        alerts.append(_stage_alert(relationship.tenant_id, relationship.customer_id, standing, now))
    values: dict[str, Any] = {
        "judged_current": found.alerting,
        "risk": found.assessed.score,
        "risk_reasons": found.assessed.reasons,
        **found.outlook,
    }
    # Once a stretch at risk, on a pass with current data (so a load of history
    # alerts for who is at risk at its end) and the tenant's model where it can have one;
    # below the line the next one may alert.
    if found.assessed.score < risk.AT_RISK:
        values["risk_alerted"] = False
    elif found.alerting and risk_alerts and not stands.risk_alerted:
        alerts.append(_risk_alert(relationship, found.assessed, risk_was, now))
        values["risk_alerted"] = True
    if latest is not None:
        values |= {
            "stage": latest.stage,
            "stage_since": latest.at,
            "stage_reason": latest.reason[:500],
        }
    elif found.before is None:
        values |= {"stage": "", "stage_since": None, "stage_reason": ""}
    # A change for the relationship feeds: a new stage (a replay that ends where it
    # was is not one) for both, a new risk for the plain one.
    if "stage" in values and (values["stage"], values["stage_since"]) != was:
        changed = utcnow()
        values |= {"updated_at": changed, "standing_changed_at": changed}
    elif values["risk"] != risk_was:
        values["updated_at"] = utcnow()
    return StoredAssessment(transitions, alerts, values)


@dataclass(frozen=True)
class Assessment:
    """What one customer's history says now: its stage transitions since the change, its
    exceptions, its risk and outlook. Pure reckoning, stored by `_store_assessments`."""

    relationship: Relationship
    since: datetime | None
    now: datetime
    alerting: bool
    before: stages.Transition | None
    transitions: list[stages.Transition]
    unusual: list[patterns.Exception_]
    assessed: risk.Risk
    outlook: Outlook


def _assess_all(
    table: WeightTable,
    relationships: Sequence[Relationship],
    histories: dict[str, list[AppliedInteraction]],
    before: dict[str, StateChange],
    now: datetime,
    alerting: bool,
    model: RetentionModel | None,
) -> list[Assessment]:
    outlooks = _outlooks(
        model, {r.customer_id: histories[r.customer_id] for r in relationships}, now
    )
    return [
        _assess(
            table,
            r,
            histories[r.customer_id],
            before.get(r.customer_id),
            now,
            alerting,
            outlooks[r.customer_id],
        )
        for r in relationships
    ]


def _assess(
    table: WeightTable,
    relationship: Relationship,
    history: Sequence[AppliedInteraction],
    before: StateChange | None,
    now: datetime,
    alerting: bool = True,
    outlook: Outlook = NO_OUTLOOK,
) -> Assessment:
    since = relationship.dirty_since
    # One reckoning: the stage rules see contacts only, the risk rules our signals too.
    everything = _reckoned(table, history).moments
    moments = [m for m in everything if m.kind not in SIGNAL_KINDS]
    transitions = stages.timeline(
        moments, now, since=since, current=before.current if before else None
    )
    unusual = patterns.exceptions(relationship.customer_id, moments, now) if alerting else []
    stage_now = (
        transitions[-1].stage if transitions else (before.current if before else "")
    ) or relationship.stage
    return Assessment(
        relationship=relationship,
        since=since,
        now=now,
        alerting=alerting,
        before=(
            stages.Transition(before.at, before.current, before.previous, before.reason)
            if before is not None
            else None
        ),
        transitions=list(transitions),
        unusual=list(unusual),
        assessed=risk.assess(everything, now, stage_now, outlook.get("p_alive")),
        outlook=outlook,
    )


def purchase_model(model: RetentionModel) -> retention.BGNBD | retention.ParetoNBD:
    """The tenant's forecasting purchase model."""
    if model.kind == "pareto_nbd" and model.pareto_nbd:
        return retention.ParetoNBD(**model.pareto_nbd, log_likelihood=0.0)
    return retention.BGNBD(**model.bgnbd, log_likelihood=0.0)


def _outlooks(
    model: RetentionModel | None,
    histories: Mapping[str, Sequence[AppliedInteraction]],
    now: datetime,
    *,
    value: bool = True,
) -> dict[str, Outlook]:
    """Each customer's purchase outlook from the tenant's model, from its history (keyed by
    customer) up to `now`: nothing without a model or purchases. Reckoned for all of them at
    once, over arrays: a lifetime value sums a year of weekly forecasts, ~4 ms a customer
    one at a time. Without `value`, no lifetime value (the chance of being active alone)."""
    found = dict.fromkeys(histories, NO_OUTLOOK)
    bought = [
        (customer_id, (r.occurred_at - EPOCH) / WEEK, r.revenue)
        for customer_id, history in histories.items()
        for r in history
        if r.kind in PURCHASE_KINDS
    ]
    if model is None or not model.bgnbd or not bought:
        return found
    builder = retention.PurchasesBuilder()
    builder.add(*(list(c) for c in zip(*bought, strict=True)))
    ids, data = builder.build().rfm((now - EPOCH) / WEEK, DAY_IN_WEEKS)
    purchases = purchase_model(model)
    p_alive = retention.probability_alive(purchases, data)
    expected = retention.expected_purchases(purchases, data, 90 / 7)
    values = None
    if value and model.gamma_gamma:
        spend = retention.GammaGamma(**model.gamma_gamma, log_likelihood=0.0)
        values = retention.lifetime_value(
            purchases, spend, data, VALUE_HORIZON_WEEKS, WEEKLY_DISCOUNT
        )
    for n, customer_id in enumerate(ids):
        found[customer_id] = {
            "p_alive": round(float(p_alive[n]), 6),
            "expected_purchases": round(float(expected[n]), 6),
            "lifetime_value": round(float(values[n]), 2) if values is not None else None,
        }
    return found


def _pattern_alert(
    tenant_id: str, customer_id: str, found: patterns.Exception_, now: datetime
) -> dict[str, Any]:
    reason = f"{found.kind.replace('_', ' ')}: {found.reason}"
    return _alert_row(
        tenant_id, customer_id, "out_of_pattern", found.severity, reason, found.key, now
    )


def _view(row: Relationship, now: datetime, value: float, trend: float) -> RelationshipView:
    return RelationshipView(
        tenant_id=row.tenant_id,
        customer_id=row.customer_id,
        as_of=now,
        value=value,
        trend=trend,
        interaction_count=row.interaction_count,
        first_interaction_at=row.first_interaction_at,
        last_interaction_at=row.last_interaction_at,
        last_contribution=row.last_contribution,
        relationship_type=row.relationship_type,
        type_reason=row.type_reason,
        stage=row.stage,
        stage_since=row.stage_since,
        stage_reason=row.stage_reason,
        updated_at=row.updated_at,
        standing_changed_at=row.standing_changed_at,
        risk=row.risk,
        risk_reasons=tuple(row.risk_reasons or ()),
        p_alive=row.p_alive,
        expected_purchases=row.expected_purchases,
        lifetime_value=row.lifetime_value,
        potential=row.potential,
        potential_reason=row.potential_reason,
        type_since=row.type_since,
        revenue=row.revenue,
    )


def _as_of(
    tenant_id: str,
    customer_ids: Sequence[str],
    history: Sequence[Any],
    standings: Sequence[Any],
    table: WeightTable,
    as_of: datetime,
    model: RetentionModel | None,
) -> list[RelationshipView]:
    """The customers' relationships as they stood at `as_of`, from their history up to then
    and their standings then (`ScoringRepository.standings`), for those with any history by
    then; the purchase outlook from the tenant's `model` (the one in use then,
    `ScoringRepository.retention_model`) on their purchases up to then, and the risk from
    it, as the worker's own."""
    per_customer: dict[str, list[AppliedInteraction]] = defaultdict(list)
    for row in history:
        per_customer[row.customer_id].append(row)
    latest = {(s.customer_id, s.dimension): s for s in standings}
    outlooks = _outlooks(model, per_customer, as_of)
    views = []
    for customer_id in customer_ids:
        past = per_customer[customer_id]
        if not past:
            continue
        reckoned = _reckoned(table, past)
        value = reckoned.value(table, as_of)
        type_change = latest.get((customer_id, "type"))
        stage_change = latest.get((customer_id, "stage"))
        stage_then = stage_change.current if stage_change else ""
        outlook = outlooks[customer_id]
        assessed = risk.assess(reckoned.moments, as_of, stage_then, outlook["p_alive"])
        # Our own signals (violations) are no contact with the customer, as in `apply`.
        contacts = [r for r in past if _counted(r.kind)]
        views.append(
            RelationshipView(
                tenant_id=tenant_id,
                customer_id=customer_id,
                as_of=as_of,
                value=value,
                trend=value - reckoned.value(table, as_of - timedelta(days=TREND_DAYS)),
                interaction_count=len(contacts),
                first_interaction_at=contacts[0].occurred_at if contacts else None,
                last_interaction_at=contacts[-1].occurred_at if contacts else None,
                last_contribution=contacts[-1].contribution if contacts else 0.0,
                p_alive=outlook["p_alive"],
                expected_purchases=outlook["expected_purchases"],
                lifetime_value=outlook["lifetime_value"],
                relationship_type=type_change.current if type_change else "",
                type_reason=type_change.reason if type_change else "",
                stage=stage_then,
                stage_since=stage_change.at if stage_change else None,
                stage_reason=stage_change.reason if stage_change else "",
                updated_at=as_of,
                risk=assessed.score,
                risk_reasons=tuple(assessed.reasons),
                type_since=type_change.at if type_change else None,
                revenue=sum(p.revenue - p.refund for p in past),
            )
        )
    return views


def _month_start(at: datetime) -> datetime:
    """The beginning of `at`'s month: the last month end the type history has a type at."""
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _month_ends(start: datetime, end: datetime) -> list[datetime]:
    points: list[datetime] = []
    year, month = start.year, start.month
    while True:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        point = start.replace(
            year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0
        )
        if point > end:
            return points
        points.append(point)
