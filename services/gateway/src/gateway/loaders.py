"""DataLoaders, built per request for one tenant: every field that needs a backing service
for many parents costs one batch RPC per level, never one per parent."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Protocol, TypeAlias, TypeVar, cast

from strawberry.dataloader import DataLoader

from gateway.backends import AlertMessage, Backends, CustomersFound, UpstreamError
from gateway.entity_cache import EntityCache, Kind
from relint.contracts.ingest.v1 import ingest_pb2
from relint.contracts.playbook.v1 import playbook_pb2
from relint.contracts.scoring.v1 import analysis_pb2, scoring_pb2

RecentKey = tuple[str, int]
# A customer by id or external id, and how many of its newest interactions to fetch with it
# (0: none): a query showing a customer with its latest activity makes one call, not two.
CustomerKey = tuple[str, int]
# A page of one customer's interactions: the query message, serialized (hashable, exact).
PageKey = bytes
EmployeesKey = tuple[str, int]
SimilarKey = tuple[str, int]


class LookalikeSource(Protocol):
    async def lookalikes_each(
        self, tenant_id: str, customer_ids: Sequence[str], limit: int
    ) -> analysis_pb2.BatchGetLookalikesResponse: ...


log = logging.getLogger(__name__)

RelationshipKey = tuple[str, datetime | None]
# A customer's alerts: (customer id, open only, as of); one call per (open only, as of).
AlertKey = tuple[str, bool, datetime | None]
# The playbook's view of a customer is fetched with this many actions; fields cut it.
ACTIONS_PER_CUSTOMER = 50
# Keys one batch call takes at most.
MAX_BATCH = 1000
# Alerts fetched for a page of customers at most; each customer shows its newest.
ALERTS_PER_BATCH = 1000


# A customer as the cache keeps it: with the newest interactions it was asked with.
CachedCustomer = tuple[ingest_pb2.Customer, list[ingest_pb2.Interaction]]
# A customer's playbook view, and the standards its answer named (by key).
CachedPlaybook = tuple[playbook_pb2.CustomerPlaybook, dict[str, playbook_pb2.Standard]]


K = TypeVar("K")
V = TypeVar("V")


class CacheFirst(DataLoader[K, V]):
    """A DataLoader that first asks the gateway's entity cache (`peek`) for a key it does
    not hold yet. A hit is its answer at once: awaiting it does not wait for the batch's
    turn of the event loop, and a customer-360 the cache holds whole goes through without
    waiting on a batch. Only the keys the cache lacks are batched."""

    def __init__(
        self,
        load_fn: Callable[[list[K]], Awaitable[Sequence[V]]],
        peek: Callable[[K], V | None],
    ) -> None:
        super().__init__(load_fn, max_batch_size=MAX_BATCH)
        self._peek = peek

    def load(self, key: K) -> Awaitable[V]:
        if self.cache_map.get(key) is None:
            hit = self._peek(key)
            if hit is not None:
                self.prime(key, hit)
        return super().load(key)


T = TypeVar("T")
# A resolver's answer: the value now, or an awaitable of it.
Ready: TypeAlias = T | Awaitable[T]


def ready(pending: Awaitable[V], then: Callable[[V], T]) -> Ready[T]:
    """`then` of a load's answer: at once if the loader has it already (the entity cache held
    it, or another field loaded it), else when it comes. A resolver that answers at once
    gives graphql-core nothing to await: the object's other fields are then not gathered as
    tasks of their own, and a customer-360 the cache holds goes through in one turn of the
    event loop."""
    if isinstance(pending, asyncio.Future) and pending.done() and not pending.cancelled():
        return then(pending.result())
    return _when_ready(pending, then)


async def _when_ready(pending: Awaitable[V], then: Callable[[V], T]) -> T:
    return then(await pending)


class Loaders:
    """One request's loaders. Customers, relationships (now) and playbook views are first
    looked up in the gateway's shared `EntityCache` (`CacheFirst`); only what it lacks is
    fetched."""

    def __init__(
        self,
        backends: Backends,
        tenant_id: str,
        analysis: LookalikeSource | None,
        cache: EntityCache,
        answered_partly: Callable[[UpstreamError, str, Sequence[str]], None] | None = None,
    ) -> None:
        """`answered_partly` hears of alerts answered without one service's part; without
        it, such an answer fails whole."""
        self._backends = backends
        self._answered_partly = answered_partly
        self._tenant_id = tenant_id
        self._analysis = analysis
        self._cache = cache
        # The standards customer_playbooks' answers name, by key.
        self.standards: dict[str, playbook_pb2.Standard] = {}

    # Each loader is made when a field first needs it: a query uses few of them.
    @cached_property
    def customers(self) -> DataLoader[str, ingest_pb2.Customer | None]:
        return CacheFirst(self._customers, lambda i: self._cached_customer(Kind.CUSTOMER, (i, 0)))

    @cached_property
    def customers_with_recent(self) -> DataLoader[CustomerKey, ingest_pb2.Customer | None]:
        return CacheFirst(self._with_recent, lambda k: self._cached_customer(Kind.CUSTOMER, k))

    @cached_property
    def customers_by_external_id(self) -> DataLoader[CustomerKey, ingest_pb2.Customer | None]:
        return CacheFirst(self._by_external_id, lambda k: self._cached_customer(Kind.EXTERNAL, k))

    @cached_property
    def relationships(self) -> DataLoader[RelationshipKey, scoring_pb2.Relationship | None]:
        return CacheFirst(self._relationships, self._cached_relationship)

    @cached_property
    def alerts(self) -> DataLoader[AlertKey, list[AlertMessage]]:
        return DataLoader(self._alerts, max_batch_size=MAX_BATCH)

    @cached_property
    def recent_interactions(self) -> DataLoader[RecentKey, list[ingest_pb2.Interaction]]:
        return DataLoader(self._recent, max_batch_size=MAX_BATCH)

    @cached_property
    def customer_playbooks(self) -> DataLoader[str, playbook_pb2.CustomerPlaybook | None]:
        return CacheFirst(self._fetch_playbooks, self._cached_playbook)

    @cached_property
    def interaction_pages(self) -> DataLoader[PageKey, ingest_pb2.InteractionPage]:
        return DataLoader(self._interaction_pages, max_batch_size=MAX_BATCH)

    @cached_property
    def employees(self) -> DataLoader[EmployeesKey, list[ingest_pb2.EmployeeInvolvement]]:
        return DataLoader(self._employees, max_batch_size=MAX_BATCH)

    @cached_property
    def similar_customers(self) -> DataLoader[SimilarKey, list[analysis_pb2.Lookalike]]:
        return DataLoader(self._similar_customers, max_batch_size=MAX_BATCH)

    def prime(self, customers: Sequence[ingest_pb2.Customer]) -> None:
        for customer in customers:
            self.customers.prime(customer.id, customer)

    async def _customers(self, ids: list[str]) -> list[ingest_pb2.Customer | None]:
        return await self._with_recent([(i, 0) for i in ids])

    async def _with_recent(self, keys: list[CustomerKey]) -> list[ingest_pb2.Customer | None]:
        return await self._found(keys, Kind.CUSTOMER, self._backends.customers_by_id)

    async def _by_external_id(self, keys: list[CustomerKey]) -> list[ingest_pb2.Customer | None]:
        return await self._found(keys, Kind.EXTERNAL, self._backends.customers_by_external_id)

    async def refresh(self, kinds: Mapping[Kind, set[Hashable]]) -> None:
        """Fetches these entries of the entity cache again, whatever it holds, and keeps
        the answers: customers and relationships first, then the playbook views, which
        are asked with the relationships."""
        ask: list[Awaitable[object]] = []
        if keys := kinds.get(Kind.CUSTOMER):
            ask.append(self._with_recent([cast(CustomerKey, k) for k in keys]))
        if keys := kinds.get(Kind.EXTERNAL):
            ask.append(self._by_external_id([cast(CustomerKey, k) for k in keys]))
        if keys := kinds.get(Kind.RELATIONSHIP):
            ask.append(self._relationships([(cast(str, k), None) for k in keys]))
        await asyncio.gather(*ask)
        if keys := kinds.get(Kind.PLAYBOOK):
            await self._fetch_playbooks([cast(str, k) for k in keys])

    # What the entity cache holds, each as its loader answers it (and primes from it).

    def _cached_customer(self, kind: Kind, key: CustomerKey) -> ingest_pb2.Customer | None:
        hit = self._cache.get(self._tenant_id, kind, key)
        if hit is None:
            return None
        customer, newest = cast(CachedCustomer, hit)
        self._prime_customer(customer, key[1], newest)
        return customer

    def _cached_relationship(self, key: RelationshipKey) -> scoring_pb2.Relationship | None:
        customer_id, as_of = key
        if as_of is not None:  # the cache keeps relationships now only
            return None
        return cast(
            scoring_pb2.Relationship | None,
            self._cache.get(self._tenant_id, Kind.RELATIONSHIP, customer_id),
        )

    def _cached_playbook(self, customer_id: str) -> playbook_pb2.CustomerPlaybook | None:
        hit = self._cache.get(self._tenant_id, Kind.PLAYBOOK, customer_id)
        if hit is None:
            return None
        playbook, standards = cast(CachedPlaybook, hit)
        self.standards.update(standards)
        return playbook

    # What the cache lacked, fetched a batch at a time and kept.

    async def _found(
        self,
        keys: list[CustomerKey],
        kind: Kind,
        fetch: Callable[[str, list[str], int], Awaitable[CustomersFound]],
    ) -> list[ingest_pb2.Customer | None]:
        """The customers by the reference `fetch` takes (one call per number of newest
        interactions asked with them), each also primed for the customers loader, and their
        newest interactions (an empty list for a customer without any) primed for the
        recent_interactions loader."""
        cache, tenant_id = self._cache, self._tenant_id
        found: dict[CustomerKey, ingest_pb2.Customer] = {}
        for recent, references in _grouped(keys).items():
            asked_at = cache.now()
            reply = await fetch(tenant_id, references, recent)
            by_customer: dict[str, list[ingest_pb2.Interaction]] = defaultdict(list)
            for item in reply.recent_interactions:
                by_customer[item.customer_id].append(item)
            for customer in reply.customers:
                newest = by_customer[customer.id]
                self._prime_customer(customer, recent, newest)
                entry = (customer, newest)
                # Kept by id too: `customer(id:)` and `node` may ask for it next.
                cache.put(
                    tenant_id, Kind.CUSTOMER, (customer.id, recent), entry, customer.id, asked_at
                )
                if kind is Kind.EXTERNAL:
                    key = (customer.external_id, recent)
                    cache.put(tenant_id, kind, key, entry, customer.id, asked_at)
                else:
                    key = (customer.id, recent)
                found[key] = customer
        return [found.get(key) for key in keys]

    def _prime_customer(
        self, customer: ingest_pb2.Customer, recent: int, newest: list[ingest_pb2.Interaction]
    ) -> None:
        self.customers.prime(customer.id, customer)
        if recent:
            self.recent_interactions.prime((customer.id, recent), newest)

    async def _relationships(
        self, keys: list[RelationshipKey]
    ) -> list[scoring_pb2.Relationship | None]:
        # One call per distinct as_of in the batch; a query normally asks for one.
        cache, tenant_id = self._cache, self._tenant_id
        found: dict[RelationshipKey, scoring_pb2.Relationship] = {}
        grouped: dict[datetime | None, list[str]] = defaultdict(list)
        for customer_id, as_of in keys:
            grouped[as_of].append(customer_id)
        for as_of, ids in grouped.items():
            asked_at = cache.now()
            for r in await self._backends.relationships_of(tenant_id, ids, as_of):
                found[(r.customer_id, as_of)] = r
                if as_of is None:
                    cache.put(
                        tenant_id,
                        Kind.RELATIONSHIP,
                        r.customer_id,
                        r,
                        r.customer_id,
                        asked_at,
                        interactions=r.interaction_count,
                    )
        return [found.get(key) for key in keys]

    async def _alerts(self, keys: list[AlertKey]) -> list[list[AlertMessage]]:
        grouped: dict[tuple[bool, datetime | None], list[str]] = defaultdict(list)
        for customer_id, open_only, as_of in keys:
            grouped[(open_only, as_of)].append(customer_id)
        found: dict[AlertKey, list[AlertMessage]] = defaultdict(list)
        for (open_only, as_of), ids in grouped.items():
            alerts, missing = await self._backends.alerts(
                self._tenant_id, ids, open_only, ALERTS_PER_BATCH, as_of
            )
            if missing is not None:
                if self._answered_partly is None:
                    raise missing
                self._answered_partly(missing, "customers' alerts", ids)
            for alert in alerts:
                found[(alert.customer_id, open_only, as_of)].append(alert)
        return [found[key] for key in keys]

    async def _recent(self, keys: list[RecentKey]) -> list[list[ingest_pb2.Interaction]]:
        found: dict[RecentKey, list[ingest_pb2.Interaction]] = defaultdict(list)
        for limit, ids in _grouped(keys).items():
            for item in await self._backends.recent_interactions(self._tenant_id, ids, limit):
                found[(item.customer_id, limit)].append(item)
        return [found[key] for key in keys]

    async def _fetch_playbooks(self, ids: list[str]) -> list[playbook_pb2.CustomerPlaybook | None]:
        # Scoring's view of the customers goes along, through the relationships loader: the
        # query's own relationship fields share that one call, and the playbook need not
        # ask scoring again. If scoring fails, the playbook asks it itself (and answers
        # from the playbook alone if it still fails).
        outlooks: list[playbook_pb2.CustomerOutlook] | None
        asked_at = self._cache.now()
        try:
            relationships = await self.relationships.load_many([(i, None) for i in ids])
            outlooks = [outlook_message(r) for r in relationships if r is not None]
        except UpstreamError:
            outlooks = None
        found = await self._backends.customer_playbooks(
            self._tenant_id, ids, ACTIONS_PER_CUSTOMER, outlooks
        )
        standards = {s.key: s for s in found.standards}
        self.standards.update(standards)
        for playbook in found.customers:
            self._cache.put(
                self._tenant_id,
                Kind.PLAYBOOK,
                playbook.customer_id,
                (playbook, standards),
                playbook.customer_id,
                asked_at,
                interactions=playbook.judged_interactions or None,
            )
        by_id = {c.customer_id: c for c in found.customers}
        return [by_id.get(i) for i in ids]

    async def _interaction_pages(self, keys: list[PageKey]) -> list[ingest_pb2.InteractionPage]:
        queries = [ingest_pb2.InteractionQuery.FromString(key) for key in keys]
        return await self._backends.interaction_pages(self._tenant_id, queries)

    async def _employees(
        self, keys: list[EmployeesKey]
    ) -> list[list[ingest_pb2.EmployeeInvolvement]]:
        grouped: dict[int, list[str]] = defaultdict(list)
        for customer_id, limit in keys:
            grouped[limit].append(customer_id)
        found: dict[EmployeesKey, list[ingest_pb2.EmployeeInvolvement]] = defaultdict(list)
        for limit, ids in grouped.items():
            for item in await self._backends.employees_of(self._tenant_id, ids, limit):
                found[(item.customer_id, limit)].append(item)
        return [found[key] for key in keys]

    async def _similar_customers(
        self, keys: list[SimilarKey]
    ) -> list[list[analysis_pb2.Lookalike]]:
        # One call per distinct limit in the batch: scoring builds the profiles once for all.
        assert self._analysis is not None, "similarCustomers checks for analysis first"
        grouped: dict[int, list[str]] = defaultdict(list)
        for customer_id, limit in keys:
            grouped[limit].append(customer_id)
        found: dict[SimilarKey, list[analysis_pb2.Lookalike]] = {}
        for limit, ids in grouped.items():
            reply = await self._analysis.lookalikes_each(self._tenant_id, ids, limit)
            for result in reply.results:
                found[(result.customer_id, limit)] = list(result.lookalikes)
        return [found.get(key, []) for key in keys]


def outlook_message(r: scoring_pb2.Relationship) -> playbook_pb2.CustomerOutlook:
    """Scoring's view of a customer, as the playbook reads it."""
    message = playbook_pb2.CustomerOutlook(
        customer_id=r.customer_id,
        relationship_type=r.relationship_type,
        stage=r.stage,
        value=r.value,
        risk=r.risk,
        risk_reasons=r.risk_reasons,
        potential_reason=r.potential_reason,
    )
    for name in ("type_since", "stage_since"):
        if r.HasField(name):
            getattr(message, name).CopyFrom(getattr(r, name))
    if r.HasField("potential"):
        message.potential = r.potential
    return message


