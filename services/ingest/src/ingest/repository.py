"""Every SQL query of the ingest service, and nothing else."""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from ingest.models import (
    ApiKey,
    Contact,
    Customer,
    CustomerIdentifier,
    CustomerMerge,
    Interaction,
    KindMapping,
    OutboxEntry,
    ParkedOutboxEntry,
    Partner,
    Tenant,
)
from relint.db import (
    bulk_insert,
    driver_of,
    pg_array,
    pg_delete_each,
    pg_execute,
    pg_fetch,
    pg_lock_each,
    table_of,
)


@dataclass(frozen=True)
class InteractionFilter:
    """Which of one customer's interactions a page shows; `before` is the cursor
    (occurred_at, id) of the last one already shown."""

    customer_id: str
    channels: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    employee: str = ""
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    before: tuple[datetime, str] | None = None


@dataclass(frozen=True)
class CustomerSnapshot:
    """What accepting interactions needs of a stored customer, read without the ORM."""

    id: str
    external_id: str | None
    name: str
    merged_into_id: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    interaction_count: int


@dataclass(frozen=True)
class CustomerActivity:
    id: str
    first: datetime
    last: datetime
    added: int
    name: str | None


class IngestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # Tenants, partners, keys

    async def tenant_by_name(self, name: str) -> Tenant | None:
        return (
            await self.session.execute(select(Tenant).where(col(Tenant.name) == name))
        ).scalar_one_or_none()

    async def partner_by_name(self, tenant_id: str, name: str) -> Partner | None:
        query = select(Partner).where(
            col(Partner.tenant_id) == tenant_id, col(Partner.name) == name
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def tenant_by_id(self, tenant_id: str) -> Tenant | None:
        return await self.session.get(Tenant, tenant_id)

    async def tenants(self) -> list[tuple[Tenant, int, int]]:
        """Every tenant with its number of partners and of active keys."""
        partners = (
            select(func.count())
            .where(col(Partner.tenant_id) == col(Tenant.id), col(Partner.removed_at).is_(None))
            .scalar_subquery()
        )
        keys = (
            select(func.count())
            .where(col(ApiKey.tenant_id) == col(Tenant.id), col(ApiKey.revoked_at).is_(None))
            .scalar_subquery()
        )
        query = select(Tenant, partners, keys).order_by(col(Tenant.name))
        return [(t, int(p), int(k)) for t, p, k in (await self.session.execute(query)).all()]

    async def partners_of(self, tenant_id: str) -> list[tuple[Partner, int]]:
        """The tenant's partners by name, each with its number of active keys."""
        keys = (
            select(func.count())
            .where(col(ApiKey.partner_id) == col(Partner.id), col(ApiKey.revoked_at).is_(None))
            .scalar_subquery()
        )
        query = (
            select(Partner, keys)
            .where(col(Partner.tenant_id) == tenant_id)
            .order_by(col(Partner.name))
        )
        return [(p, int(k)) for p, k in (await self.session.execute(query)).all()]

    async def remove_partner(self, tenant_id: str, partner_id: str, at: datetime) -> bool:
        result = await self.session.execute(
            update(Partner)
            .where(
                col(Partner.id) == partner_id,
                col(Partner.tenant_id) == tenant_id,
                col(Partner.removed_at).is_(None),
            )
            .values(removed_at=at)
        )
        if not getattr(result, "rowcount", 0):
            return False
        await self.session.execute(
            update(ApiKey)
            .where(col(ApiKey.partner_id) == partner_id, col(ApiKey.revoked_at).is_(None))
            .values(revoked_at=at)
        )
        return True

    async def add(self, *rows: Any) -> None:
        self.session.add_all(rows)
        await self.session.flush()

    async def key_by_lookup_id(self, lookup_id: str) -> ApiKey | None:
        query = select(ApiKey).where(col(ApiKey.lookup_id) == lookup_id)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def revoke_key(self, lookup_id: str, at: datetime, tenant_id: str | None = None) -> bool:
        conditions = [col(ApiKey.lookup_id) == lookup_id, col(ApiKey.revoked_at).is_(None)]
        if tenant_id is not None:
            conditions.append(col(ApiKey.tenant_id) == tenant_id)
        result = await self.session.execute(update(ApiKey).where(*conditions).values(revoked_at=at))
        return bool(getattr(result, "rowcount", 0))

    async def keys_of_tenant(self, tenant_id: str) -> list[tuple[ApiKey, str]]:
        """Every key of the tenant, newest first, with its partner's name."""
        query = (
            select(ApiKey, col(Partner.name))
            .join(Partner, col(Partner.id) == col(ApiKey.partner_id))
            .where(col(ApiKey.tenant_id) == tenant_id)
            .order_by(col(ApiKey.created_at).desc(), col(ApiKey.lookup_id))
        )
        return [(key, name) for key, name in (await self.session.execute(query)).all()]

    async def kind_mappings(self, tenant_id: str) -> list[KindMapping]:
        query = (
            select(KindMapping)
            .where(col(KindMapping.tenant_id) == tenant_id)
            .order_by(col(KindMapping.channel), col(KindMapping.source_kind))
        )
        return list((await self.session.execute(query)).scalars())

    async def replace_kind_mappings(self, tenant_id: str, rows: Sequence[KindMapping]) -> None:
        await self.session.execute(
            delete(KindMapping).where(col(KindMapping.tenant_id) == tenant_id)
        )
        await self.add(*rows)

    # Customers

    async def customers_by_external_id(
        self, tenant_id: str, external_ids: Iterable[str]
    ) -> dict[str, Customer]:
        """By external id; a merged customer's id gives the customer it was merged into."""
        found = await self.customers_for_identity(tenant_id, (), external_ids)
        return {
            c.external_id: found[c.merged_into_id] if c.merged_into_id else c
            for c in found.values()
            if c.external_id
        }

    async def customers_by_id(self, tenant_id: str, ids: Iterable[str]) -> list[Customer]:
        wanted = list(set(ids))
        if not wanted:
            return []
        query = select(Customer).where(
            col(Customer.tenant_id) == tenant_id, col(Customer.id).in_(wanted)
        )
        return list((await self.session.execute(query)).scalars())

    async def list_customers(
        self, tenant_id: str, after_id: str, limit: int, search: str = ""
    ) -> list[Customer]:
        conditions = [
            col(Customer.tenant_id) == tenant_id,
            col(Customer.id) > after_id,
            col(Customer.merged_into_id).is_(None),
        ]
        if search:
            wanted = search.lower()
            conditions.append(
                func.lower(col(Customer.name)).contains(wanted, autoescape=True)
                | func.lower(col(Customer.external_id)).contains(wanted, autoescape=True)
            )
        query = select(Customer).where(*conditions).order_by(col(Customer.id)).limit(limit)
        return list((await self.session.execute(query)).scalars())

    async def customers_for_identity(
        self, tenant_id: str, ids: Iterable[str], external_ids: Iterable[str]
    ) -> dict[str, Customer]:
        """The customers with these ids or external ids, and the ones they were merged into."""

        async def load(values: list[str], by_id: bool) -> list[Customer]:
            if by_id:
                return await self.customers_by_id(tenant_id, values)
            query = select(Customer).where(
                col(Customer.tenant_id) == tenant_id, col(Customer.external_id).in_(values)
            )
            return list((await self.session.execute(query)).scalars())

        return await _with_survivors(ids, external_ids, load)

    async def customer_snapshots(
        self, tenant_id: str, ids: Iterable[str], external_ids: Iterable[str]
    ) -> dict[str, CustomerSnapshot]:
        """`customers_for_identity` as plain snapshots read without the ORM, for the hot path
        of accepting interactions."""

        async def load(values: list[str], by_id: bool) -> list[CustomerSnapshot]:
            return await self._snapshots(tenant_id, values, by_id=by_id)

        return await _with_survivors(ids, external_ids, load)

    async def _snapshots(
        self, tenant_id: str, values: Iterable[str], *, by_id: bool
    ) -> list[CustomerSnapshot]:
        async with driver_of(self.session) as (postgres, driver):
            if postgres:
                sql = _PG_CUSTOMERS_BY_ID if by_id else _PG_CUSTOMERS_BY_EXTERNAL_ID
                rows = await pg_fetch(driver, sql, (pg_array(values), tenant_id))
                return [CustomerSnapshot(*row) for row in rows]
        column = Customer.id if by_id else Customer.external_id
        query = select(*(table_of(Customer).c[name] for name in _SNAPSHOT_COLUMNS)).where(
            col(Customer.tenant_id) == tenant_id, col(column).in_(list(values))
        )
        return [CustomerSnapshot(*row) for row in (await self.session.execute(query)).all()]

    async def tenant_domains(self, tenant_id: str) -> frozenset[str]:
        """The tenant's own mail domains (none for an unknown tenant)."""
        async with driver_of(self.session) as (postgres, driver):
            if postgres:
                rows = await pg_fetch(
                    driver, "SELECT email_domains FROM tenant WHERE id = %s", (tenant_id,)
                )
                return frozenset(rows[0][0] or []) if rows else frozenset()
        tenant = await self.tenant_by_id(tenant_id)
        return frozenset(tenant.email_domains or []) if tenant else frozenset()

    async def identifier_owners(
        self, tenant_id: str, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], str]:
        by_scheme: dict[str, list[str]] = {}
        for scheme, value in set(keys):
            by_scheme.setdefault(scheme, []).append(value)
        found: dict[tuple[str, str], str] = {}
        for scheme, values in by_scheme.items():
            query = select(
                col(CustomerIdentifier.value), col(CustomerIdentifier.customer_id)
            ).where(
                col(CustomerIdentifier.tenant_id) == tenant_id,
                col(CustomerIdentifier.scheme) == scheme,
                col(CustomerIdentifier.value).in_(values),
            )
            for value, customer_id in (await self.session.execute(query)).all():
                found[(scheme, value)] = customer_id
        return found

    async def identifiers_of(self, customer_ids: Sequence[str]) -> list[CustomerIdentifier]:
        query = (
            select(CustomerIdentifier)
            .where(col(CustomerIdentifier.customer_id).in_(list(customer_ids)))
            .order_by(col(CustomerIdentifier.scheme), col(CustomerIdentifier.value))
        )
        return list((await self.session.execute(query)).scalars())

    async def contacts_matching(
        self, tenant_id: str, emails: Iterable[str], external_ids: Iterable[str]
    ) -> list[Contact]:
        found: dict[str, Contact] = {}
        for column, values in (
            (Contact.email, set(emails)),
            (Contact.external_id, set(external_ids)),
        ):
            if values:
                query = select(Contact).where(
                    col(Contact.tenant_id) == tenant_id, col(column).in_(list(values))
                )
                found.update((c.id, c) for c in (await self.session.execute(query)).scalars())
        return list(found.values())

    async def contacts_of(self, customer_ids: Sequence[str]) -> list[Contact]:
        query = (
            select(Contact)
            .where(col(Contact.customer_id).in_(list(customer_ids)))
            .order_by(col(Contact.email), col(Contact.external_id))
        )
        return list((await self.session.execute(query)).scalars())

    async def merges_into(self, tenant_id: str, customer_ids: Sequence[str]) -> list[CustomerMerge]:
        query = (
            select(CustomerMerge)
            .where(
                col(CustomerMerge.tenant_id) == tenant_id,
                col(CustomerMerge.into_id).in_(list(customer_ids)),
            )
            .order_by(col(CustomerMerge.merged_at))
        )
        return list((await self.session.execute(query)).scalars())

    async def list_merges(self, tenant_id: str, limit: int) -> list[CustomerMerge]:
        query = (
            select(CustomerMerge)
            .where(col(CustomerMerge.tenant_id) == tenant_id)
            .order_by(col(CustomerMerge.merged_at).desc(), col(CustomerMerge.id))
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())

    async def set_external_ids(self, adopted: dict[str, str]) -> None:
        for customer_id, external_id in adopted.items():
            await self.session.execute(
                update(Customer)
                .where(col(Customer.id) == customer_id)
                .values(external_id=external_id)
            )

    async def insert_identifiers(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(CustomerIdentifier), list(rows))

    async def insert_contacts(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(Contact), list(rows))

    async def update_contact(self, contact_id: str, values: dict[str, Any]) -> None:
        await self.session.execute(
            update(Contact).where(col(Contact.id) == contact_id).values(values)
        )

    async def merge_customer(
        self, tenant_id: str, merged_id: str, into_id: str, reason: str, at: datetime
    ) -> list[str]:
        """Moves everything of one customer to another and records why; returns the ids of
        the interactions that moved, so subscribers can be told."""
        moved = list(
            (
                await self.session.execute(
                    select(col(Interaction.id)).where(
                        col(Interaction.tenant_id) == tenant_id,
                        col(Interaction.customer_id) == merged_id,
                    )
                )
            ).scalars()
        )
        if moved:
            await self.session.execute(
                update(Interaction)
                .where(
                    col(Interaction.tenant_id) == tenant_id,
                    col(Interaction.customer_id) == merged_id,
                )
                .values(customer_id=into_id)
            )
        for table in (Contact, CustomerIdentifier):
            await self.session.execute(
                update(table).where(col(table.customer_id) == merged_id).values(customer_id=into_id)
            )
        await self.session.execute(
            update(Customer)
            .where(col(Customer.merged_into_id) == merged_id)
            .values(merged_into_id=into_id)
        )
        await self.session.execute(
            update(Customer)
            .where(col(Customer.id) == merged_id)
            .values(merged_into_id=into_id, interaction_count=0)
        )
        await self.add(
            CustomerMerge(
                tenant_id=tenant_id,
                merged_id=merged_id,
                into_id=into_id,
                reason=reason[:500],
                interactions_moved=len(moved),
                merged_at=at,
            )
        )
        return moved

    async def insert_customers(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:  # in a fixed order, so concurrent batches wait rather than deadlock
            ordered = sorted(rows, key=lambda r: (r["external_id"] or "", r["id"]))
            await self.session.execute(insert(Customer), ordered)

    async def update_customers_activity(self, rows: Sequence[CustomerActivity]) -> None:
        """One statement for all: the span of activity, the count added, a new name if any.
        Rows are locked in id order, so concurrent batches cannot deadlock on them. The span
        only widens: a writer that read the customer before another committed a later
        interaction cannot move last_seen_at back."""
        if not rows:
            return
        rows = sorted(rows, key=lambda r: r.id)
        async with driver_of(self.session) as (postgres, driver):
            if postgres:  # the rows locked in id order first, then one update for all
                at = await pg_lock_each(driver, "customer", "id", [r.id for r in rows])
                rows = [r for r in rows if r.id in at]
                await pg_execute(
                    driver,
                    _PG_CUSTOMER_ACTIVITY,
                    (
                        pg_array([at[r.id] for r in rows]),
                        pg_array([r.id for r in rows]),
                        pg_array([r.first for r in rows]),
                        pg_array([r.last for r in rows]),
                        pg_array([r.added for r in rows]),
                        pg_array([r.name for r in rows]),
                    ),
                )
                return
        table: Any = Customer.__table__  # type: ignore[attr-defined]
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                # SQLite's min and max of two values; moments are stored in one text format.
                first_seen_at=func.min(
                    table.c.first_seen_at, bindparam("b_first", type_=table.c.first_seen_at.type)
                ),
                last_seen_at=func.max(
                    table.c.last_seen_at, bindparam("b_last", type_=table.c.last_seen_at.type)
                ),
                interaction_count=table.c.interaction_count + bindparam("b_added", type_=Integer),
                name=func.coalesce(bindparam("b_name", type_=String), table.c.name),
            )
        )
        await self.session.execute(
            statement,
            [
                {
                    "b_id": r.id,
                    "b_first": r.first,
                    "b_last": r.last,
                    "b_added": r.added,
                    "b_name": r.name,
                }
                for r in rows
            ],
        )

    # Interactions

    async def existing_source_ids(
        self, tenant_id: str, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, str]]:
        """The stored interactions with these (source, source id) keys: their ids and their
        customers'."""
        by_source: dict[str, list[str]] = {}
        for source, source_id in set(keys):
            by_source.setdefault(source, []).append(source_id)
        found: dict[tuple[str, str], tuple[str, str]] = {}
        async with driver_of(self.session) as (postgres, driver):
            if postgres:
                for source, source_ids in by_source.items():
                    rows = await pg_fetch(
                        driver, _PG_STORED, (pg_array(source_ids), tenant_id, source)
                    )
                    found.update(
                        ((source, stored_id), (id_, customer_id))
                        for stored_id, id_, customer_id in rows
                    )
                return found
        for source, source_ids in by_source.items():
            query = select(
                col(Interaction.source_id), col(Interaction.id), col(Interaction.customer_id)
            ).where(
                col(Interaction.tenant_id) == tenant_id,
                col(Interaction.source) == source,
                col(Interaction.source_id).in_(source_ids),
            )
            for stored_id, interaction_id, customer_id in (await self.session.execute(query)).all():
                found[(source, str(stored_id))] = (interaction_id, customer_id)
        return found

    async def insert_interactions(self, rows: Sequence[dict[str, Any]]) -> None:
        await bulk_insert(self.session, table_of(Interaction), rows)

    async def interaction_contents(
        self, tenant_id: str, ids: Sequence[str], columns: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """These columns of the tenant's stored interactions, by name, by id."""
        if not ids:
            return {}
        t = table_of(Interaction)
        wanted = list(set(ids))
        async with driver_of(self.session) as (postgres, driver):
            if postgres:
                listed = ", ".join("found." + t.c[name].name for name in columns)
                sql = _PG_CONTENTS.format(columns=listed)
                rows: Any = await pg_fetch(driver, sql, (pg_array(wanted), tenant_id))
            else:
                query = select(t.c.id, *(t.c[name] for name in columns)).where(
                    t.c.tenant_id == tenant_id, t.c.id.in_(wanted)
                )
                rows = (await self.session.execute(query)).all()
        return {row[0]: dict(zip(columns, row[1:], strict=True)) for row in rows}

    async def recent_interactions(
        self, tenant_id: str, customer_ids: Sequence[str], per_customer: int
    ) -> list[Any]:
        """Each customer's newest `per_customer` interactions, by customer, newest first, as
        rows with Interaction's columns by name (read-only; no ORM object per row)."""
        if not customer_ids:
            return []
        wanted = list(set(customer_ids))
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            # Per customer, a walk down its (tenant, customer, occurred_at) index that stops
            # after `per_customer` rows, instead of ranking its whole history: 100 customers
            # with 180 interactions each, 22 ms -> see docs/benchmarks.md.
            query: Any = (
                text(_PG_RECENT)
                .bindparams(tenant=tenant_id, ids=wanted, n=per_customer)
                .columns(*_INTERACTION.c)
            )
            return list((await self.session.execute(query)).all())
        rank = (
            func.row_number()
            .over(
                partition_by=col(Interaction.customer_id),
                order_by=(col(Interaction.occurred_at).desc(), col(Interaction.id).desc()),
            )
            .label("rank")
        )
        ranked = (
            select(col(Interaction.id), rank)
            .where(
                col(Interaction.tenant_id) == tenant_id,
                col(Interaction.customer_id).in_(wanted),
            )
            .subquery()
        )
        query = (
            select(*_INTERACTION.c)
            .join(ranked, col(Interaction.id) == ranked.c.id)
            .where(ranked.c.rank <= per_customer)
            .order_by(col(Interaction.customer_id), col(Interaction.occurred_at).desc())
        )
        return list((await self.session.execute(query)).all())

    async def interaction_page(
        self, tenant_id: str, wanted: InteractionFilter, limit: int
    ) -> list[Any]:
        """One customer's interactions matching `wanted`, newest first, after its cursor, as
        rows with Interaction's columns by name."""
        # The tenant is checked on the page, not in the search: every interaction of a
        # customer is of its tenant, and "tenant_id = ?" in the search let PostgreSQL
        # without statistics AND the tenant's whole unique index into the customer's walk.
        conditions = [col(Interaction.customer_id) == wanted.customer_id]
        if wanted.channels:
            conditions.append(col(Interaction.channel).in_(wanted.channels))
        if wanted.kinds:
            conditions.append(col(Interaction.kind).in_(wanted.kinds))
        if wanted.employee:
            conditions.append(col(Interaction.employee) == wanted.employee)
        if wanted.occurred_from is not None:
            conditions.append(col(Interaction.occurred_at) >= wanted.occurred_from)
        if wanted.occurred_to is not None:
            conditions.append(col(Interaction.occurred_at) < wanted.occurred_to)
        if wanted.before is not None:
            at, interaction_id = wanted.before
            conditions.append(
                (col(Interaction.occurred_at) < at)
                | ((col(Interaction.occurred_at) == at) & (col(Interaction.id) < interaction_id))
            )
        page = (
            select(*_INTERACTION.c)
            .where(*conditions)
            .order_by(col(Interaction.occurred_at).desc(), col(Interaction.id).desc())
            .limit(limit)
            .subquery()
        )
        query = (
            select(page)
            .where(page.c.tenant_id == tenant_id)
            .order_by(page.c.occurred_at.desc(), page.c.id.desc())
        )
        return list((await self.session.execute(query)).all())

    async def employees_of(
        self, tenant_id: str, customer_ids: Sequence[str]
    ) -> list[tuple[str, str, int, datetime, datetime]]:
        """(customer, employee, interactions, first, last) for each pair, busiest first."""
        if not customer_ids:
            return []
        # The customers' interactions through their index, then the tenant checked on what
        # was found: OFFSET 0 keeps PostgreSQL from pushing "tenant_id = ?" into the search,
        # where without statistics it ANDed in the tenant's whole unique index (5 ms -> 0.4
        # ms for two customers among 50,000 interactions).
        found = (
            select(
                _INTERACTION.c.customer_id,
                _INTERACTION.c.employee,
                _INTERACTION.c.occurred_at,
                _INTERACTION.c.tenant_id,
            )
            .where(col(Interaction.customer_id).in_(list(set(customer_ids))))
            .offset(0)
            .subquery()
        )
        count = func.count().label("interactions")
        query = (
            select(
                found.c.customer_id,
                found.c.employee,
                count,
                func.min(found.c.occurred_at),
                func.max(found.c.occurred_at),
            )
            .where(
                found.c.tenant_id == tenant_id,
                found.c.employee.is_not(None),
                found.c.employee != "",
            )
            .group_by(found.c.customer_id, found.c.employee)
            .order_by(found.c.customer_id, count.desc(), found.c.employee)
        )
        rows = (await self.session.execute(query)).all()
        return [(c, e or "", int(n), first, last) for c, e, n, first, last in rows]

    # Outbox

    async def insert_outbox(
        self, subscribers: Sequence[str], interaction_ids: Sequence[str], created_at: datetime
    ) -> None:
        """One entry per subscriber and interaction, each subscriber's in the given order."""
        if not subscribers or not interaction_ids:
            return
        async with driver_of(self.session) as (postgres, driver):
            if postgres:  # one statement for all, with arrays instead of a row each
                await pg_execute(
                    driver,
                    _PG_OUTBOX,
                    (created_at, pg_array(subscribers), pg_array(interaction_ids)),
                )
                return
        await bulk_insert(
            self.session,
            table_of(OutboxEntry),
            [
                {"subscriber": name, "interaction_id": interaction_id, "created_at": created_at}
                for name in subscribers
                for interaction_id in interaction_ids
            ],
        )

    async def pending(self, subscriber: str, limit: int) -> list[tuple[int, Any]]:
        """The subscriber's oldest entries, each with its interaction as a row with
        Interaction's columns by name."""
        page = (
            select(col(OutboxEntry.sequence), col(OutboxEntry.interaction_id))
            .where(col(OutboxEntry.subscriber) == subscriber)
            .order_by(col(OutboxEntry.sequence))
            .limit(limit)
            .subquery()
        )
        query = select(page.c.sequence, *_INTERACTION.c).join_from(
            page, _INTERACTION, _INTERACTION.c.id == page.c.interaction_id
        )
        connection = await self.session.connection()
        postgres = connection.dialect.name == "postgresql"
        # The page is the first rows of the (subscriber, sequence) index, in its order, and
        # only they are joined. Without statistics (a backlog grown since the last analyse,
        # or a server without autovacuum) PostgreSQL read the subscriber's whole backlog,
        # joined it and sorted it: 200-260 ms a page with 54,000 waiting, growing with the
        # backlog that a catch-up after an outage works through (4.4 ms this way).
        if postgres:
            await self.session.execute(text("SET LOCAL enable_sort = off"))
        rows = (await self.session.execute(query)).all()
        if postgres:
            await self.session.execute(text("SET LOCAL enable_sort TO DEFAULT"))
        # The oldest entries, then in time order: interactions of one customer that arrived
        # in different requests still reach the subscriber in occurred_at order when they
        # are pending together.
        pending = [(int(row.sequence or 0), row) for row in rows]
        return sorted(pending, key=lambda entry: (entry[1].occurred_at, entry[0]))

    async def acknowledge(self, subscriber: str, sequences: Sequence[int]) -> None:
        async with driver_of(self.session) as (postgres, driver):
            if postgres:
                # Entry by entry through the primary key (`pg_delete_each`): without
                # statistics `subscriber = … AND sequence IN (…)` read the whole backlog.
                scope = ("subscriber", subscriber)
                await pg_delete_each(driver, "outbox_entry", "sequence", sequences, scope, "bigint")
                return
        await self.session.execute(
            delete(OutboxEntry).where(
                col(OutboxEntry.subscriber) == subscriber,
                col(OutboxEntry.sequence).in_(list(sequences)),
            )
        )

    async def park(self, subscriber: str, refused: Sequence[tuple[int, Any, str]]) -> None:
        """Sets entries aside, each (sequence, its interaction's row, why): out of the
        outbox, into `outbox_parked`."""
        if not refused:
            return
        self.session.add_all(
            ParkedOutboxEntry(
                sequence=sequence,
                subscriber=subscriber,
                interaction_id=row.id,
                created_at=row.received_at,
                reason=reason[:500],
            )
            for sequence, row, reason in refused
        )
        await self.acknowledge(subscriber, [sequence for sequence, _, _ in refused])

    async def parked(self, subscriber: str | None = None) -> list[ParkedOutboxEntry]:
        query = select(ParkedOutboxEntry).order_by(col(ParkedOutboxEntry.sequence))
        if subscriber is not None:
            query = query.where(col(ParkedOutboxEntry.subscriber) == subscriber)
        return list((await self.session.execute(query)).scalars())

    async def unpark(self, entries: Sequence[ParkedOutboxEntry]) -> None:
        """Back into the outbox under their own sequences, so in their place in the order."""
        for entry in entries:
            self.session.add(
                OutboxEntry(
                    sequence=entry.sequence,
                    subscriber=entry.subscriber,
                    interaction_id=entry.interaction_id,
                    created_at=entry.created_at,
                )
            )
            await self.session.delete(entry)

    async def backlog(self) -> dict[str, int]:
        query = select(col(OutboxEntry.subscriber), func.count()).group_by(
            col(OutboxEntry.subscriber)
        )
        return {name: int(count) for name, count in (await self.session.execute(query)).all()}

    async def try_lead_relay(self, subscriber: str) -> bool:
        """PostgreSQL only: one relay per subscriber across replicas, for this transaction."""
        key = zlib.crc32(f"relint.outbox.{subscriber}".encode())
        result = await self.session.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}
        )
        return bool(result.scalar_one())


