"""Playbook's use cases: publish a tenant's playbook as its next version, read the active
version and the history. A tenant that never published follows the default playbook."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import uuid
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from playbook import actions, alerts, evaluation
from playbook.actions import Action, Missed, Outlook, Owed
from playbook.domain import (
    DEFAULT_PLAYBOOK,
    RELATIONSHIP_TYPES,
    InvalidPlaybook,
    PlaybookDraft,
    Program,
    Standard,
    draft_from_dict,
    draft_to_dict,
    validate,
)
from playbook.evaluation import Judgement, Standing, Touch, type_key
from playbook.models import (
    AlertEvent,
    CustomerState,
    ObligationRow,
    PlaybookVersion,
    ProgramPick,
    ViolationRow,
    WebhookDelivery,
    WebhookSubscription,
)
from playbook.repository import DueCustomer, OwedSignal, PlaybookRepository
from playbook.scoring_client import Placed, Scoring, ScoringUnavailable
from relint import webhooks
from relint.as_of import alert_as_it_stood
from relint.db import Database, new_id, new_ids, utcnow

log = logging.getLogger(__name__)

# Two publishes for one tenant may both read the same last version; the unique constraint
# refuses the second, which then numbers itself again.
_PUBLISH_ATTEMPTS = 5
# Violations are sent out as alerts when they are about the present, not an old history.
ALERT_HORIZON = timedelta(days=7)
# Scoring's alert feed: read again this far back each time, as alerts may commit late.
SCORING_FEED = "scoring"
FEED_OVERLAP = timedelta(minutes=5)
# Scoring's feed of new types and stages, to judge those customers again: read every pass
# and a few seconds back, as a change may commit late.
STANDINGS_FEED = "scoring-standings"
STANDINGS_LOOKBACK = timedelta(seconds=5)
MAX_SUBSCRIPTIONS = 50
# Parsed playbook versions a service keeps (see PlaybookService._parsed_version).
PARSED_PLAYBOOKS = 256
# After a rotation the old secret signs beside the new one this long, unless asked otherwise.
DEFAULT_OVERLAP_HOURS = 24
MAX_OVERLAP_HOURS = 168
# An event of one of scoring's feeds (`PlaybookService._follow`).
_E = TypeVar("_E")
# Spreads retries; not for secrets.
_JITTER = random.Random()  # noqa: S311
# The default playbook gets a stable id per tenant, derived rather than stored.
_DEFAULT_ID_NAMESPACE = uuid.UUID("6f0c1d5e-9a43-4d8e-8f52-0b7a3c2e4d19")


@dataclass(frozen=True)
class Playbook:
    """A tenant's playbook at one version. Version 0 is the default, never published."""

    id: str
    tenant_id: str
    version: int
    name: str
    standards: tuple[Standard, ...]
    created_at: datetime | None


def default_playbook(tenant_id: str) -> Playbook:
    return Playbook(
        id=str(uuid.uuid5(_DEFAULT_ID_NAMESPACE, tenant_id)),
        tenant_id=tenant_id,
        version=0,
        name=DEFAULT_PLAYBOOK.name,
        standards=DEFAULT_PLAYBOOK.standards,
        created_at=None,
    )


def _published(row: PlaybookVersion, draft: PlaybookDraft | None = None) -> Playbook:
    draft = draft or draft_from_dict(json.loads(row.document))
    return Playbook(
        id=row.id,
        tenant_id=row.tenant_id,
        version=row.version,
        name=draft.name,
        standards=draft.standards,
        created_at=row.created_at,
    )


@dataclass(frozen=True)
class Delivered:
    """One interaction delivered by ingest, as the playbook keeps it."""

    tenant_id: str
    customer_id: str
    touch: Touch


@dataclass
class ReceiveResult:
    applied: int = 0
    duplicates: int = 0
    moved: int = 0


