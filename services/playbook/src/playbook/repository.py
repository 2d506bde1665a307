"""Every SQL query of the playbook service, and nothing else."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from playbook.models import (
    AlertEvent,
    CustomerState,
    FeedCursor,
    ObligationRow,
    PlaybookVersion,
    TouchRow,
    ViolationRow,
    WebhookDelivery,
    WebhookSubscription,
)
from relint.db import UtcDateTime, bulk_insert, table_of


class PlaybookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def latest(self, tenant_ids: Sequence[str]) -> list[PlaybookVersion]:
        """The newest version of each tenant that has published one."""
        if not tenant_ids:
            return []
        newest = (
            select(
                col(PlaybookVersion.tenant_id).label("tenant_id"),
                func.max(PlaybookVersion.version).label("version"),
            )
            .where(col(PlaybookVersion.tenant_id).in_(list(set(tenant_ids))))
            .group_by(col(PlaybookVersion.tenant_id))
            .subquery()
        )
        query = select(PlaybookVersion).join(
            newest,
            (col(PlaybookVersion.tenant_id) == newest.c.tenant_id)
            & (col(PlaybookVersion.version) == newest.c.version),
        )
        return list((await self.session.execute(query)).scalars())

    async def last_version(self, tenant_id: str) -> int:
        """The tenant's highest version number; 0 when it has published none."""
        query = select(func.coalesce(func.max(PlaybookVersion.version), 0)).where(
            col(PlaybookVersion.tenant_id) == tenant_id
        )
        return int((await self.session.execute(query)).scalar_one())

    async def versions(self, tenant_id: str) -> list[PlaybookVersion]:
        query = (
            select(PlaybookVersion)
            .where(col(PlaybookVersion.tenant_id) == tenant_id)
            .order_by(col(PlaybookVersion.version))
        )
        return list((await self.session.execute(query)).scalars())

    async def version(self, tenant_id: str, version: int) -> PlaybookVersion | None:
        query = select(PlaybookVersion).where(
            col(PlaybookVersion.tenant_id) == tenant_id,
            col(PlaybookVersion.version) == version,
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def add(self, row: PlaybookVersion) -> None:
        self.session.add(row)
        await self.session.flush()

    # The delivered stream

    async def touch_owners(self, ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """The (tenant, customer) of each interaction already kept."""
        wanted = list(set(ids))
        if not wanted:
            return {}
        t = table_of(TouchRow)
        query = select(t.c.id, t.c.tenant_id, t.c.customer_id).where(t.c.id.in_(wanted))
        return {
            row.id: (row.tenant_id, row.customer_id) for row in await self.session.execute(query)
        }

    async def add_touches(self, rows: Sequence[dict[str, Any]]) -> None:
        await bulk_insert(self.session, table_of(TouchRow), rows)

    async def move_touch(self, touch_id: str, customer_id: str) -> None:
        t = table_of(TouchRow)
        await self.session.execute(
            update(t).where(t.c.id == touch_id).values(customer_id=customer_id)
        )

    async def touches(self, tenant_id: str, customer_ids: Sequence[str]) -> list[Row[Any]]:
        """The customers' interactions as plain rows (no ORM objects: judging reads many)."""
        if not customer_ids:
            return []
        t = table_of(TouchRow)
        query = (
            select(
                t.c.customer_id,
                t.c.id,
                t.c.occurred_at,
                t.c.channel,
                t.c.kind,
                t.c.direction,
                t.c.employee,
                t.c.reference,
                t.c.notice_days,
            )
            .where(t.c.tenant_id == tenant_id, t.c.customer_id.in_(list(set(customer_ids))))
            .order_by(t.c.customer_id, t.c.occurred_at, t.c.id)
        )
        return list(await self.session.execute(query))

    # Customers to judge

    async def mark_dirty(self, keys: Iterable[tuple[str, str]]) -> None:
        """Each (tenant, customer) must be judged again; a new one gets its state row."""
        wanted = sorted(set(keys))
        if not wanted:
            return
        t = table_of(CustomerState)
        by_tenant: dict[str, list[str]] = {}
        for tenant_id, customer_id in wanted:
            by_tenant.setdefault(tenant_id, []).append(customer_id)
        for tenant_id, customer_ids in by_tenant.items():
            known = set(
                (
                    await self.session.execute(
                        select(t.c.customer_id).where(
                            t.c.tenant_id == tenant_id, t.c.customer_id.in_(customer_ids)
                        )
                    )
                ).scalars()
            )
            await bulk_insert(
                self.session,
                t,
                [
                    {"tenant_id": tenant_id, "customer_id": c, "dirty": True, "revision": 1}
                    for c in customer_ids
                    if c not in known
                ],
            )
            if known:
                await self.session.execute(
                    update(t)
                    .where(t.c.tenant_id == tenant_id, t.c.customer_id.in_(sorted(known)))
                    .values(dirty=True, revision=t.c.revision + 1)
                )

    async def due(self, now: datetime, limit: int) -> list[CustomerState]:
        """Customers with unjudged interactions, or whose earliest deadline has passed."""
        query = (
            select(CustomerState)
            .where(or_(col(CustomerState.dirty), col(CustomerState.next_due_at) < now))
            .order_by(col(CustomerState.tenant_id), col(CustomerState.customer_id))
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())

    async def next_due_at(self) -> datetime | None:
        """The earliest deadline of anyone: when the clock must judge next."""
        query = select(func.min(CustomerState.next_due_at))
        value: datetime | None = (await self.session.execute(query)).scalar_one_or_none()
        return value

    async def tenant_states(self, tenant_id: str) -> list[CustomerState]:
        query = select(CustomerState).where(col(CustomerState.tenant_id) == tenant_id)
        return list((await self.session.execute(query)).scalars())

    async def tenants_judged(self) -> list[str]:
        query = select(col(CustomerState.tenant_id)).distinct()
        return list((await self.session.execute(query)).scalars())

    async def save_states(self, tenant_id: str, rows: Sequence[dict[str, Any]]) -> None:
        """Stores judgements' outcomes (b_customer, b_revision, b_type, b_type_since, b_stage,
        b_stage_since, b_next_due, b_judged, b_version); a customer stays dirty if it was
        marked again since the judgement read it (its revision moved)."""
        if not rows:
            return
        t = table_of(CustomerState)
        await self.session.execute(
            update(t)
            .where(t.c.tenant_id == tenant_id, t.c.customer_id == bindparam("b_customer"))
            .values(
                relationship_type=bindparam("b_type"),
                type_since=bindparam("b_type_since", type_=UtcDateTime()),
                stage=bindparam("b_stage"),
                stage_since=bindparam("b_stage_since", type_=UtcDateTime()),
                next_due_at=bindparam("b_next_due", type_=UtcDateTime()),
                judged_at=bindparam("b_judged", type_=UtcDateTime()),
                playbook_version=bindparam("b_version"),
                dirty=case((t.c.revision == bindparam("b_revision"), False), else_=True),
            ),
            sorted(rows, key=lambda r: str(r["b_customer"])),
        )

    # Judgements

    async def replace_obligations(
        self, tenant_id: str, customer_ids: Sequence[str], rows: Sequence[dict[str, Any]]
    ) -> None:
        """The customers' open obligations are now `rows`."""
        await self.session.execute(
            delete(ObligationRow).where(
                col(ObligationRow.tenant_id) == tenant_id,
                col(ObligationRow.customer_id).in_(list(customer_ids)),
            )
        )
        await bulk_insert(self.session, table_of(ObligationRow), rows)

    async def customers_violations(
        self, tenant_id: str, customer_ids: Sequence[str]
    ) -> list[Row[Any]]:
        """What judging needs of the customers' violations, as plain rows."""
        t = table_of(ViolationRow)
        query = select(
            t.c.id,
            t.c.customer_id,
            t.c.standard_key,
            t.c.due_at,
            t.c.playbook_version,
            t.c.withdrawn_at,
        ).where(t.c.tenant_id == tenant_id, t.c.customer_id.in_(list(customer_ids)))
        return list(await self.session.execute(query))

    async def add_violations(self, rows: Sequence[dict[str, Any]]) -> None:
        await bulk_insert(self.session, table_of(ViolationRow), rows)

    async def withdraw(self, ids: Sequence[str], at: datetime | None, reason: str) -> None:
        """Withdraws the violations (or, with `at` None, restores them)."""
        if ids:
            t = table_of(ViolationRow)
            await self.session.execute(
                update(t)
                .where(t.c.id.in_(list(ids)))
                .values(withdrawn_at=at, withdrawn_reason=reason)
            )

    async def unsignalled(self, limit: int) -> list[ViolationRow]:
        query = (
            select(ViolationRow)
            .where(
                col(ViolationRow.signalled_at).is_(None), col(ViolationRow.withdrawn_at).is_(None)
            )
            .order_by(col(ViolationRow.detected_at), col(ViolationRow.id))
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())

    async def mark_signalled(self, ids: Sequence[str], at: datetime) -> None:
        if ids:
            t = table_of(ViolationRow)
            await self.session.execute(
                update(t).where(t.c.id.in_(list(ids))).values(signalled_at=at)
            )

    # Reads

    async def obligations(
        self,
        tenant_id: str,
        *,
        customer_ids: Sequence[str] | None = None,
        team: str | None = None,
        employee: str | None = None,
        limit: int = 100,
    ) -> list[ObligationRow]:
        conditions = [col(ObligationRow.tenant_id) == tenant_id]
        if customer_ids is not None:
            conditions.append(col(ObligationRow.customer_id).in_(list(set(customer_ids))))
        if team is not None:
            conditions.append(col(ObligationRow.team) == team)
        if employee is not None:
            conditions.append(col(ObligationRow.employee) == employee)
        query = (
            select(ObligationRow)
            .where(*conditions)
            .order_by(col(ObligationRow.due_at), col(ObligationRow.id))
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())

    async def violations(
        self,
        tenant_id: str,
        *,
        customer_ids: Sequence[str] | None = None,
        team: str | None = None,
        since: datetime | None = None,
        include_withdrawn: bool = False,
        limit: int = 100,
    ) -> list[ViolationRow]:
        conditions = [col(ViolationRow.tenant_id) == tenant_id]
        if customer_ids is not None:
            conditions.append(col(ViolationRow.customer_id).in_(list(set(customer_ids))))
        if team is not None:
            conditions.append(col(ViolationRow.team) == team)
        if since is not None:
            conditions.append(col(ViolationRow.due_at) >= since)
        if not include_withdrawn:
            conditions.append(col(ViolationRow.withdrawn_at).is_(None))
        query = (
            select(ViolationRow)
            .where(*conditions)
            .order_by(col(ViolationRow.due_at).desc(), col(ViolationRow.id))
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())

    # Alerts out

    async def known_events(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        t = table_of(AlertEvent)
        query = select(t.c.id).where(t.c.id.in_(list(set(ids))))
        return set((await self.session.execute(query)).scalars())

    async def add_events(self, rows: Sequence[dict[str, Any]]) -> None:
        await bulk_insert(self.session, table_of(AlertEvent), rows)

    async def active_subscriptions(self, tenant_ids: Iterable[str]) -> list[WebhookSubscription]:
        wanted = list(set(tenant_ids))
        if not wanted:
            return []
        query = select(WebhookSubscription).where(
            col(WebhookSubscription.tenant_id).in_(wanted), col(WebhookSubscription.active)
        )
        return list((await self.session.execute(query)).scalars())

    async def add_deliveries(self, rows: Sequence[dict[str, Any]]) -> None:
        await bulk_insert(self.session, table_of(WebhookDelivery), rows)

    async def cursor(self, source: str) -> datetime | None:
        query = select(col(FeedCursor.since)).where(col(FeedCursor.source) == source)
        value: datetime | None = (await self.session.execute(query)).scalar_one_or_none()
        return value

    async def set_cursor(self, source: str, since: datetime) -> None:
        t = table_of(FeedCursor)
        done = await self.session.execute(update(t).where(t.c.source == source).values(since=since))
        if not done.rowcount:  # type: ignore[attr-defined]
            await bulk_insert(self.session, t, [{"source": source, "since": since}])

    async def add_subscription(self, row: WebhookSubscription) -> None:
        self.session.add(row)
        await self.session.flush()

    async def subscriptions(self, tenant_id: str) -> list[WebhookSubscription]:
        query = (
            select(WebhookSubscription)
            .where(col(WebhookSubscription.tenant_id) == tenant_id, col(WebhookSubscription.active))
            .order_by(col(WebhookSubscription.created_at), col(WebhookSubscription.id))
        )
        return list((await self.session.execute(query)).scalars())

    async def deactivate_subscription(self, tenant_id: str, subscription_id: str) -> bool:
        t = table_of(WebhookSubscription)
        done = await self.session.execute(
            update(t)
            .where(t.c.tenant_id == tenant_id, t.c.id == subscription_id, t.c.active)
            .values(active=False)
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]

    async def deliveries(
        self, tenant_id: str, subscription_id: str, status: str | None, limit: int
    ) -> list[WebhookDelivery]:
        conditions = [
            col(WebhookDelivery.tenant_id) == tenant_id,
            col(WebhookDelivery.subscription_id) == subscription_id,
        ]
        if status is not None:
            conditions.append(col(WebhookDelivery.status) == status)
        query = (
            select(WebhookDelivery)
            .where(*conditions)
            .order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id))
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())

    async def due_deliveries(self, now: datetime, limit: int) -> list[Row[Any]]:
        """Pending deliveries whose time has come, with their subscription's URL and secret."""
        d, s = table_of(WebhookDelivery), table_of(WebhookSubscription)
        query = (
            select(d.c.id, d.c.kind, d.c.body, d.c.attempts, s.c.url, s.c.secret)
            .join(s, s.c.id == d.c.subscription_id)
            .where(d.c.status == "pending", d.c.next_attempt_at <= now, s.c.active)
            .order_by(d.c.next_attempt_at, d.c.id)
            .limit(limit)
        )
        return list(await self.session.execute(query))

    async def record_attempt(self, delivery_id: str, values: dict[str, Any]) -> None:
        t = table_of(WebhookDelivery)
        await self.session.execute(update(t).where(t.c.id == delivery_id).values(**values))

    async def replay(self, tenant_id: str, delivery_id: str, now: datetime) -> bool:
        t = table_of(WebhookDelivery)
        done = await self.session.execute(
            update(t)
            .where(t.c.tenant_id == tenant_id, t.c.id == delivery_id)
            .values(status="pending", attempts=0, next_attempt_at=now, delivered_at=None)
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]
