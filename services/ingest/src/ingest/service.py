"""Ingest's use cases: accept interactions with their outbox in one transaction, manage
tenants and keys, answer identity queries, and hand the outbox to the relay."""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple

from prometheus_client import Counter
from sqlalchemy.exc import IntegrityError

from ingest import domain, identity
from ingest.group_commit import GroupCommit
from ingest.identity import ContactUpdate
from ingest.models import (
    ApiKey,
    Contact,
    Customer,
    CustomerIdentifier,
    CustomerMerge,
    KindMapping,
    ParkedOutboxEntry,
    Partner,
    Tenant,
)
from ingest.repository import (
    CustomerActivity,
    CustomerSnapshot,
    IngestRepository,
    InteractionFilter,
)
from ingest.schemas import FieldError, InteractionIn, ItemResult
from relint.auth import KeyCache, Principal
from relint.db import Database, new_id, new_ids, utcnow
from relint.errors import WriteContention
from relint.taxonomy import is_canonical
from relint.telemetry import current_traceparent

log = logging.getLogger(__name__)

# A concurrent writer may create the same customer or store the same source id between our
# read and our insert; the unique constraint catches it and the whole batch is judged again,
# after a short random pause. If they still collide, the request is answered 503 (retry).
_WRITE_ATTEMPTS = 5
_CONTENTION_PAUSE_SECONDS = 0.01

# (outbox sequence, the interaction as a row with Interaction's columns by name)
Send = Callable[[list[tuple[int, Any]]], Awaitable[None]]

OUTBOX_PARKED = Counter(
    "relint_outbox_parked_total",
    "Outbox entries a subscriber refused for good, set aside (see `ingest outbox`).",
    ["subscriber"],
)


class Undeliverable(Exception):
    """What `Send` raises for a batch its subscriber will never take as it is (it refused it
    as invalid, or a message of it cannot be built): retried, it would stall the stream."""


async def _isolating(
    send: Send, batch: list[tuple[int, Any]]
) -> tuple[list[int], list[tuple[int, Any, str]]]:
    """Sends the batch; an `Undeliverable` one in halves, down to the entries at fault.
    (The sequences delivered, in order; the entries refused with why.) Any other failure
    is raised: the batch is retried whole (the subscribers apply idempotently)."""
    try:
        await send(batch)
    except Undeliverable as error:
        if len(batch) == 1:
            [(sequence, row)] = batch
            return [], [(sequence, row, str(error))]
        half = len(batch) // 2
        first, first_refused = await _isolating(send, batch[:half])
        rest, rest_refused = await _isolating(send, batch[half:])
        return first + rest, first_refused + rest_refused
    return [sequence for sequence, _ in batch], []