def _grouped(keys: Sequence[tuple[str, int]]) -> dict[int, list[str]]:
    """The keys' references (customer ids, external ids) by their number (of newest
    interactions): one call per number, and a query normally asks for one."""
    grouped: dict[int, list[str]] = defaultdict(list)
    for reference, recent in keys:
        grouped[recent].append(reference)
    return grouped


class Refresher:
    """Fetches again, in the background, what the entity cache served stale (the cache's
    `on_stale`): a request is answered from the cache at once, and the next one finds the
    fresh answer. Stale answers of a tenant gathered in one turn of the event loop go in
    one batch call a kind; a key being fetched is not asked for again meanwhile."""

    def __init__(self, backends: Backends, cache: EntityCache) -> None:
        self._backends = backends
        self._cache = cache
        self._wanted: dict[str, dict[Kind, set[Hashable]]] = {}
        self._asked: set[tuple[str, Kind, Hashable]] = set()
        self._task: asyncio.Task[None] | None = None

    def __call__(self, tenant_id: str, kind: Kind, key: Hashable) -> None:
        if (tenant_id, kind, key) in self._asked:
            return
        self._asked.add((tenant_id, kind, key))
        self._wanted.setdefault(tenant_id, {}).setdefault(kind, set()).add(key)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="cache-refresh")

    async def _run(self) -> None:
        try:
            while self._wanted:
                wanted, self._wanted = self._wanted, {}
                await asyncio.gather(*(self._refresh(t, kinds) for t, kinds in wanted.items()))
        finally:
            self._task = None

    async def _refresh(self, tenant_id: str, kinds: dict[Kind, set[Hashable]]) -> None:
        try:
            await Loaders(self._backends, tenant_id, None, self._cache).refresh(kinds)
        except Exception:  # the stale answers expire; a request then fetches and says why
            log.warning("could not refresh the entity cache for a tenant", exc_info=True)
        finally:
            self._asked.difference_update(
                (tenant_id, kind, key) for kind, keys in kinds.items() for key in keys
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
