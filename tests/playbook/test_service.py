"""Playbook's use cases against real SQLite and real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from playbook.domain import DEFAULT_PLAYBOOK, InvalidPlaybook, Limit, PlaybookDraft
from playbook.main import MIGRATIONS
from playbook.models import AlertEvent
from playbook.repository import PlaybookRepository
from playbook.service import PlaybookService, uuid5
from relint.db import Database


@pytest.fixture
async def service(
    database_factory: Callable[[Path, str], Awaitable[Database]],
) -> PlaybookService:
    return PlaybookService(await database_factory(MIGRATIONS, "playbook"))


def draft(name: str) -> PlaybookDraft:
    return replace(DEFAULT_PLAYBOOK, name=name, standards=DEFAULT_PLAYBOOK.standards[:3])


async def test_a_tenant_that_never_published_follows_the_default_as_version_0(
    service: PlaybookService,
) -> None:
    first, second = await service.active_playbooks(["t1", "t2", "t1"])
    assert (first.tenant_id, second.tenant_id) == ("t1", "t2")
    assert (first.version, first.created_at) == (0, None)
    assert first.standards == DEFAULT_PLAYBOOK.standards
    assert first.id != second.id
    [again] = await service.active_playbooks(["t1"])
    assert again.id == first.id


async def test_each_publish_is_the_next_version_and_becomes_active(
    service: PlaybookService,
) -> None:
    one = (await service.publish("t1", draft("First"))).playbook
    two = (await service.publish("t1", draft("Second"))).playbook
    other = (await service.publish("t2", draft("Theirs"))).playbook
    assert (one.version, two.version, other.version) == (1, 2, 1)
    assert two.created_at is not None
    active = {p.tenant_id: p for p in await service.active_playbooks(["t1", "t2", "t3"])}
    assert (active["t1"].name, active["t1"].version) == ("Second", 2)
    assert active["t1"].standards == draft("Second").standards
    assert active["t1"].id == two.id
    assert (active["t2"].name, active["t3"].version) == ("Theirs", 0)


async def test_a_customers_playbook_follows_each_new_version_at_once(
    service: PlaybookService,
) -> None:
    """Parsed versions are kept, but the version read is always the newest stored: a
    publish shows in the next read, and the same version is parsed once."""
    await service.publish("t1", draft("First"))
    first = (await service.customer_playbooks("t1", ["c1"]))["c1"]
    await service.publish("t1", replace(draft("Second"), standards=DEFAULT_PLAYBOOK.standards))
    second = (await service.customer_playbooks("t1", ["c1"]))["c1"]
    assert (first.playbook_version, second.playbook_version) == (1, 2)
    assert len(first.standards) < len(second.standards)
    [once] = await service.active_playbooks(["t1"])
    [twice] = await service.active_playbooks(["t1"])
    assert once is twice


async def test_an_invalid_draft_is_refused_and_writes_nothing(service: PlaybookService) -> None:
    broken = replace(
        DEFAULT_PLAYBOOK,
        standards=(replace(DEFAULT_PLAYBOOK.standards[0], rule=Limit(3, 0, "marketing")),),
    )
    with pytest.raises(InvalidPlaybook) as refused:
        await service.publish("t1", broken)
    assert [p.path for p in refused.value.problems] == ["standards[0].rule.per_days"]
    assert [p.version for p in await service.versions("t1")] == [0]
    [active] = await service.active_playbooks(["t1"])
    assert active.version == 0


async def test_every_version_stays_readable(service: PlaybookService) -> None:
    await service.publish("t1", draft("First"))
    await service.publish("t1", draft("Second"))
    history = await service.versions("t1")
    assert [(p.version, p.name) for p in history] == [
        (0, DEFAULT_PLAYBOOK.name),
        (1, "First"),
        (2, "Second"),
    ]
    first = await service.version("t1", 1)
    assert first is not None
    assert (first.name, first.standards) == ("First", draft("First").standards)
    default = await service.version("t1", 0)
    assert default is not None
    assert default.standards == DEFAULT_PLAYBOOK.standards
    assert await service.version("t1", 3) is None
    assert await service.version("t2", 1) is None


async def test_concurrent_publishes_take_distinct_versions(service: PlaybookService) -> None:
    published = await asyncio.gather(*(service.publish("t1", draft(f"v{n}")) for n in range(4)))
    assert sorted(p.playbook.version for p in published) == [1, 2, 3, 4]
    assert [p.version for p in await service.versions("t1")] == [0, 1, 2, 3, 4]
    assert [p.version for p in await service.versions("t1", newest=2)] == [3, 4]
    assert [p.version for p in await service.versions("t1", newest=5)] == [0, 1, 2, 3, 4]
    assert [p.version for p in await service.versions("t1", {4, 0, 9})] == [0, 4]
    assert [p.version for p in await service.versions("t2", {1, 2})] == []


@given(st.uuids(), st.text())
def test_violation_ids_are_the_standard_librarys_uuid5(namespace: uuid.UUID, name: str) -> None:
    assert uuid5(namespace, name) == str(uuid.uuid5(namespace, name))


async def test_publishing_the_newest_version_again_makes_no_new_one(
    service: PlaybookService,
) -> None:
    first = await service.publish("t1", draft("First"))
    again = await service.publish("t1", draft("First"))
    assert (first.created, again.created) == (True, False)
    assert again.playbook.version == first.playbook.version == 1
    assert again.playbook.created_at == first.playbook.created_at
    # Only the newest counts: going back to an older one is a new version.
    await service.publish("t1", draft("Second"))
    back = await service.publish("t1", draft("First"))
    assert (back.created, back.playbook.version) == (True, 3)
    assert [p.version for p in await service.versions("t1")] == [0, 1, 2, 3]


async def test_alerts_as_of_a_moment_are_those_raised_by_then_as_they_stood(
    service: PlaybookService,
) -> None:
    """As of a moment: the alerts raised by then (at it included), each as it stood then:
    one acknowledged later was open and shows no acknowledgement (`open_only` keeps it);
    one acknowledged by then (at it included) was not. The stored alert is left as it is."""
    day = datetime(2026, 3, 2, tzinfo=UTC)

    def alert(id_: str, customer: str, kind: str, hour: int, tenant: str = "t1") -> dict[str, Any]:
        source = "scoring" if kind == "at_risk" else "playbook"
        return {
            "id": id_,
            "tenant_id": tenant,
            "customer_id": customer,
            "kind": kind,
            "severity": "warning",
            "reason": kind,
            "occurred_at": day + timedelta(hours=hour),
            "source": source,
        }

    async with service.db.transaction() as session:
        await PlaybookRepository(session).add_events(
            [
                alert("s1", "c1", "at_risk", 9),  # scoring's, relayed: acknowledged in scoring
                alert("v1", "c1", "violation", 10),  # acknowledged at 12:00
                alert("v2", "c1", "violation", 11),  # acknowledged at 11:30
                alert("d1", "c2", "deadline_approaching", 13),
                alert("x1", "c1", "violation", 10, tenant="t2"),
            ]
        )
    assert await service.acknowledge("t1", "v1", "ana", now=day + timedelta(hours=12))
    assert await service.acknowledge("t1", "v2", "bo", now=day + timedelta(hours=11, minutes=30))

    def shown(found: list[AlertEvent]) -> list[tuple[str, str | None]]:
        return [(a.id, a.acknowledged_by) for a in found]

    then = day + timedelta(hours=11, minutes=45)
    assert shown(await service.alerts("t1", as_of=then)) == [
        ("v2", "bo"),
        ("v1", None),
        ("s1", None),
    ]
    [v2, v1, _] = await service.alerts("t1", as_of=then)
    assert (v1.acknowledged_at, v2.acknowledged_at) == (None, day + timedelta(hours=11, minutes=30))
    assert shown(await service.alerts("t1", open_only=True, as_of=then)) == [
        ("v1", None),
        ("s1", None),
    ]
    # The same moment in another zone is the same moment.
    east = then.astimezone(timezone(timedelta(hours=2)))
    assert shown(await service.alerts("t1", open_only=True, as_of=east)) == [
        ("v1", None),
        ("s1", None),
    ]
    # An acknowledgement at the moment itself had happened; an alert raised then had been.
    at_noon = await service.alerts("t1", open_only=True, as_of=day + timedelta(hours=12))
    assert shown(at_noon) == [("s1", None)]
    assert shown(await service.alerts("t1", as_of=day + timedelta(hours=10))) == [
        ("v1", None),
        ("s1", None),
    ]
    assert await service.alerts("t1", as_of=day + timedelta(hours=8)) == []
    # With the other filters and the limit.
    assert shown(await service.alerts("t1", kinds=["violation"], as_of=then, limit=1)) == [
        ("v2", "bo")
    ]
    assert await service.alerts("t1", customer_ids=["c2"], as_of=then) == []
    assert shown(await service.alerts("t2", as_of=then)) == [("x1", None)]
    # Now: the stored acknowledgements stand.
    assert shown(await service.alerts("t1", open_only=True)) == [("d1", None), ("s1", None)]
    assert shown(await service.alerts("t1")) == [
        ("d1", None),
        ("v2", "bo"),
        ("v1", "ana"),
        ("s1", None),
    ]