class InvalidKindMappings(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class TenantKey:
    tenant_id: str
    partner_id: str
    api_key: str
    scopes: list[str]
    lookup_id: str = ""


@dataclass(frozen=True)
class CustomerProfile:
    """A customer with every name it is known by and the merges that made it."""

    customer: Customer
    identifiers: list[CustomerIdentifier]
    contacts: list[Contact]
    merged_from: list[CustomerMerge]
    asked_for: str


class Conflict(ValueError):
    """The request contradicts what is stored (a name taken, a partner removed)."""


@dataclass(frozen=True)
class TenantInfo:
    id: str
    name: str
    email_domains: list[str]
    created_at: datetime
    partners: int = 0
    active_keys: int = 0


@dataclass(frozen=True)
class PartnerInfo:
    id: str
    name: str
    created_at: datetime
    removed_at: datetime | None
    active_keys: int


class MergeRefused(ValueError):
    """A merge that cannot be done, with the reason."""


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown of a key after it was issued: never the key itself."""

    lookup_id: str
    partner: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class IngestService:
    def __init__(
        self,
        db: Database,
        *,
        key_pepper: str,
        subscribers: Sequence[str],
        on_accepted: Callable[[], None] = lambda: None,
        key_cache_seconds: float = 0.0,
    ) -> None:
        self.db = db
        self._pepper = key_pepper
        # This process forgets a revoked key at once; other replicas within the TTL.
        self._keys = KeyCache(key_cache_seconds)
        self._group_commit = GroupCommit(
            lambda tenant_id, items, traces: self.store(
                tenant_id, items, (), traces, compare_repeats=True
            )
        )
        # One batch of a tenant stored at a time in this process (`record`); a tenant's lock
        # goes when no call holds or waits for it.
        self._storing: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self.subscribers = list(subscribers)
        self._on_accepted = on_accepted

    # Interactions

    async def record(
        self,
        tenant_id: str,
        items: Sequence[tuple[int, InteractionIn]],
        updates: Sequence[ContactUpdate] = (),
        traceparents: Mapping[int, str] | None = None,
        *,
        compare_repeats: bool = False,
    ) -> list[ItemResult]:
        """`store`, one call of a tenant at a time in this process. Batches sent together
        that name the same new customers or contacts would collide on their unique keys, and
        each loser is judged again whole (1,000 items of work for one customer): at four in
        flight, a tenant's first load spent a third of its time judging batches again, and
        some failed after every attempt. Apart, the next batch sees what the last one wrote.
        Single interactions (`record_one`) are short and go together instead (group commit);
        other replicas' writes are still met by `store`'s retries."""
        turn = self._storing.get(tenant_id)
        if turn is None:
            turn = self._storing[tenant_id] = asyncio.Lock()
        async with turn:
            return await self.store(
                tenant_id, items, updates, traceparents, compare_repeats=compare_repeats
            )

    async def store(
        self,
        tenant_id: str,
        items: Sequence[tuple[int, InteractionIn]],
        updates: Sequence[ContactUpdate] = (),
        traceparents: Mapping[int, str] | None = None,
        *,
        compare_repeats: bool = False,
    ) -> list[ItemResult]:
        """Stores the items not seen before, with one outbox entry per subscriber, and applies
        the contact updates (first, in order), all in one transaction. Each item carries the
        trace it was sent in (by index), else the current one. A write that collides with a
        concurrent one on a unique key is judged again, up to `_WRITE_ATTEMPTS` times. With
        `compare_repeats` (for callers that tell the sender: the API's answers, an import's
        report), each duplicate names the fields in which it differs from its original
        (`differs_in`)."""
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                async with self.db.transaction() as session:
                    repo = IngestRepository(session)
                    results = await self._record(
                        repo, tenant_id, items, updates, traceparents or {}, compare_repeats
                    )
                break
            except IntegrityError as error:
                if attempt == _WRITE_ATTEMPTS:
                    raise WriteContention(str(error.orig)) from error
                log.info("concurrent write on the same keys; judging the batch again")
                # Apart, so that writers that collided do not collide again at once.
                pause = random.uniform(0, _CONTENTION_PAUSE_SECONDS * attempt)  # noqa: S311
                await asyncio.sleep(pause)
        if any(r.status == "accepted" for r in results):
            self._on_accepted()
        return results

    async def record_one(self, tenant_id: str, item: InteractionIn) -> ItemResult:
        """One interaction; concurrent ones of the tenant share a transaction (group commit).
        A repeat answers as its original did; the same source id for another interaction is
        rejected, naming what differs (a stored interaction is never changed)."""
        result = await self._group_commit.submit(tenant_id, item)
        if result.status != "duplicate":
            return result
        if result.differs_in:
            problem = FieldError(
                path="source_id",
                message=f"{item.source_id!r} of source {item.source!r} was already used for "
                f"interaction {result.id}, which differs in {', '.join(result.differs_in)}; "
                "a stored interaction is never changed: send a change as a new interaction "
                "under a new source_id (or Idempotency-Key)",
            )
            return ItemResult(index=result.index, status="rejected", errors=[problem])
        return result

    async def _record(
        self,
        repo: IngestRepository,
        tenant_id: str,
        items: Sequence[tuple[int, InteractionIn]],
        updates: Sequence[ContactUpdate],
        traceparents: Mapping[int, str],
        compare_repeats: bool,
    ) -> list[ItemResult]:
        received_at = utcnow()
        traceparent = current_traceparent()
        results: dict[int, ItemResult] = {}
        items = await self._map_kinds(repo, tenant_id, items, results)
        existing = await repo.existing_source_ids(
            tenant_id, [(i.source, i.source_id) for _, i in items if i.source_id]
        )
        fresh: list[tuple[int, str, InteractionIn, identity.Names]] = []
        repeats: list[tuple[ItemResult, InteractionIn]] = []
        ids = iter(new_ids(len(items)))
        for index, item in items:
            key = (item.source, item.source_id) if item.source_id else None
            if key and key in existing:
                original, customer_id = existing[key]
                results[index] = ItemResult(
                    index=index, status="duplicate", id=original, customer_id=customer_id or None
                )
                repeats.append((results[index], item))
                continue
            interaction_id = next(ids)
            if key:
                existing[key] = (interaction_id, "")  # its customer is known once resolved
            fresh.append((index, interaction_id, item, _names(item)))
            results[index] = ItemResult(index=index, status="accepted", id=interaction_id)
        if repeats and compare_repeats:
            await _tell_differences(repo, tenant_id, repeats, {i: item for _, i, item, _ in fresh})
        if not fresh and not updates:
            return [results[index] for index in sorted(results)]
        book, known = await self._identity_book(
            repo, tenant_id, [n for *_, n in fresh] + [n for u in updates for n in u.names()]
        )
        for update in updates:
            update.apply(book)
        resolved: list[tuple[str, str | None, str, InteractionIn]] = []
        trace_of: dict[str, str] = {}
        refused: dict[str, ItemResult] = {}
        for index, interaction_id, item, names in fresh:
            try:
                customer_id, contact_id = book.resolve(names)
            except identity.UnknownCustomer as error:
                problem = FieldError(path="customer.id", message=str(error))
                results[index] = ItemResult(index=index, status="rejected", errors=[problem])
                refused[interaction_id] = results[index]
                continue
            resolved.append((customer_id, contact_id, interaction_id, item))
            trace_of[interaction_id] = traceparents.get(index, traceparent)
        for index, result in results.items():  # a repeat of a refused item is refused too
            if result.status == "duplicate" and result.id in refused:
                results[index] = refused[result.id].model_copy(update={"index": index})
        # Later items may have merged the account an earlier one resolved to.
        resolved = [(book.survivor(c), p, i, item) for c, p, i, item in resolved]
        result_of = {r.id: r for r in results.values() if r.status == "accepted"}
        for customer_id, _, interaction_id, _ in resolved:
            if (accepted := result_of.get(interaction_id)) is not None:
                accepted.customer_id = customer_id
        for result in results.values():  # a repeat within the batch: its original's customer
            if result.status == "duplicate" and result.customer_id is None:
                first = result_of.get(result.id)
                result.customer_id = first.customer_id if first is not None else None
        activity = {c: _Activity(item.occurred_at, item.occurred_at) for c, _, _, item in resolved}
        for customer_id, _, _, item in resolved:
            activity[customer_id].add(item.occurred_at)
        moved, spans = await _write_identities(repo, tenant_id, book, known, activity, received_at)
        # Subscribers see each batch in time order, so per-customer order holds within it.
        resolved.sort(key=lambda entry: entry[3].occurred_at)
        await repo.insert_interactions(
            [
                _interaction_row(i, tenant_id, c, p, item, received_at, trace_of[i])
                for c, p, i, item in resolved
            ]
        )
        await repo.insert_outbox(
            self.subscribers, [*moved, *(i for _, _, i, _ in resolved)], received_at
        )
        # Last, so that concurrent batches naming the same customers wait for each other's
        # row locks only for the commit, not for the inserts.
        await repo.update_customers_activity(spans)
        return [results[index] for index in sorted(results)]

    async def _identity_book(
        self, repo: IngestRepository, tenant_id: str, names: Sequence[identity.Names]
    ) -> tuple[identity.IdentityBook, dict[str, CustomerSnapshot]]:
        """What the database knows of these identifiers, in a few queries for the batch: the
        book to resolve with, and the customer rows it was built from."""
        pairs = {pair for n in names for pair in n.identifiers()}
        emails = {e for n in names for e in (*n.emails, n.contact_email) if e}
        users = {n.contact_external_id for n in names if n.contact_external_id}
        owners = await repo.identifier_owners(tenant_id, pairs) if pairs else {}
        contacts = await repo.contacts_matching(tenant_id, emails, users) if emails or users else []
        # The tenant's own domains matter only to items that name a mail domain.
        wanted = any(n.account_domain for n in names)
        own_domains = await repo.tenant_domains(tenant_id) if wanted else frozenset()
        customers = await repo.customer_snapshots(
            tenant_id,
            {n.customer_id for n in names if n.customer_id}
            | set(owners.values())
            | {c.customer_id for c in contacts if c.customer_id},
            {n.external_id for n in names if n.external_id},
        )
        book = identity.IdentityBook(
            accounts={
                c.id: identity.Account(c.id, c.external_id, c.name, c.merged_into_id)
                for c in customers.values()
            },
            identifiers=owners,
            contacts=[
                identity.Person(
                    c.id, c.customer_id, c.email, c.external_id, c.name, traits=dict(c.traits or {})
                )
                for c in contacts
            ],
            new_id=new_id,
            own_domains=own_domains,
        )
        return book, customers

    async def _map_kinds(
        self,
        repo: IngestRepository,
        tenant_id: str,
        items: Sequence[tuple[int, InteractionIn]],
        results: dict[int, ItemResult],
    ) -> list[tuple[int, InteractionIn]]:
        """The items with the tenant's own kinds mapped onto the taxonomy (the original kept
        as attributes.source_kind); an item whose kind is neither is rejected into results."""
        mapping: domain.KindMap | None = None
        mapped: list[tuple[int, InteractionIn]] = []
        for index, item in items:
            if not is_canonical(item.channel, item.kind) and mapping is None:
                rows = await repo.kind_mappings(tenant_id)
                mapping = {(m.channel, m.source_kind): m.kind for m in rows}
            kind, problem = domain.mapped_kind(item.channel, item.kind, mapping or {})
            if kind is None:
                error = FieldError(path="kind", message=problem or "unknown kind")
                results[index] = ItemResult(index=index, status="rejected", errors=[error])
            elif kind != item.kind:
                attributes = {**item.attributes, "source_kind": item.kind}
                mapped.append(
                    (index, item.model_copy(update={"kind": kind, "attributes": attributes}))
                )
            else:
                mapped.append((index, item))
        return mapped

    async def kind_mappings(self, tenant_id: str) -> list[tuple[str, str, str]]:
        async with self.db.read() as session:
            rows = await IngestRepository(session).kind_mappings(tenant_id)
        return [(m.channel, m.source_kind, m.kind) for m in rows]

    async def replace_kind_mappings(
        self, tenant_id: str, entries: list[tuple[str, str, str]]
    ) -> None:
        """Replaces the tenant's whole mapping table at once, or raises with every problem."""
        problems = domain.mapping_errors(entries)
        if problems:
            raise InvalidKindMappings(problems)
        async with self.db.transaction() as session:
            await IngestRepository(session).replace_kind_mappings(
                tenant_id,
                [
                    KindMapping(tenant_id=tenant_id, channel=c, source_kind=s, kind=k)
                    for c, s, k in entries
                ],
            )

    # Delivery

    async def deliver_next(self, subscriber: str, send: Send, limit: int) -> int:
        """Sends the oldest undelivered entries of one subscriber; removes them once acknowledged.

        Returns how many were delivered. On PostgreSQL an advisory lock makes one relay per
        subscriber lead across replicas, so per-customer order survives scaling out. A batch
        `send` finds `Undeliverable` is halved until the entries at fault are found; those
        are parked (`outbox_parked`, see `replay_parked`), the others delivered in order.
        """
        if self.db.sqlite:
            async with self.db.read() as session:
                batch = await IngestRepository(session).pending(subscriber, limit)
            if not batch:
                return 0
            delivered, refused = await _isolating(send, batch)
            async with self.db.transaction() as session:
                repo = IngestRepository(session)
                await repo.acknowledge(subscriber, delivered)
                await self._park(repo, subscriber, refused)
            return len(delivered)
        async with self.db.transaction() as session:
            repo = IngestRepository(session)
            if not await repo.try_lead_relay(subscriber):
                return 0
            batch = await repo.pending(subscriber, limit)
            if not batch:
                return 0
            delivered, refused = await _isolating(send, batch)
            await repo.acknowledge(subscriber, delivered)
            await self._park(repo, subscriber, refused)
            return len(delivered)

    async def _park(
        self, repo: IngestRepository, subscriber: str, refused: list[tuple[int, Any, str]]
    ) -> None:
        for sequence, row, reason in refused:
            log.error(
                "parked outbox entry %s (interaction %s) for %s: %s; the stream goes on, "
                "`ingest outbox replay` sends it again",
                sequence,
                row.id,
                subscriber,
                reason,
            )
        OUTBOX_PARKED.labels(subscriber).inc(len(refused))
        await repo.park(subscriber, refused)

    async def parked(self, subscriber: str | None = None) -> list[ParkedOutboxEntry]:
        async with self.db.read() as session:
            return await IngestRepository(session).parked(subscriber)

    async def replay_parked(self, subscriber: str | None = None) -> int:
        """Puts the parked entries (of one subscriber, or all) back in the outbox, in their
        place in the order, once what refused them is fixed; returns how many."""
        async with self.db.transaction() as session:
            repo = IngestRepository(session)
            entries = await repo.parked(subscriber)
            await repo.unpark(entries)
        return len(entries)

    async def backlog(self) -> dict[str, int]:
        async with self.db.read() as session:
            return await IngestRepository(session).backlog()

    # Identity reads

    async def customers_by_id(self, tenant_id: str, ids: Sequence[str]) -> list[Customer]:
        return (await self.customers_with_recent(tenant_id, ids=ids)).customers

    async def customers_by_external_id(
        self, tenant_id: str, external_ids: Sequence[str]
    ) -> list[Customer]:
        found = await self.customers_with_recent(tenant_id, external_ids=external_ids)
        return found.customers

    async def customers_with_recent(
        self,
        tenant_id: str,
        *,
        ids: Sequence[str] = (),
        external_ids: Sequence[str] = (),
        recent: int = 0,
    ) -> CustomersFound:
        """The tenant's customers with these ids and external ids, each with its `recent`
        newest interactions (none for 0), read in one session."""
        async with self.db.read() as session:
            repo = IngestRepository(session)
            customers = await repo.customers_by_id(tenant_id, ids) if ids else []
            if external_ids:
                by_ref = await repo.customers_by_external_id(tenant_id, external_ids)
                customers += by_ref.values()
            if not recent or not customers:
                return CustomersFound(customers, [])
            rows = await repo.recent_interactions(tenant_id, [c.id for c in customers], recent)
            return CustomersFound(customers, rows)

    async def customer_profile(self, tenant_id: str, customer_id: str) -> CustomerProfile | None:
        """The customer (the survivor, if it was merged) with identifiers, contacts, merges."""
        async with self.db.read() as session:
            repo = IngestRepository(session)
            found = await repo.customers_for_identity(tenant_id, [customer_id], [])
            asked = found.get(customer_id)
            if asked is None:
                return None
            customer = found[asked.merged_into_id] if asked.merged_into_id else asked
            return CustomerProfile(
                customer=customer,
                identifiers=await repo.identifiers_of([customer.id]),
                contacts=await repo.contacts_of([customer.id]),
                merged_from=await repo.merges_into(tenant_id, [customer.id]),
                asked_for=customer_id,
            )

    async def merge_customers(
        self, tenant_id: str, merged_id: str, into_id: str, reason: str
    ) -> CustomerMerge:
        """Merges one customer into another on request: its interactions, contacts and
        identifiers move, subscribers are told again, and the merge is recorded."""
        if merged_id == into_id:
            raise MergeRefused("a customer cannot be merged into itself")
        now = utcnow()
        async with self.db.transaction() as session:
            repo = IngestRepository(session)
            found = await repo.customers_for_identity(tenant_id, [merged_id, into_id], [])
            for label, wanted in (("customer", merged_id), ("into", into_id)):
                if wanted not in found:
                    raise LookupError(f"{label}: no customer with id {wanted!r}")
                if found[wanted].merged_into_id:
                    survivor = found[wanted].merged_into_id
                    raise MergeRefused(f"{label}: {wanted} was already merged into {survivor}")
            merged, into = found[merged_id], found[into_id]
            # Read before the merge: its UPDATEs also refresh these loaded rows.
            combined = CustomerActivity(
                into_id,
                min(into.first_seen_at, merged.first_seen_at),
                max(into.last_seen_at, merged.last_seen_at),
                merged.interaction_count,
                None,
            )
            moved = await repo.merge_customer(tenant_id, merged_id, into_id, reason, now)
            await repo.update_customers_activity([combined])
            await repo.insert_outbox(self.subscribers, moved, now)
            [record] = [
                m for m in await repo.merges_into(tenant_id, [into_id]) if m.merged_id == merged_id
            ]
        if moved:
            self._on_accepted()
        return record

    async def merges(self, tenant_id: str, limit: int) -> list[CustomerMerge]:
        async with self.db.read() as session:
            return await IngestRepository(session).list_merges(tenant_id, limit)

    async def list_customers(
        self, tenant_id: str, after_id: str, limit: int, search: str = ""
    ) -> list[Customer]:
        """The tenant's customers in id order, those whose name or external id contains
        `search` (any case) when given."""
        async with self.db.read() as session:
            return await IngestRepository(session).list_customers(
                tenant_id, after_id, limit, search
            )

    async def recent_interactions(
        self, tenant_id: str, customer_ids: Sequence[str], per_customer: int
    ) -> list[Any]:
        """Rows with Interaction's columns by name (see the repository)."""
        async with self.db.read() as session:
            return await IngestRepository(session).recent_interactions(
                tenant_id, customer_ids, per_customer
            )

    async def interaction_pages(
        self, tenant_id: str, queries: Sequence[InteractionFilter], page_size: Sequence[int]
    ) -> list[list[Any]]:
        """A page for each query (one more than its size, so the caller sees if more follow),
        of rows with Interaction's columns by name."""
        async with self.db.read() as session:
            repository = IngestRepository(session)
            return [
                await repository.interaction_page(tenant_id, query, size + 1)
                for query, size in zip(queries, page_size, strict=True)
            ]

    async def employees_of(
        self, tenant_id: str, customer_ids: Sequence[str], per_customer: int
    ) -> list[tuple[str, str, int, datetime, datetime]]:
        """The employees involved with each customer, busiest first, `per_customer` each."""
        async with self.db.read() as session:
            rows = await IngestRepository(session).employees_of(tenant_id, customer_ids)
        shown: dict[str, int] = {}
        kept = []
        for row in rows:
            if shown.get(row[0], 0) < per_customer:
                shown[row[0]] = shown.get(row[0], 0) + 1
                kept.append(row)
        return kept

    # Tenants and keys

    async def tenant_id(self, name: str) -> str | None:
        async with self.db.read() as session:
            tenant = await IngestRepository(session).tenant_by_name(name)
        return tenant.id if tenant else None

    async def create_tenant(self, name: str, email_domains: Sequence[str] = ()) -> TenantInfo:
        domains = domain.validate_domains(email_domains)
        async with self.db.transaction() as session:
            repo = IngestRepository(session)
            if await repo.tenant_by_name(name) is not None:
                raise Conflict(f"a tenant named {name!r} exists")
            tenant = Tenant(name=name, email_domains=domains)
            await repo.add(tenant)
            return _tenant_info(tenant)

    async def tenants(self) -> list[TenantInfo]:
        async with self.db.read() as session:
            rows = await IngestRepository(session).tenants()
        return [_tenant_info(t, partners, keys) for t, partners, keys in rows]

    async def tenant(self, tenant_id: str) -> TenantInfo | None:
        async with self.db.read() as session:
            tenant = await IngestRepository(session).tenant_by_id(tenant_id)
        return _tenant_info(tenant) if tenant else None

    async def update_tenant(
        self, tenant_id: str, name: str | None = None, email_domains: Sequence[str] | None = None
    ) -> TenantInfo:
        domains = domain.validate_domains(email_domains) if email_domains is not None else None
        async with self.db.transaction() as session:
            repo = IngestRepository(session)
            tenant = await repo.tenant_by_id(tenant_id)
            if tenant is None:
                raise LookupError(f"no tenant {tenant_id}")
            if name is not None and name != tenant.name:
                if await repo.tenant_by_name(name) is not None:
                    raise Conflict(f"a tenant named {name!r} exists")
                tenant.name = name
            if domains is not None:
                tenant.email_domains = domains
            await session.flush()
            return _tenant_info(tenant)

    async def partners(self, tenant_id: str) -> list[PartnerInfo]:
        async with self.db.read() as session:
            rows = await IngestRepository(session).partners_of(tenant_id)
        return [PartnerInfo(p.id, p.name, p.created_at, p.removed_at, keys) for p, keys in rows]

    async def add_partner(self, tenant_id: str, name: str) -> PartnerInfo:
        async with self.db.transaction() as session:
            repo = IngestRepository(session)
            if await repo.partner_by_name(tenant_id, name) is not None:
                raise Conflict(f"a partner named {name!r} exists")
            partner = Partner(tenant_id=tenant_id, name=name)
            await repo.add(partner)
            return PartnerInfo(partner.id, partner.name, partner.created_at, None, 0)

    async def remove_partner(self, tenant_id: str, partner_id: str) -> bool:
        """Revokes every key of the partner at once; it can be issued no new ones."""
        async with self.db.transaction() as session:
            removed = await IngestRepository(session).remove_partner(
                tenant_id, partner_id, utcnow()
            )
        self._keys.forget(lambda principal: principal.partner_id == partner_id)
        return removed

    async def create_tenant_key(
        self, tenant_name: str, partner_name: str, scopes: list[str]
    ) -> TenantKey:
        """Creates the tenant and partner if new, and issues the partner a new key."""
        scopes = domain.validate_scopes(scopes)
        async with self.db.transaction() as session:
            repo = IngestRepository(session)
            tenant = await repo.tenant_by_name(tenant_name)
            if tenant is None:
                tenant = Tenant(name=tenant_name)
                await repo.add(tenant)
            partner = await repo.partner_by_name(tenant.id, partner_name)
            if partner is None:
                partner = Partner(tenant_id=tenant.id, name=partner_name)
                await repo.add(partner)
            if partner.removed_at is not None:
                raise Conflict(f"partner {partner_name!r} was removed; it gets no new keys")
            return await self._add_key(repo, tenant.id, partner.id, scopes)

    async def _add_key(
        self, repo: IngestRepository, tenant_id: str, partner_id: str, scopes: list[str]
    ) -> TenantKey:
        issued = domain.issue_key(self._pepper)
        await repo.add(
            ApiKey(
                lookup_id=issued.lookup_id,
                secret_hash=issued.secret_hash,
                tenant_id=tenant_id,
                partner_id=partner_id,
                scopes=" ".join(scopes),
            )
        )
        return TenantKey(tenant_id, partner_id, issued.raw, scopes, issued.lookup_id)

    async def issue_key(self, tenant_id: str, partner_name: str, scopes: list[str]) -> TenantKey:
        """A new key for a partner of an existing tenant (the partner is created if new)."""
        scopes = domain.validate_scopes(scopes)
        async with self.db.transaction() as session:
            repo = IngestRepository(session)
            partner = await repo.partner_by_name(tenant_id, partner_name)
            if partner is None:
                partner = Partner(tenant_id=tenant_id, name=partner_name)
                await repo.add(partner)
            if partner.removed_at is not None:
                raise Conflict(f"partner {partner_name!r} was removed; it gets no new keys")
            return await self._add_key(repo, tenant_id, partner.id, scopes)

    async def rotate_key(self, lookup_id: str, tenant_id: str | None = None) -> TenantKey | None:
        """A new key with the same partner and scopes; the old one stays valid until revoked,
        so a partner can switch without a gap. None if no such active key (in the tenant)."""
        async with self.db.transaction() as session:
            repo = IngestRepository(session)
            old = await repo.key_by_lookup_id(lookup_id)
            if old is None or old.revoked_at is not None:
                return None
            if tenant_id is not None and old.tenant_id != tenant_id:
                return None
            return await self._add_key(repo, old.tenant_id, old.partner_id, old.scopes.split())

    async def keys(self, tenant_id: str) -> list[KeyInfo]:
        async with self.db.read() as session:
            rows = await IngestRepository(session).keys_of_tenant(tenant_id)
        return [
            KeyInfo(k.lookup_id, partner, k.scopes.split(), k.created_at, k.revoked_at)
            for k, partner in rows
        ]

    async def revoke_key(self, lookup_id: str, tenant_id: str | None = None) -> bool:
        """Revokes an active key; with a tenant, only a key of that tenant."""
        async with self.db.transaction() as session:
            revoked = await IngestRepository(session).revoke_key(lookup_id, utcnow(), tenant_id)
        self._keys.forget(lambda principal: principal.key_id == lookup_id)
        return revoked

    async def verify(self, raw_key: str) -> Principal | None:
        return await self._keys.get_or_verify(raw_key, self._verify)

    async def _verify(self, raw_key: str) -> Principal | None:
        parsed = domain.parse_key(raw_key)
        if parsed is None:
            return None
        lookup_id, secret = parsed
        async with self.db.read() as session:
            key = await IngestRepository(session).key_by_lookup_id(lookup_id)
        if key is None or key.revoked_at is not None:
            return None
        if not domain.secret_matches(secret, key.secret_hash, self._pepper):
            return None
        return Principal(
            key.tenant_id, key.partner_id, frozenset(key.scopes.split()), key.lookup_id
        )