class _Account(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def merged_into_id(self) -> str | None: ...


_AccountT = TypeVar("_AccountT", bound=_Account)


async def _with_survivors(
    ids: Iterable[str],
    external_ids: Iterable[str],
    load: Callable[[list[str], bool], Awaitable[Sequence[_AccountT]]],
) -> dict[str, _AccountT]:
    """The customers `load` finds by these ids (by_id) or external ids, and the ones they
    were merged into (one hop), by id."""
    found: dict[str, _AccountT] = {}
    for by_id, values in ((True, list(set(ids))), (False, list(set(external_ids)))):
        if values:
            found.update((c.id, c) for c in await load(values, by_id))
    survivors = {c.merged_into_id for c in found.values() if c.merged_into_id} - set(found)
    if survivors:
        found.update((c.id, c) for c in await load(list(survivors), True))
    return found


# One probe of the unique (tenant_id, source, source_id) index per id. The LIMIT keeps
# PostgreSQL from flattening the lateral into a join: on a table it has no statistics for
# (never analyzed: a new database, or autovacuum off), it took "tenant_id = ? AND source = ?"
# for one row and scanned all of a source's interactions for "source_id IN (...)", 17 ms for
# 10 ids among 60,000; this form takes 0.15 ms. It is the only index that starts with
# tenant_id (migration 0005), so no statistics can lead PostgreSQL to another.
_PG_STORED = """
SELECT wanted.source_id, found.id, found.customer_id
FROM unnest(%s::text[]) AS wanted(source_id)
CROSS JOIN LATERAL (
    SELECT id, customer_id FROM interaction
    WHERE tenant_id = %s AND source = %s AND source_id = wanted.source_id LIMIT 1
) AS found
"""

# Interactions by id through the primary key, for the same reason (the tenant checked
# outside the lateral, so that no index on tenant_id competes); `columns` are the table's.
_PG_CONTENTS = """
SELECT found.id, {columns}
FROM unnest(%s::text[]) AS wanted(id)
CROSS JOIN LATERAL (SELECT * FROM interaction WHERE id = wanted.id LIMIT 1) AS found
WHERE found.tenant_id = %s
"""

_SNAPSHOT_COLUMNS = [f.name for f in fields(CustomerSnapshot)]  # customer's, in that order
# Probes of the primary key (the tenant checked outside the lateral, so that no index on
# tenant_id competes), and of the unique (tenant_id, external_id) index, one a value, for the
# reason given at _PG_STORED.
_PG_CUSTOMERS_BY_ID = f"""
SELECT {", ".join("found." + c for c in _SNAPSHOT_COLUMNS)}
FROM unnest(%s::text[]) AS wanted(id)
CROSS JOIN LATERAL (SELECT * FROM customer WHERE id = wanted.id LIMIT 1) AS found
WHERE found.tenant_id = %s
"""  # noqa: S608 (column names, no input)
_PG_CUSTOMERS_BY_EXTERNAL_ID = f"""
SELECT {", ".join("found." + c for c in _SNAPSHOT_COLUMNS)}
FROM unnest(%s::text[]) AS wanted(external_id)
CROSS JOIN LATERAL (
    SELECT * FROM customer
    WHERE tenant_id = %s AND external_id = wanted.external_id LIMIT 1
) AS found
"""  # noqa: S608 (column names, no input)
# An UPDATE locks its rows in whatever order its plan meets them; concurrent writers that
# lock in id order first cannot deadlock (`pg_lock_each`: the lock an UPDATE of no key takes,
# as FOR UPDATE would wait for the key-share locks of other writers' inserts, a deadlock).
# Then one update for all, straight to the locked rows by their ctid. With `id = ANY(...)`
# and no statistics the lock read every customer of every tenant (7.5 ms for 500 of 50,000,
# against 2.6 ms) and the update hashed them all.
_PG_CUSTOMER_ACTIVITY = """
UPDATE customer SET first_seen_at = least(customer.first_seen_at, given.first_seen_at),
    last_seen_at = greatest(customer.last_seen_at, given.last_seen_at),
    interaction_count = customer.interaction_count + given.added,
    name = coalesce(given.name, customer.name)
FROM unnest(%s::tid[], %s::varchar[], %s::timestamptz[], %s::timestamptz[], %s::bigint[],
        %s::varchar[])
    AS given(at, id, first_seen_at, last_seen_at, added, name)
WHERE customer.ctid = given.at AND customer.id = given.id
"""

# Each subscriber's entries in the given order (subscribers in turn, as `bulk_insert` would).
_PG_OUTBOX = """
INSERT INTO outbox_entry (subscriber, interaction_id, created_at)
SELECT subscriber.name, given.interaction_id, %s
FROM unnest(%s::text[]) WITH ORDINALITY AS subscriber(name, turn)
CROSS JOIN unnest(%s::text[]) WITH ORDINALITY AS given(interaction_id, position)
ORDER BY subscriber.turn, given.position
"""

# The newest interactions of each customer in :ids (see `recent_interactions`); the tenant
# checked outside the walk, as in `interaction_page`.
_INTERACTION = table_of(Interaction)
_PG_RECENT = f"""
SELECT {", ".join("recent." + c.name for c in _INTERACTION.c)}
FROM unnest(CAST(:ids AS varchar[])) AS wanted(customer_id)
CROSS JOIN LATERAL (
    SELECT * FROM interaction WHERE customer_id = wanted.customer_id
    ORDER BY occurred_at DESC, id DESC LIMIT :n
) AS recent
WHERE recent.tenant_id = :tenant
ORDER BY recent.customer_id, recent.occurred_at DESC, recent.id DESC
"""  # noqa: S608 (column names, no input)
