"""DataLoaders, built per request for one tenant: every field that needs a backing service
for many parents costs one batch RPC per level, never one per parent."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from gateway.backends import Backends
from relint.contracts.ingest.v1 import ingest_pb2
from relint.contracts.scoring.v1 import scoring_pb2

RecentKey = tuple[str, int]


class Loaders:
    def __init__(self, backends: Backends, tenant_id: str) -> None:
        self._backends = backends
        self._tenant_id = tenant_id
        self.customers = DataLoader(self._customers, max_batch_size=1000)
        self.customers_by_external_id = DataLoader(self._by_external_id, max_batch_size=1000)
        self.relationships = DataLoader(self._relationships, max_batch_size=1000)
        self.recent_interactions = DataLoader(self._recent, max_batch_size=1000)

    def prime(self, customers: Sequence[ingest_pb2.Customer]) -> None:
        for customer in customers:
            self.customers.prime(customer.id, customer)

    async def _customers(self, ids: list[str]) -> list[ingest_pb2.Customer | None]:
        found = await self._backends.customers_by_id(self._tenant_id, ids)
        by_id = {c.id: c for c in found}
        return [by_id.get(i) for i in ids]

    async def _by_external_id(self, refs: list[str]) -> list[ingest_pb2.Customer | None]:
        found = await self._backends.customers_by_external_id(self._tenant_id, refs)
        self.prime(found)
        by_ref = {c.external_id: c for c in found}
        return [by_ref.get(r) for r in refs]

    async def _relationships(self, ids: list[str]) -> list[scoring_pb2.Relationship | None]:
        found = await self._backends.relationships_of(self._tenant_id, ids)
        by_id = {r.customer_id: r for r in found}
        return [by_id.get(i) for i in ids]

    async def _recent(self, keys: list[RecentKey]) -> list[list[ingest_pb2.Interaction]]:
        # One call per distinct limit in the batch; a query normally asks for one.
        grouped: dict[int, list[str]] = defaultdict(list)
        for customer_id, limit in keys:
            grouped[limit].append(customer_id)
        found: dict[RecentKey, list[ingest_pb2.Interaction]] = defaultdict(list)
        for limit, ids in grouped.items():
            for item in await self._backends.recent_interactions(self._tenant_id, ids, limit):
                found[(item.customer_id, limit)].append(item)
        return [found[key] for key in keys]