class CustomersFound(NamedTuple):
    customers: list[Customer]
    # Rows with Interaction's columns by name, by customer, newest first within each.
    recent_interactions: list[Any]


@dataclass
class _Activity:
    """A customer's span and count of interactions within one write."""

    first: datetime
    last: datetime
    count: int = 0

    def add(self, at: datetime) -> None:
        self.first, self.last, self.count = min(self.first, at), max(self.last, at), self.count + 1

    def absorb(self, row: CustomerSnapshot) -> None:
        self.first = min(self.first, row.first_seen_at)
        self.last = max(self.last, row.last_seen_at)
        self.count += row.interaction_count


def _tenant_info(tenant: Tenant, partners: int = 0, keys: int = 0) -> TenantInfo:
    return TenantInfo(
        tenant.id, tenant.name, list(tenant.email_domains or []), tenant.created_at, partners, keys
    )


def _names(item: InteractionIn) -> identity.Names:
    ref, contact = item.customer, item.contact
    return identity.names_of(
        customer_id=ref.id if ref else None,
        external_id=ref.external_id if ref else None,
        name=ref.name if ref else None,
        ids=ref.ids.items() if ref else (),
        emails=[ref.email] if ref and ref.email else [],
        domain=ref.domain if ref else None,
        contact_email=contact.email if contact else None,
        contact_external_id=contact.external_id if contact else None,
        contact_name=contact.name if contact else None,
    )