class InvalidSubscription(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class CustomerPlaybook:
    """What the playbook says of one customer now."""

    obligations: list[ObligationRow]
    violations: list[ViolationRow]
    next_best_actions: list[Action]
    # The standards that bind it now (by its type and stage; without scoring's view, the
    # ones that bind every customer), under the active version.
    standards: list[Standard]
    playbook_version: int
    # How many of its interactions the playbook had received, all of them judged, when it
    # began this answer; 0 when some were waiting to be judged (the answer may change).
    judged_interactions: int = 0


# At most this many customers judged and stored together; two parts are judged at a time
# (the worker asks for 1,000 due customers a pass), and fewer due are halved so that both
# run. Measured by replaying the next day of `bench/playbook_judge.py` on a copy of its
# database: parts of 250 (500 a pass) went through 3,670-3,767 interactions/s, 500 (1,000)
# 3,927-4,571, 1,000 (2,000) 3,851-4,042.
JUDGING_PART = 500


@dataclass(frozen=True)
class Published:
    """What a publish answered: the version, and whether this publish made it."""

    playbook: Playbook
    created: bool


@dataclass
class JudgeResult:
    judged: int = 0
    violations: int = 0
    withdrawn: int = 0
    by_tenant: dict[str, int] = field(default_factory=dict)


# The most versions one read lists (REST and gRPC); older ones are read by number.
MAX_LISTED_VERSIONS = 100


class PlaybookService:
    def __init__(self, db: Database, scoring: Scoring | None = None) -> None:
        self.db = db
        self.scoring = scoring
        # Published versions as parsed, by id: a version never changes once stored, and
        # parsing its document cost more than reading it.
        self._parsed: OrderedDict[str, Playbook] = OrderedDict()

    async def active_playbooks(self, tenant_ids: Sequence[str]) -> list[Playbook]:
        """The newest version of each tenant, once per tenant, in the order asked."""
        async with self.db.read() as session:
            return await self._active(PlaybookRepository(session), tenant_ids)

    async def _active(self, repo: PlaybookRepository, tenant_ids: Sequence[str]) -> list[Playbook]:
        wanted = list(dict.fromkeys(tenant_ids))
        newest = {row.tenant_id: row for row in await repo.latest(wanted)}
        return [
            self._parsed_version(newest[tenant_id])
            if tenant_id in newest
            else default_playbook(tenant_id)
            for tenant_id in wanted
        ]

    def _parsed_version(self, row: PlaybookVersion) -> Playbook:
        found = self._parsed.get(row.id)
        if found is None:
            found = self._parsed[row.id] = _published(row)
            if len(self._parsed) > PARSED_PLAYBOOKS:
                self._parsed.popitem(last=False)
        else:
            self._parsed.move_to_end(row.id)
        return found

    async def publish(
        self,
        tenant_id: str,
        draft: PlaybookDraft,
        relationship_types: Sequence[str] | None = None,
    ) -> Published:
        """Stores a valid draft as the tenant's next version; raises InvalidPlaybook if not.
        Its types are checked against `relationship_types` (as a caller that read the draft
        with them has them), else the tenant's (`relationship_types()`). A draft the same
        as the newest version (a CI job publishing the file of every commit) makes no new
        version: that one is answered, `created` false."""
        if relationship_types is None:
            relationship_types = await self.relationship_types(tenant_id)
        problems = validate(draft, relationship_types)
        if problems:
            raise InvalidPlaybook(problems)
        document = json.dumps(draft_to_dict(draft), ensure_ascii=False)
        attempt = 1
        while True:
            try:
                async with self.db.transaction() as session:
                    repo = PlaybookRepository(session)
                    newest = await repo.versions(tenant_id, newest=1)
                    if newest and newest[0].document == document:
                        return Published(_published(newest[0], draft), created=False)
                    row = PlaybookVersion(
                        tenant_id=tenant_id,
                        version=await repo.last_version(tenant_id) + 1,
                        name=draft.name,
                        document=document,
                    )
                    await repo.add(row)
                    # Everyone is judged again under the new version.
                    states = await repo.tenant_states(tenant_id)
                    await repo.mark_dirty({(tenant_id, s.customer_id): None for s in states})
                return Published(_published(row, draft), created=True)
            except IntegrityError:
                if attempt == _PUBLISH_ATTEMPTS:
                    raise
                attempt += 1
                log.info("a concurrent publish took the same version number; numbering again")

    async def relationship_types(self, tenant_id: str) -> tuple[str, ...]:
        """The type keys the tenant's standards may name: its types in scoring (renamed or
        added there). When scoring cannot say, the default ones and those its newest version
        names (accepted then), so a publish fails only for a type new since."""
        if self.scoring is not None:
            try:
                names = await self.scoring.relationship_types(tenant_id)
            except ScoringUnavailable as error:
                log.warning("checking a playbook without the tenant's types: %s", error)
            else:
                return tuple(type_key(name) for name in names)
        async with self.db.read() as session:
            newest = await PlaybookRepository(session).versions(tenant_id, newest=1)
        named = [
            t for row in newest for s in _published(row).standards for t in s.relationship_types
        ]
        return tuple(dict.fromkeys([*RELATIONSHIP_TYPES, *named]))

    async def versions(
        self, tenant_id: str, numbers: Collection[int] | None = None, newest: int | None = None
    ) -> list[Playbook]:
        """The tenant's versions, oldest first, the default as version 0 first: every one,
        those numbered (the tenant has), or the newest `newest`."""
        async with self.db.read() as session:
            rows = await PlaybookRepository(session).versions(tenant_id, numbers, newest)
        with_default = (numbers is None or 0 in numbers) and (newest is None or len(rows) < newest)
        default = [default_playbook(tenant_id)] if with_default else []
        return [*default, *(self._parsed_version(row) for row in rows)]

    async def version(self, tenant_id: str, version: int) -> Playbook | None:
        found = await self.versions(tenant_id, {version})
        return found[0] if found else None

    # The delivered stream

    async def receive(self, batch: Sequence[Delivered]) -> ReceiveResult:
        """Keeps each interaction not kept before, in one transaction, and marks its customer
        to be judged again. A known one under another customer (a merge) moves there."""
        result = ReceiveResult()
        async with self.db.transaction() as session:
            repo = PlaybookRepository(session)
            owners = await repo.touch_owners(d.touch.id for d in batch)
            rows: list[tuple[Any, ...]] = []
            # Per customer, the earliest moment its history changed; None: all of it.
            dirty: dict[tuple[str, str], datetime | None] = {}
            received: Counter[tuple[str, str]] = Counter()
            for item in batch:
                owner = owners.get(item.touch.id)
                customer = (item.tenant_id, item.customer_id)
                if owner == customer:
                    result.duplicates += 1
                    continue
                if owner is not None:
                    if owner[0] != item.tenant_id:  # never across tenants
                        result.duplicates += 1
                        continue
                    await repo.move_touch(item.touch.id, item.customer_id)
                    # A merge: both judged again over their whole history.
                    dirty[owner] = dirty[customer] = None
                    received[owner] -= 1
                    result.moved += 1
                else:
                    rows.append(_touch_row(item))
                    result.applied += 1
                    _changed(dirty, customer, item.touch.occurred_at)
                received[customer] += 1
                owners[item.touch.id] = customer
            await repo.add_touches(rows)
            await repo.mark_dirty(dirty, received)
        return result

    # Judging

    async def judge_due(self, limit: int = 500, now: datetime | None = None) -> JudgeResult:
        """Judges up to `limit` customers that have new interactions or a passed deadline,
        each under its tenant's active playbook and its standing from scoring (the last one
        known when scoring does not answer). One transaction per part
        (`JUDGING_PART`) of a tenant's due customers."""
        now = now or utcnow()
        result = JudgeResult()
        async with self.db.read() as session:
            due = await PlaybookRepository(session).due(now, limit)
        by_tenant: dict[str, list[DueCustomer]] = defaultdict(list)
        for state in due:
            by_tenant[state.tenant_id].append(state)
        parts = [
            (tenant_id, states[start : start + size])
            for tenant_id, states in by_tenant.items()
            for size in [_part_size(len(states))]
            for start in range(0, len(states), size)
        ]
        # On PostgreSQL two parts at a time, each with its own connection: one's statements
        # run in the server while the other's judging runs here (one at a time, half the
        # machine stood idle). Parts hold disjoint customers, each locking its own in key
        # order. SQLite has one writer at a time: one part at a time.
        running = asyncio.Semaphore(1 if self.db.sqlite else 2)

        async def judge(tenant_id: str, states: list[DueCustomer]) -> tuple[int, int]:
            async with running:
                return await self._judge_part(tenant_id, states, now)

        try:
            async with asyncio.TaskGroup() as group:  # one part failing stops the others
                tasks = [group.create_task(judge(t, states)) for t, states in parts]
        except ExceptionGroup as failed:  # as one part alone would have failed
            raise failed.exceptions[0] from failed
        for (tenant_id, states), task in zip(parts, tasks, strict=True):
            found, withdrawn = task.result()
            result.violations += found
            result.withdrawn += withdrawn
            result.judged += len(states)
            result.by_tenant[tenant_id] = result.by_tenant.get(tenant_id, 0) + len(states)
        return result

    async def _judge_part(
        self, tenant_id: str, states: list[DueCustomer], now: datetime
    ) -> tuple[int, int]:
        """Judges some of a tenant's due customers and stores their judgements in one
        transaction; returns (new violations, withdrawn ones)."""
        [playbook] = await self.active_playbooks([tenant_id])
        standings = await self._standings(tenant_id, states)
        cuts = {s.customer_id: _cut(s, standings[s.customer_id], playbook) for s in states}
        windows = {
            c: evaluation.window(playbook.standards, standings[c], cut, now)
            for c, cut in cuts.items()
        }
        async with self.db.read() as session:
            repo = PlaybookRepository(session)
            histories = await repo.histories(tenant_id, windows)
            picks = await repo.picks(tenant_id, list(cuts)) if _programs(playbook) else {}
        # The judging is CPU work: off the event loop, so reads keep being answered.
        judgements = await asyncio.to_thread(
            _judge_all, playbook.standards, standings, cuts, histories, picks, now
        )
        return await self._store_judgements(playbook, states, standings, judgements, now)

    async def _standings(
        self, tenant_id: str, states: Sequence[DueCustomer]
    ) -> dict[str, Standing]:
        known = {s.customer_id: _standing(s) for s in states}
        if self.scoring is None:
            return known
        try:
            outlooks = await self.scoring.outlooks(tenant_id, list(known))
        except ScoringUnavailable as error:
            log.warning("judging with the last known standings: %s", error)
            return known
        return {c: outlooks[c].standing if c in outlooks else known[c] for c in known}

    async def _store_judgements(
        self,
        playbook: Playbook,
        states: Sequence[DueCustomer],
        standings: dict[str, Standing],
        judgements: dict[str, Judgement],
        now: datetime,
    ) -> tuple[int, int]:
        """Stores the judgements of one tenant's customers in one transaction; returns (new
        violations, withdrawn ones)."""
        tenant_id = playbook.tenant_id
        standards = {s.key: s for s in playbook.standards}
        ids = [s.customer_id for s in states]
        obligations: list[dict[str, Any]] = []
        found: dict[str, tuple[str, evaluation.Violation]] = {}
        row_ids = iter(new_ids(sum(len(judgements[c].obligations) for c in ids)))
        for customer_id in ids:
            judgement = judgements[customer_id]
            obligations.extend(
                _obligation_row(
                    next(row_ids),
                    tenant_id,
                    customer_id,
                    o,
                    standards,
                    standings[customer_id],
                    playbook.version,
                )
                for o in judgement.obligations
            )
            for v in judgement.violations:
                found[_violation_id(tenant_id, customer_id, v)] = (customer_id, v)
        async with self.db.transaction() as session:
            repo = PlaybookRepository(session)
            await repo.replace_obligations(tenant_id, ids, obligations)
            existing = {v.id: v for v in await repo.customers_violations(tenant_id, ids)}
            fresh = [
                _violation_row(i, tenant_id, c, v, standards, playbook.version, now)
                for i, (c, v) in found.items()
                if i not in existing
            ]
            await repo.add_violations(fresh)
            events = [
                alerts.violation_event(i, tenant_id, c, v, now)
                for i, (c, v) in found.items()
                if i not in existing and v.due_at >= now - ALERT_HORIZON
            ]
            for customer_id in ids:
                events.extend(
                    alerts.approaching(
                        tenant_id, customer_id, judgements[customer_id].obligations, now
                    )
                )
            await self._publish(repo, events, now)
            restored = [i for i in found if i in existing and existing[i].withdrawn_at is not None]
            await repo.withdraw(restored, None, "")
            met = [
                v.id
                for v in existing.values()
                if v.id not in found
                and v.withdrawn_at is None
                and v.playbook_version == playbook.version
                and v.standard_key in judgements[v.customer_id].judged_from
                and _judged(v.due_at, judgements[v.customer_id].judged_from[v.standard_key])
            ]
            await repo.withdraw(
                met,
                now,
                "no longer found: interactions delivered late (or moved by a merge) show the "
                "standard kept",
            )
            # Those whose violation alert went out: said withdrawn, and the alert closed.
            raised = await repo.event_reasons(met)
            said = [
                alerts.withdrawn_event(i, tenant_id, existing[i].customer_id, raised[i], now)
                for i in sorted(raised)
            ]
            await self._publish(repo, said, now)
            await repo.close_alerts(sorted(raised), now, "playbook: the violation was withdrawn")
            await repo.save_states(
                tenant_id,
                [
                    {
                        "b_customer": s.customer_id,
                        "b_revision": s.revision,
                        "b_type": standings[s.customer_id].relationship_type,
                        "b_type_since": standings[s.customer_id].type_since,
                        "b_stage": standings[s.customer_id].stage,
                        "b_stage_since": standings[s.customer_id].stage_since,
                        "b_next_due": alerts.next_check_at(
                            judgements[s.customer_id].obligations, now
                        ),
                        "b_judged": now,
                        "b_version": playbook.version,
                    }
                    for s in states
                ],
            )
        return len(fresh), len(met)

    async def _publish(
        self, repo: PlaybookRepository, events: Sequence[alerts.Event], now: datetime
    ) -> int:
        """Keeps the events not seen before and queues a delivery of each to every active
        subscription of its tenant that wants its kind, in the caller's transaction (so an
        alert is sent if and only if what raised it is stored). Returns the new events."""
        if not events:
            return 0
        known = await repo.known_events([e.id for e in events])
        fresh = list({e.id: e for e in events if e.id not in known}.values())
        await repo.add_events([asdict(e) for e in fresh])
        subscriptions = await repo.active_subscriptions({e.tenant_id for e in fresh})
        deliveries = [
            {
                "id": new_id(),
                "tenant_id": e.tenant_id,
                "subscription_id": sub.id,
                "event_id": e.id,
                "kind": e.kind,
                "body": _event_body(e).decode(),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "last_status_code": None,
                "last_error": "",
                "created_at": now,
                "delivered_at": None,
            }
            for e in fresh
            for sub in subscriptions
            if sub.tenant_id == e.tenant_id and e.kind in sub.kinds
        ]
        await repo.add_deliveries(deliveries)
        return len(fresh)

    async def pull_scoring_alerts(self, page: int = 500, max_pages: int = 100) -> int:
        """Reads scoring's alert feed from where it stopped, a few minutes back (alerts may
        commit late; each is kept once by id), page by page, and queues their deliveries.
        Returns how many were new. The first read starts a day back: older alerts were not
        sent then."""
        scoring = self.scoring
        if scoring is None:
            return 0

        def read(since: datetime, last: alerts.Event | None) -> Awaitable[list[alerts.Event]]:
            return scoring.alert_feed(since, page, last.id if last else "")

        async def publish(found: list[alerts.Event]) -> int:
            events = [e for e in found if e.kind in alerts.SCORING_KINDS]
            async with self.db.transaction() as session:
                return await self._publish(PlaybookRepository(session), events, utcnow())

        first = utcnow() - timedelta(days=1)
        return await self._follow(
            SCORING_FEED, first, FEED_OVERLAP, read, _raised, publish, page, max_pages
        )

    async def _follow(
        self,
        source: str,
        first: datetime,
        back: timedelta,
        read: Callable[[datetime, _E | None], Awaitable[list[_E]]],
        moment: Callable[[_E], datetime],
        use: Callable[[list[_E]], Awaitable[int]],
        page: int,
        max_pages: int,
    ) -> int:
        """Reads one of scoring's feeds page by page from the cursor kept for `source` (from
        `first` the first time), `back` earlier each time, as a change may commit late;
        `use` takes each page and says how many counted. Moves the cursor to the latest
        moment read; a failed read leaves it where it was."""
        async with self.db.read() as session:
            cursor = await PlaybookRepository(session).cursor(source)
        since, last = (cursor or first) - back, None
        newest, counted = cursor, 0
        for _ in range(max_pages):
            found = await read(since, last)
            counted += await use(found)
            if found:
                last = found[-1]
                since = moment(last)
                newest = max(newest or since, since)
            if len(found) < page:
                break
        if newest is None or newest != cursor:  # nothing new: the cursor stays as it is
            async with self.db.transaction() as session:
                await PlaybookRepository(session).set_cursor(source, newest or since + back)
        return counted

    # Webhooks

    async def subscribe(
        self,
        tenant_id: str,
        url: str,
        kinds: Sequence[str],
        description: str = "",
        *,
        allow_private: bool = False,
    ) -> tuple[WebhookSubscription, str]:
        """A new subscription and its signing secret (shown this once); raises
        InvalidSubscription naming every problem."""
        problems = []
        if (reason := webhooks.check_url(url, allow_private=allow_private)) is not None:
            problems.append(f"url: {reason}")
        if not kinds:
            problems.append(f"kinds: at least one of {', '.join(alerts.ALERT_KINDS)}")
        for position, kind in enumerate(kinds):
            if kind not in alerts.ALERT_KINDS:
                problems.append(
                    f"kinds[{position}]: unknown kind {kind!r}; known: "
                    f"{', '.join(alerts.ALERT_KINDS)}"
                )
        if len(description) > 200:
            problems.append("description: at most 200 characters")
        if problems:
            raise InvalidSubscription(problems)
        secret = webhooks.new_secret()
        row = WebhookSubscription(
            tenant_id=tenant_id,
            url=url,
            kinds=list(dict.fromkeys(kinds)),
            secret=secret,
            description=description,
        )
        async with self.db.transaction() as session:
            repo = PlaybookRepository(session)
            if len(await repo.subscriptions(tenant_id)) >= MAX_SUBSCRIPTIONS:
                raise InvalidSubscription([f"at most {MAX_SUBSCRIPTIONS} subscriptions"])
            await repo.add_subscription(row)
        return row, secret

    async def subscriptions(self, tenant_id: str) -> list[WebhookSubscription]:
        async with self.db.read() as session:
            return await PlaybookRepository(session).subscriptions(tenant_id)

    async def unsubscribe(self, tenant_id: str, subscription_id: str) -> bool:
        async with self.db.transaction() as session:
            return await PlaybookRepository(session).deactivate_subscription(
                tenant_id, subscription_id
            )

    async def rotate_secret(
        self,
        tenant_id: str,
        subscription_id: str,
        overlap_hours: int = DEFAULT_OVERLAP_HOURS,
        now: datetime | None = None,
    ) -> tuple[WebhookSubscription, str] | None:
        """A new signing secret for the subscription (shown this once). For `overlap_hours`
        every delivery is signed with both the new and the old secret, so that the partner
        can switch at any moment of it; after that with the new one only. A rotation during
        an overlap replaces the newest secret: the one before it stops signing. None when
        the tenant has no such subscription; InvalidSubscription for an overlap outside
        0..168 hours."""
        if isinstance(overlap_hours, bool) or not 0 <= overlap_hours <= MAX_OVERLAP_HOURS:
            raise InvalidSubscription(
                [f"overlap_hours: must be 0..{MAX_OVERLAP_HOURS}, got {overlap_hours!r}"]
            )
        now = now or utcnow()
        secret = webhooks.new_secret()
        until = now + timedelta(hours=overlap_hours) if overlap_hours else None
        async with self.db.transaction() as session:
            row = await PlaybookRepository(session).rotate_secret(
                tenant_id, subscription_id, secret, until
            )
        return None if row is None else (row, secret)

    async def deliveries(
        self, tenant_id: str, subscription_id: str, status: str | None = None, limit: int = 100
    ) -> list[WebhookDelivery]:
        async with self.db.read() as session:
            return await PlaybookRepository(session).deliveries(
                tenant_id, subscription_id, status, limit
            )

    async def replay(self, tenant_id: str, delivery_id: str) -> bool:
        """Sends a delivery again, from the first attempt (a partner fixed its endpoint)."""
        async with self.db.transaction() as session:
            return await PlaybookRepository(session).replay(tenant_id, delivery_id, utcnow())

    async def send_webhooks(
        self, client: httpx.AsyncClient, limit: int = 100, now: datetime | None = None
    ) -> int:
        """Attempts every delivery whose time has come (ten at a time), records each attempt,
        and schedules a failed one again with backoff, until it gives up. Returns how many
        were attempted."""
        now = now or utcnow()
        async with self.db.read() as session:
            due = await PlaybookRepository(session).due_deliveries(now, limit)
        if not due:
            return 0
        gate = asyncio.Semaphore(10)

        async def attempt(row: Row[Any]) -> webhooks.Attempt:
            async with gate:
                return await webhooks.deliver(
                    client,
                    row.url,
                    _signing_secrets(row, now),
                    row.kind,
                    row.id,
                    row.body.encode(),
                    int(now.timestamp()),
                )

        attempts = await asyncio.gather(*(attempt(row) for row in due))
        async with self.db.transaction() as session:
            repo = PlaybookRepository(session)
            for row, result in zip(due, attempts, strict=True):
                made = row.attempts + 1
                retry = None if result.delivered else webhooks.next_attempt_at(made, now, _JITTER)
                await repo.record_attempt(
                    row.id,
                    {
                        "attempts": made,
                        "status": "delivered"
                        if result.delivered
                        else ("pending" if retry is not None else "failed"),
                        "next_attempt_at": retry,
                        "last_status_code": result.status_code,
                        "last_error": result.error[:500],
                        "delivered_at": now if result.delivered else None,
                    },
                )
        return len(due)

    async def next_due_at(self) -> datetime | None:
        async with self.db.read() as session:
            return await PlaybookRepository(session).next_due_at()

    async def refresh_standings(self) -> int:
        """Asks scoring where every customer stands; those whose type or stage moved are
        judged again. Returns how many moved."""
        if self.scoring is None:
            return 0
        moved = 0
        async with self.db.read() as session:
            tenants = await PlaybookRepository(session).tenants_judged()
        for tenant_id in tenants:
            try:
                states, outlooks = await self._everyone(tenant_id)
            except ScoringUnavailable as error:
                log.warning("standings not refreshed: %s", error)
                return moved
            kept = {s.customer_id: _standing(s) for s in states}
            placed = {c: outlook.standing for c, outlook in outlooks.items()}
            moved += await self._judge_again_where_moved(tenant_id, placed, kept)
        return moved

    async def pick_programs(self, now: datetime | None = None) -> int:
        """For every program standard (domain.Program) whose period has come (its first, or
        `every_days` after the last began): picks the customers scoring places in its scope
        that look most like the tenant's best (profit-improvement potential, then value),
        none picked the period before, and marks them to be judged, so that each is owed
        the program's touch. Returns how many were picked. Without scoring's answer nothing
        is picked; a period with no one to pick waits for the next pass."""
        if self.scoring is None:
            return 0
        now = now or utcnow()
        async with self.db.read() as session:
            tenants = await PlaybookRepository(session).tenants_judged()
        picked = 0
        for tenant_id, playbook in zip(tenants, await self.active_playbooks(tenants), strict=True):
            async with self.db.read() as session:
                last = await PlaybookRepository(session).last_picks(tenant_id)
            due = {
                s.key: (s, rule, began)
                for s, rule in _programs(playbook)
                if (began := _period_due(rule, last.get(s.key), now)) is not None
            }
            if not due:
                continue
            try:
                _, outlooks = await self._everyone(tenant_id)
            except ScoringUnavailable as error:
                log.warning("programs not picked: %s", error)
                return picked
            picks: list[ProgramPick] = []
            for key, (standard, rule, began) in due.items():
                before = last[key][1] if key in last else frozenset()
                candidates = sorted(
                    (
                        (c, o)
                        for c, o in outlooks.items()
                        if c not in before and evaluation.applies(standard, o.standing)
                    ),
                    key=lambda pair: (-(pair[1].potential or 0.0), -pair[1].value, pair[0]),
                )
                picks += [
                    ProgramPick(
                        tenant_id=tenant_id,
                        standard_key=key,
                        period_start=began,
                        customer_id=c,
                        potential=o.potential,
                        value=o.value,
                        reason=o.potential_reason[:500],
                    )
                    for c, o in candidates[: rule.pick]
                ]
            if not picks:
                continue
            try:
                async with self.db.transaction() as session:
                    repo = PlaybookRepository(session)
                    await repo.add_picks(picks)
                    await repo.mark_dirty({(tenant_id, p.customer_id): None for p in picks})
            except IntegrityError:  # another replica picked the same period first
                continue
            picked += len(picks)
        return picked

    async def program_picks(
        self, tenant_id: str, standard_key: str | None = None, limit: int = 100
    ) -> list[ProgramPick]:
        """Whom the tenant's programs picked, and why (potential, value, scoring's reason),
        the newest period first."""
        async with self.db.read() as session:
            return await PlaybookRepository(session).program_picks(tenant_id, standard_key, limit)

    async def _everyone(self, tenant_id: str) -> tuple[list[CustomerState], Mapping[str, Outlook]]:
        """Every customer the playbook keeps of the tenant, and scoring's view of each it
        knows; raises ScoringUnavailable."""
        assert self.scoring is not None
        async with self.db.read() as session:
            states = await PlaybookRepository(session).tenant_states(tenant_id)
        return states, await self.scoring.outlooks(tenant_id, [s.customer_id for s in states])

    async def _judge_again_where_moved(
        self, tenant_id: str, placed: Mapping[str, Standing], kept: Mapping[str, Standing]
    ) -> int:
        """Marks the customers kept whose standing scoring has `placed` elsewhere than the
        one they were judged with (`kept`), to be judged again whole; how many."""
        moved: dict[tuple[str, str], datetime | None] = {
            (tenant_id, c): None for c, was in kept.items() if c in placed and placed[c] != was
        }
        if moved:
            async with self.db.transaction() as session:
                await PlaybookRepository(session).mark_dirty(moved)
        return len(moved)

    async def follow_standings(self, page: int = 1000, max_pages: int = 100) -> int:
        """Reads scoring's feed of changed types and stages from where it stopped (a few
        seconds back, as a change may commit late), page by page; the customers the playbook
        keeps whose standing differs from the one they were judged with are judged again.
        Returns how many. Within seconds of scoring placing a customer, where the sweep
        (`refresh_standings`, which also catches changes from before the first read) takes
        up to `PLAYBOOK_STANDINGS_SECONDS`. Raises ScoringUnavailable; the cursor then
        stays where it was."""
        scoring = self.scoring
        if scoring is None:
            return 0

        def read(since: datetime, last: Placed | None) -> Awaitable[list[Placed]]:
            after = (last.tenant_id, last.customer_id) if last else ("", "")
            return scoring.standing_feed(since, page, after)

        async def mark_moved(found: list[Placed]) -> int:
            placed: dict[str, dict[str, Standing]] = defaultdict(dict)
            for change in found:
                placed[change.tenant_id][change.customer_id] = change.standing
            moved = 0
            for tenant_id, standings in placed.items():
                async with self.db.read() as session:
                    kept = await PlaybookRepository(session).standings(tenant_id, list(standings))
                moved += await self._judge_again_where_moved(tenant_id, standings, kept)
            return moved

        return await self._follow(
            STANDINGS_FEED,
            utcnow(),
            STANDINGS_LOOKBACK,
            read,
            _changed_at,
            mark_moved,
            page,
            max_pages,
        )

    async def signal_violations(self, limit: int = 500) -> int:
        """Hands scoring the violations it has not acknowledged yet in their present state:
        found (a negative signal) or withdrawn since (which takes the signal back); at least
        once, and scoring applies each state once. Returns how many were acknowledged.

        On PostgreSQL the violations being handed over stay locked until they are marked:
        another replica skips them, and judging waits to change their state, so that no
        replica can hand scoring an older state after another handed it a newer one. On
        SQLite (one process, one worker) nothing races, and no write lock is held while
        scoring answers."""
        if self.scoring is None:
            return 0
        if self.db.sqlite:
            async with self.db.read() as session:
                pending = await PlaybookRepository(session).unsignalled(limit)
            return await self._hand_over(self.scoring, pending, None)
        async with self.db.transaction() as session:
            pending = await PlaybookRepository(session).unsignalled(limit, claim=True)
            return await self._hand_over(self.scoring, pending, session)

    async def _hand_over(
        self, scoring: Scoring, pending: list[OwedSignal], claimed: AsyncSession | None
    ) -> int:
        """Signals `pending` to scoring and marks what it acknowledged, in the transaction
        that claimed them, or else in a transaction of its own."""
        if not pending:
            return 0
        await scoring.signal(pending)
        if claimed is not None:
            await PlaybookRepository(claimed).mark_signalled(pending, utcnow())
        else:
            async with self.db.transaction() as session:
                await PlaybookRepository(session).mark_signalled(pending, utcnow())
        return len(pending)

    # Reads

    async def obligations(
        self,
        tenant_id: str,
        *,
        customer_ids: Sequence[str] | None = None,
        team: str | None = None,
        limit: int = 100,
    ) -> list[ObligationRow]:
        async with self.db.read() as session:
            return await PlaybookRepository(session).obligations(
                tenant_id, customer_ids=customer_ids, team=team, limit=limit
            )

    async def alerts(
        self,
        tenant_id: str,
        *,
        kinds: Sequence[str] = (),
        customer_ids: Sequence[str] | None = None,
        open_only: bool = False,
        limit: int = 100,
        as_of: datetime | None = None,
    ) -> list[AlertEvent]:
        """The alerts the playbook published (its violations and approaching deadlines, and
        scoring's it relays), newest first: what the webhooks were sent, to read back.
        `open_only` leaves out the acknowledged ones (scoring's are acknowledged in
        scoring, so ask for the playbook's kinds to read only what is acknowledged here).
        As of a moment, those raised by then, each as it stood: one acknowledged later was
        open then (`open_only` keeps it) and shows no acknowledgement."""
        unknown = sorted(set(kinds) - set(alerts.ALERT_KINDS))
        if unknown:
            raise ValueError(
                f"unknown alert kinds {unknown}; known: {', '.join(alerts.ALERT_KINDS)}"
            )
        async with self.db.read() as session:
            found = await PlaybookRepository(session).events(
                tenant_id, kinds, customer_ids, open_only, limit, as_of
            )
        return found if as_of is None else [alert_as_it_stood(a, as_of) for a in found]

    async def alert_feed(
        self, since: datetime, limit: int = 500, after_id: str = ""
    ) -> list[AlertEvent]:
        """A page of the feed of every tenant's alerts the playbook raised (not scoring's it
        relays), in (raised, id) order from `since`, after `after_id` at `since` itself."""
        async with self.db.read() as session:
            return await PlaybookRepository(session).own_event_feed(since, limit, after_id)

    async def acknowledge(
        self, tenant_id: str, alert_id: str, who: str, now: datetime | None = None
    ) -> bool:
        """Acknowledges one of the playbook's own open alerts (a violation, a deadline
        approaching); False when the tenant has no such open alert."""
        async with self.db.transaction() as session:
            return await PlaybookRepository(session).acknowledge(
                tenant_id, alert_id, who, now or utcnow()
            )

    async def violations(
        self,
        tenant_id: str,
        *,
        customer_ids: Sequence[str] | None = None,
        team: str | None = None,
        since: datetime | None = None,
        include_withdrawn: bool = False,
        limit: int = 100,
        after: tuple[datetime, str] | None = None,
    ) -> list[ViolationRow]:
        async with self.db.read() as session:
            return await PlaybookRepository(session).violations(
                tenant_id,
                customer_ids=customer_ids,
                team=team,
                since=since,
                include_withdrawn=include_withdrawn,
                limit=limit,
                after=after,
            )

    async def customer_playbooks(
        self,
        tenant_id: str,
        customer_ids: Sequence[str],
        actions_limit: int = 10,
        now: datetime | None = None,
        outlooks: Mapping[str, Outlook] | None = None,
    ) -> dict[str, CustomerPlaybook]:
        """Per customer (in the order asked): its open obligations, its open violations
        (newest due first) and its next best actions, from the playbook and scoring's view
        (without scoring, from the playbook alone). A caller that holds scoring's view
        already passes it as `outlooks` (customers missing from it have none), and
        scoring is not asked again."""
        now = now or utcnow()
        wanted = list(dict.fromkeys(customer_ids))

        async def read() -> tuple[Playbook, Any, Any, dict[str, int], dict[str, Any]]:
            async with self.db.read() as session:
                repo = PlaybookRepository(session)
                # First: the obligations and violations read next are at least as new as
                # the judgements these counts were judged by.
                judged = await repo.judged_touches(tenant_id, wanted)
                [playbook] = await self._active(repo, [tenant_id])
                limit = 100 * len(wanted)
                owed = await repo.obligations(tenant_id, customer_ids=wanted, limit=limit)
                missed = await repo.violations(tenant_id, customer_ids=wanted, limit=limit)
                unusual = await repo.exceptions(tenant_id, wanted, now - actions.RECENT_VIOLATIONS)
                return playbook, owed, missed, judged, unusual

        async def views() -> Mapping[str, Outlook]:
            if outlooks is not None:
                return outlooks
            return await self._outlooks(tenant_id, wanted)

        # Scoring's view is asked while the playbook reads its own: the two waits overlap.
        ((playbook, owed, missed, judged, unusual), seen) = await asyncio.gather(read(), views())
        found = {
            c: CustomerPlaybook(
                [],
                [],
                [],
                _applicable(playbook.standards, seen.get(c)),
                playbook.version,
                judged.get(c, 0),
            )
            for c in wanted
        }
        for o in owed:
            found[o.customer_id].obligations.append(o)
        for v in missed:
            found[v.customer_id].violations.append(v)
        for c, view in found.items():
            view.next_best_actions.extend(
                actions.next_best_actions(
                    c,
                    seen.get(c),
                    [_owed(o) for o in view.obligations],
                    [Missed(v.standard_key, v.due_at, v.reason) for v in view.violations],
                    playbook.standards,
                    now,
                    actions_limit,
                    unusual.get(c, ()),
                )
            )
        return found

    async def next_best_actions(
        self,
        tenant_id: str,
        customer_ids: Sequence[str],
        limit: int = 10,
        now: datetime | None = None,
    ) -> dict[str, list[Action]]:
        """Each customer's actions, most urgent first (see `customer_playbooks`)."""
        found = await self.customer_playbooks(tenant_id, customer_ids, limit, now)
        return {c: view.next_best_actions for c, view in found.items()}

    async def worklist(
        self,
        tenant_id: str,
        *,
        team: str | None = None,
        employee: str | None = None,
        limit: int = 100,
        now: datetime | None = None,
    ) -> list[Action]:
        """A team's or an employee's open obligations across customers, ordered by urgency
        and then by the customer's value."""
        now = now or utcnow()
        [playbook] = await self.active_playbooks([tenant_id])
        async with self.db.read() as session:
            # Every open obligation's urgency from its two moments; then the whole rows of
            # those the worklist can hold once ranked by value.
            repo = PlaybookRepository(session)
            times = await repo.obligation_times(tenant_id, team=team, employee=employee)
            wanted = actions.worklist_candidates(times, now, limit)
            owed = await repo.obligations_by_id(tenant_id, wanted)
        outlooks = await self._outlooks(tenant_id, list({o.customer_id for o in owed}))
        return actions.worklist([_owed(o) for o in owed], outlooks, playbook.standards, now, limit)

    async def _outlooks(self, tenant_id: str, customer_ids: list[str]) -> dict[str, Outlook]:
        if self.scoring is None or not customer_ids:
            return {}
        try:
            return await self.scoring.outlooks(tenant_id, customer_ids)
        except ScoringUnavailable as error:
            log.warning("actions without scoring's view: %s", error)
            return {}


def _raised(event: alerts.Event) -> datetime:
    return event.occurred_at


def _changed_at(placed: Placed) -> datetime:
    return placed.changed_at


def _signing_secrets(row: Row[Any], now: datetime) -> list[str]:
    """The subscription's secret, and the one it replaced while their overlap lasts."""
    if (
        row.previous_secret
        and row.previous_secret_until is not None
        and now < row.previous_secret_until
    ):
        return [row.secret, row.previous_secret]
    return [row.secret]


def _event_body(event: alerts.Event) -> bytes:
    return webhooks.event_body(
        event.id,
        event.kind,
        event.tenant_id,
        event.occurred_at,
        {
            "customer_id": event.customer_id,
            "severity": event.severity,
            "reason": event.reason,
            "source": event.source,
        },
    )


_VIOLATION_NAMESPACE = uuid.UUID("0b9f6f5e-3c1a-4f7e-9a57-2f7d4c8e1b63")


def _part_size(due: int) -> int:
    """Parts of at most `JUDGING_PART` customers, at least two when there are two."""
    return max(1, min(JUDGING_PART, -(-due // 2)))


def _judge_all(
    standards: Sequence[Standard],
    standings: dict[str, Standing],
    cuts: dict[str, datetime | None],
    histories: dict[str, list[Touch]],
    picks: dict[str, dict[str, list[datetime]]],
    now: datetime,
) -> dict[str, Judgement]:
    return {
        customer_id: evaluation.judge(
            standards,
            standing,
            histories.get(customer_id, []),
            now,
            cuts[customer_id],
            picks.get(customer_id),
        )
        for customer_id, standing in standings.items()
    }


def _programs(playbook: Playbook) -> list[tuple[Standard, Program]]:
    return [(s, s.rule) for s in playbook.standards if isinstance(s.rule, Program)]


def _period_due(
    rule: Program, last: tuple[datetime, frozenset[str]] | None, now: datetime
) -> datetime | None:
    """When the program's period that is due to be picked began: the start of today (UTC)
    for its first, so that replicas picking at once agree on it and the key refuses the
    second; the latest begun period after the last one picked; None while that one lasts."""
    if last is None:
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    every = timedelta(days=rule.every_days)
    periods = (now - last[0]) // every
    return last[0] + periods * every if periods >= 1 else None


def _cut(state: DueCustomer, standing: Standing, playbook: Playbook) -> datetime | None:
    """Where the customer's judgement starts again: the earliest moment its history changed
    since it was last judged (or that judgement's moment), when what it was judged under
    is the same; None (its whole history) for a customer never judged, a merge, a new
    standing or playbook version. Earlier violations are kept as they were."""
    if (
        state.judged_at is None
        or state.playbook_version != playbook.version
        or _standing(state) != standing
    ):
        return None
    return state.changed_from


def _changed(
    changes: dict[tuple[str, str], datetime | None], key: tuple[str, str], at: datetime
) -> None:
    """Notes that the customer's history changed at `at` (None, all of it, stays)."""
    earliest = changes.get(key, at)
    if key not in changes or (earliest is not None and at < earliest):
        changes[key] = at


def _judged(due_at: datetime, start: datetime | None) -> bool:
    return start is None or due_at >= start


def _violation_id(tenant_id: str, customer_id: str, violation: evaluation.Violation) -> str:
    return uuid5(_VIOLATION_NAMESPACE, f"{tenant_id}|{customer_id}|{violation.key}")


def uuid5(namespace: uuid.UUID, name: str) -> str:
    """`str(uuid.uuid5(namespace, name))` without the UUID objects: every judgement derives
    the id of every violation it finds, and the standard library's way is most of that."""
    digest = bytearray(
        hashlib.sha1(namespace.bytes + name.encode(), usedforsecurity=False).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _touch_row(item: Delivered) -> tuple[Any, ...]:
    """The touch as `repository.TOUCH_COLUMNS`."""
    t = item.touch
    return (
        t.id,
        item.tenant_id,
        item.customer_id,
        t.occurred_at,
        t.channel,
        t.kind,
        t.direction,
        t.employee[:200],
        t.reference[:200],
        t.notice_days,
    )


def _applicable(standards: Sequence[Standard], outlook: Outlook | None) -> list[Standard]:
    standing = outlook.standing if outlook else Standing("", None, "", None)
    return [s for s in standards if evaluation.applies(s, standing)]


def _standing(state: CustomerState | DueCustomer) -> Standing:
    return Standing(state.relationship_type, state.type_since, state.stage, state.stage_since)


def _obligation_row(
    obligation_id: str,
    tenant_id: str,
    customer_id: str,
    o: evaluation.Obligation,
    standards: dict[str, Standard],
    standing: Standing,
    version: int,
) -> dict[str, Any]:
    standard = standards[o.standard_key]
    return {
        "id": obligation_id,
        "tenant_id": tenant_id,
        "customer_id": customer_id,
        "standard_key": o.standard_key,
        "standard_title": standard.title,
        "team": standard.team,
        "relationship_type": standing.relationship_type,
        "playbook_version": version,
        "due_at": o.due_at,
        "opened_at": o.opened_at,
        "trigger_id": o.trigger_id,
        "trigger_reference": o.trigger_reference[:200],
        "employee": o.employee[:200],
        "what": o.what[:500],
    }


def _violation_row(
    violation_id: str,
    tenant_id: str,
    customer_id: str,
    v: evaluation.Violation,
    standards: dict[str, Standard],
    version: int,
    now: datetime,
) -> dict[str, Any]:
    standard = standards[v.standard_key]
    return {
        "id": violation_id,
        "tenant_id": tenant_id,
        "customer_id": customer_id,
        "standard_key": v.standard_key,
        "standard_title": standard.title,
        "team": standard.team,
        "playbook_version": version,
        "due_at": v.due_at,
        "detected_at": now,
        "interaction_ids": list(v.interaction_ids),
        "employee": v.employee[:200],
        "reason": v.reason[:500],
        "withdrawn_at": None,
        "withdrawn_reason": "",
        "signalled_at": None,
    }


def _owed(row: ObligationRow) -> Owed:
    return Owed(
        row.customer_id, row.standard_key, row.due_at, row.opened_at, row.what, row.employee
    )