async def _write_identities(
    repo: IngestRepository,
    tenant_id: str,
    book: identity.IdentityBook,
    known: dict[str, CustomerSnapshot],
    activity: dict[str, _Activity],
    now: datetime,
) -> tuple[list[str], list[CustomerActivity]]:
    """Writes what the book recorded, in foreign-key order. Returns the ids of interactions
    that merges moved to another customer, so that subscribers are told again, and the
    known customers' new spans of activity, for the caller to write last."""
    for merge in book.merges:  # a merged account's history goes to its survivor
        row = known.get(merge.merged_id)
        if row is not None:
            survivor = book.survivor(merge.merged_id)
            activity.setdefault(survivor, _Activity(row.first_seen_at, row.last_seen_at))
            activity[survivor].absorb(row)
    new_accounts = book.new_accounts()
    await repo.insert_customers(
        [
            {
                "id": a.id,
                "tenant_id": tenant_id,
                "external_id": a.external_id,
                "name": a.name,
                "created_at": now,
                "first_seen_at": activity[a.id].first if a.id in activity else now,
                "last_seen_at": activity[a.id].last if a.id in activity else now,
                "interaction_count": activity[a.id].count if a.id in activity else 0,
            }
            for a in new_accounts
        ]
    )
    await repo.set_external_ids(book.adopted)
    moved: list[str] = []
    for merge in book.merges:
        moved += await repo.merge_customer(
            tenant_id, merge.merged_id, merge.into_id, merge.reason, now
        )
    await repo.insert_identifiers(
        [
            {
                "id": new_id(),
                "tenant_id": tenant_id,
                "scheme": scheme,
                "value": value,
                "customer_id": book.survivor(customer),
                "created_at": now,
            }
            for scheme, value, customer in book.links
        ]
    )
    await repo.insert_contacts(
        [
            {
                "id": p.id,
                "tenant_id": tenant_id,
                "customer_id": book.survivor(p.customer_id) if p.customer_id else None,
                "email": p.email,
                "external_id": p.external_id,
                "name": p.name,
                "traits": p.traits,
                "created_at": now,
                "updated_at": now,
            }
            for p in book.new_contacts()
        ]
    )
    for p in book.changed_contacts():
        await repo.update_contact(
            p.id,
            {
                "customer_id": book.survivor(p.customer_id) if p.customer_id else None,
                "email": p.email,
                "external_id": p.external_id,
                "name": p.name,
                "traits": p.traits,
                "updated_at": now,
            },
        )
    updates = []
    for customer_id, account in book.accounts.items():
        row = known.get(customer_id)
        if row is None or account.merged_into is not None:
            continue
        renamed = account.name if account.name and account.name != row.name else None
        span = activity.get(customer_id)
        if span is None and renamed is None:
            continue
        first = min(span.first, row.first_seen_at) if span else row.first_seen_at
        last = max(span.last, row.last_seen_at) if span else row.last_seen_at
        updates.append(
            CustomerActivity(customer_id, first, last, span.count if span else 0, renamed)
        )
    return moved, updates


def _content(item: InteractionIn) -> dict[str, Any]:
    """What an interaction says, as stored: what a repeat under its source id is compared
    on (not how it named its customer, nor when it arrived)."""
    return {
        "occurred_at": item.occurred_at,
        "channel": item.channel,
        "kind": item.kind,
        "direction": item.direction,
        "sentiment": item.sentiment,
        "amount_micros": domain.to_micros(item.amount) if item.amount is not None else None,
        "amount_type": item.amount_type,
        "currency": item.currency,
        "employee": item.employee,
        "text": item.text,
        "attributes": item.attributes,
    }


# The request's name for a stored column, where they differ.
_FIELD_OF: Final = {"amount_micros": "amount"}


async def _tell_differences(
    repo: IngestRepository,
    tenant_id: str,
    repeats: Sequence[tuple[ItemResult, InteractionIn]],
    fresh: Mapping[str, InteractionIn],
) -> None:
    """Names, on each duplicate, the fields in which it differs from its original (stored
    before, or earlier in the batch): the original stands unchanged, and the sender should
    know that its edit was not taken. One query for the stored originals."""
    said = [(result, _content(item)) for result, item in repeats]
    stored = await repo.interaction_contents(
        tenant_id,
        [r.id for r, _ in repeats if r.id is not None and r.id not in fresh],
        list(said[0][1]),
    )
    for result, mine in said:
        earlier = fresh.get(result.id or "")
        original = _content(earlier) if earlier is not None else stored.get(result.id or "")
        if original is None:
            continue
        differs = [_FIELD_OF.get(k, k) for k, v in mine.items() if original[k] != v]
        result.differs_in = differs or None


def _interaction_row(
    interaction_id: str,
    tenant_id: str,
    customer_id: str,
    contact_id: str | None,
    item: InteractionIn,
    received_at: datetime,
    traceparent: str,
) -> dict[str, Any]:
    return {
        "id": interaction_id,
        "tenant_id": tenant_id,
        "customer_id": customer_id,
        "contact_id": contact_id,
        **_content(item),
        "source": item.source,
        "source_id": item.source_id,
        "received_at": received_at,
        "traceparent": traceparent,
    }
