"""The gateway's entity cache: what it keeps, for how long, for whom, and what forgets it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from gateway.context import GatewayContext
from gateway.entity_cache import EntityCache, Forgetting, Kind
from gateway.events import EventRelay, InProcessBroker
from gateway.loaders import Loaders, Refresher
from relint.auth import SCOPE_ADMIN, SCOPE_GRAPH_READ, SCOPE_GRAPH_WRITE, Principal
from relint.contracts.ingest.v1 import ingest_pb2
from tests.gateway.test_events import START, FakeFeeds, _alert, _change
from tests.gateway.test_schema import CUSTOMER_360, SCHEMA, TENANT, FakeBackends

OTHER_TENANT = "tenant-b"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_an_entry_lives_its_ttl_from_the_moment_it_was_asked_for(clock: Clock) -> None:
    cache = EntityCache(2.0, clock=clock)
    asked_at = cache.now()
    clock.now += 0.5  # the answer took half a second
    cache.put(TENANT, Kind.RELATIONSHIP, "c1", "r1", "c1", asked_at)
    clock.now = asked_at + 1.999
    assert cache.get(TENANT, Kind.RELATIONSHIP, "c1") == "r1"
    clock.now = asked_at + 2.0
    assert cache.get(TENANT, Kind.RELATIONSHIP, "c1") is None
    assert cache.get(TENANT, Kind.RELATIONSHIP, "c1") is None  # and it is gone


def test_entries_are_kept_per_tenant_and_kind(clock: Clock) -> None:
    cache = EntityCache(2.0, clock=clock)
    cache.put(TENANT, Kind.RELATIONSHIP, "c1", "r1", "c1", cache.now())
    assert cache.get(OTHER_TENANT, Kind.RELATIONSHIP, "c1") is None
    assert cache.get(TENANT, Kind.PLAYBOOK, "c1") is None
    assert cache.get(TENANT, Kind.RELATIONSHIP, "c1") == "r1"


def test_forgetting_a_customer_drops_its_entries_by_any_key_and_no_others(clock: Clock) -> None:
    cache = EntityCache(60.0, clock=clock)
    asked_at = cache.now()
    cache.put(TENANT, Kind.EXTERNAL, ("cust-1", 20), "by ref", "c1", asked_at)
    cache.put(TENANT, Kind.CUSTOMER, ("c1", 20), "by id", "c1", asked_at)
    cache.put(TENANT, Kind.PLAYBOOK, "c1", "playbook", "c1", asked_at)
    cache.put(TENANT, Kind.PLAYBOOK, "c2", "another", "c2", asked_at)
    cache.put(OTHER_TENANT, Kind.PLAYBOOK, "c1", "another tenant's", "c1", asked_at)
    clock.now += 0.001
    cache.forget_customer(TENANT, "c1")
    assert cache.get(TENANT, Kind.EXTERNAL, ("cust-1", 20)) is None
    assert cache.get(TENANT, Kind.CUSTOMER, ("c1", 20)) is None
    assert cache.get(TENANT, Kind.PLAYBOOK, "c1") is None
    assert cache.get(TENANT, Kind.PLAYBOOK, "c2") == "another"
    assert cache.get(OTHER_TENANT, Kind.PLAYBOOK, "c1") == "another tenant's"


def test_an_answer_asked_for_before_a_change_is_stale_a_playbook_view_while_it_settles_soon(
    clock: Clock,
) -> None:
    cache = EntityCache(
        60.0, settle_seconds=5.0, settling_seconds=0.5, stale_seconds=0, clock=clock
    )
    asked_at = cache.now()
    clock.now += 0.01
    cache.forget_customer(TENANT, "c1")  # a change lands while the reads are under way
    forgotten_at = clock.now
    clock.now += 0.01
    for kind in (Kind.RELATIONSHIP, Kind.PLAYBOOK):
        cache.put(TENANT, kind, "c1", "old", "c1", asked_at)
        assert cache.get(TENANT, kind, "c1") is None
    # Asked for while the change settles: scoring's view is final, the playbook may not
    # have judged the change yet, so its view is kept half a second.
    clock.now = forgotten_at + 4.9
    for kind in (Kind.RELATIONSHIP, Kind.PLAYBOOK):
        cache.put(TENANT, kind, "c1", "unsettled", "c1", cache.now())
    clock.now += 0.49
    assert cache.get(TENANT, Kind.RELATIONSHIP, "c1") == "unsettled"
    assert cache.get(TENANT, Kind.PLAYBOOK, "c1") == "unsettled"
    clock.now += 0.02
    assert cache.get(TENANT, Kind.RELATIONSHIP, "c1") == "unsettled"
    assert cache.get(TENANT, Kind.PLAYBOOK, "c1") is None
    # Asked for once it has settled: the whole lifetime.
    clock.now = forgotten_at + 5.01
    cache.put(TENANT, Kind.PLAYBOOK, "c1", "new", "c1", cache.now())
    clock.now += 50
    assert cache.get(TENANT, Kind.PLAYBOOK, "c1") == "new"


@pytest.mark.parametrize(
    ("told", "judged", "kept_whole"),
    [
        (8, 8, True),  # the playbook has judged as many interactions as the change counts
        (8, 7, False),  # it has not received the new one yet
        (8, None, False),  # some wait to be judged (the playbook says 0)
        (8, 9, False),  # it has one scoring has not applied yet: the next change comes
        (None, 8, False),  # a change without a count (through the graph)
    ],
)
def test_a_playbook_view_that_has_judged_the_change_is_kept_whole_while_it_settles(
    clock: Clock, told: int | None, judged: int | None, kept_whole: bool
) -> None:
    cache = EntityCache(
        60.0, settle_seconds=5.0, settling_seconds=0.5, stale_seconds=0, clock=clock
    )
    cache.forget_customer(TENANT, "c1", told)
    clock.now += 0.01
    cache.put(TENANT, Kind.PLAYBOOK, "c1", "view", "c1", cache.now(), interactions=judged)
    clock.now += 2.0  # beyond `settling`, within `settle`
    assert (cache.get(TENANT, Kind.PLAYBOOK, "c1") == "view") is kept_whole
    if kept_whole:  # until the customer's next change, as any entry
        clock.now += 50
        assert cache.get(TENANT, Kind.PLAYBOOK, "c1") == "view"
        cache.forget_customer(TENANT, "c1", told + 1 if told else None)
        assert cache.get(TENANT, Kind.PLAYBOOK, "c1") is None


def _whole_customer(cache: EntityCache, interactions: int) -> None:
    """c1 kept by every key, its relationship counting `interactions`."""
    asked_at = cache.now()
    cache.put(TENANT, Kind.EXTERNAL, ("cust-1", 20), "by ref", "c1", asked_at)
    cache.put(TENANT, Kind.CUSTOMER, ("c1", 20), "by id", "c1", asked_at)
    cache.put(TENANT, Kind.RELATIONSHIP, "c1", "relationship", "c1", asked_at, interactions)
    cache.put(TENANT, Kind.PLAYBOOK, "c1", "playbook", "c1", asked_at)


def test_a_change_without_new_interactions_leaves_the_customer_and_does_not_settle(
    clock: Clock,
) -> None:
    """A violation the playbook found, or a stage moved by time: scoring's count of the
    customer's interactions is the one kept. The customer and its newest interactions still
    stand; its relationship and playbook view do not, and the playbook's next view is kept
    whole (the playbook judged before scoring heard of it)."""
    cache = EntityCache(
        60.0, settle_seconds=5.0, settling_seconds=0.5, stale_seconds=0, clock=clock
    )
    _whole_customer(cache, 7)
    clock.now += 0.01
    cache.forget_customer(TENANT, "c1", 7)
    assert cache.get(TENANT, Kind.EXTERNAL, ("cust-1", 20)) == "by ref"
    assert cache.get(TENANT, Kind.CUSTOMER, ("c1", 20)) == "by id"
    assert cache.get(TENANT, Kind.RELATIONSHIP, "c1") is None
    assert cache.get(TENANT, Kind.PLAYBOOK, "c1") is None
    clock.now += 0.01
    cache.put(TENANT, Kind.PLAYBOOK, "c1", "judged", "c1", cache.now())
    clock.now += 2.0  # beyond `settling`, within `settle`
    assert cache.get(TENANT, Kind.PLAYBOOK, "c1") == "judged"


@pytest.mark.parametrize(
    ("kept", "told", "why"),
    [
        (7, 8, "a new interaction"),
        (7, None, "a change through the graph, or a replica of an earlier release"),
        (None, 7, "no relationship kept to compare with"),
    ],
)
def test_a_change_with_new_interactions_or_unknown_ones_makes_everything_stale(
    clock: Clock, kept: int | None, told: int | None, why: str
) -> None:
    cache = EntityCache(
        60.0, settle_seconds=5.0, settling_seconds=0.5, stale_seconds=0, clock=clock
    )
    _whole_customer(cache, 7)
    if kept is None:
        cache.put(TENANT, Kind.RELATIONSHIP, "c1", "relationship", "c1", cache.now())
    clock.now += 0.01
    cache.forget_customer(TENANT, "c1", told)
    for kind, key in [
        (Kind.EXTERNAL, ("cust-1", 20)),
        (Kind.CUSTOMER, ("c1", 20)),
        (Kind.RELATIONSHIP, "c1"),
        (Kind.PLAYBOOK, "c1"),
    ]:
        assert cache.get(TENANT, kind, key) is None, why
    cache.put(TENANT, Kind.PLAYBOOK, "c1", "unsettled", "c1", cache.now())
    clock.now += 2.0
    assert cache.get(TENANT, Kind.PLAYBOOK, "c1") is None  # it settles


def test_a_change_in_the_feed_is_served_stale_while_fetched_again_for_a_while(
    clock: Clock,
) -> None:
    """Stale-while-revalidate: what a change in scoring's feed made stale is still answered,
    `stale` seconds at most, and the cache says so (`on_stale`) each time; a request then
    need not wait for the services."""
    cache = EntityCache(60.0, stale_seconds=2.0, clock=clock)
    told: list[tuple[str, Kind, object]] = []
    cache.on_stale = lambda tenant, kind, key: told.append((tenant, kind, key))
    _whole_customer(cache, 7)
    clock.now += 0.01
    cache.forget_customer(TENANT, "c1", 8)  # a new interaction
    keys = [
        (Kind.EXTERNAL, ("cust-1", 20), "by ref"),
        (Kind.CUSTOMER, ("c1", 20), "by id"),
        (Kind.RELATIONSHIP, "c1", "relationship"),
        (Kind.PLAYBOOK, "c1", "playbook"),
    ]
    clock.now += 1.98
    assert [cache.get(TENANT, kind, key) for kind, key, _ in keys] == [v for *_, v in keys]
    assert told == [(TENANT, kind, key) for kind, key, _ in keys]
    cache.put(TENANT, Kind.RELATIONSHIP, "c1", "fetched again", "c1", cache.now(), 8)
    clock.now += 0.02  # `stale` after the change: what was not fetched again is gone
    assert [cache.get(TENANT, kind, key) for kind, key, _ in keys] == [
        None,
        None,
        "fetched again",
        None,
    ]
    assert len(told) == 4


def test_a_playbook_view_past_its_settling_is_served_while_fetched_again(clock: Clock) -> None:
    cache = EntityCache(60.0, settle_seconds=5.0, settling_seconds=0.5, clock=clock)
    told: list[Kind] = []
    cache.on_stale = lambda tenant, kind, key: told.append(kind)
    cache.forget_customer(TENANT, "c1", 8)
    clock.now += 0.01
    cache.put(TENANT, Kind.PLAYBOOK, "c1", "not judged yet", "c1", cache.now(), None)
    clock.now += 0.4
    assert (cache.get(TENANT, Kind.PLAYBOOK, "c1"), told) == ("not judged yet", [])
    clock.now += 0.2
    assert (cache.get(TENANT, Kind.PLAYBOOK, "c1"), told) == ("not judged yet", [Kind.PLAYBOOK])
    clock.now += 2.0
    assert cache.get(TENANT, Kind.PLAYBOOK, "c1") is None


@pytest.mark.parametrize("how", ["through the graph", "the tenant's playbook", "unknown count"])
def test_a_change_not_from_the_feed_is_never_served_stale(clock: Clock, how: str) -> None:
    """A front end reads its own writes: what it changed is fetched before it is answered."""
    cache = EntityCache(60.0, stale_seconds=2.0, clock=clock)
    cache.on_stale = lambda *key: pytest.fail("served stale")
    _whole_customer(cache, 7)
    clock.now += 0.01
    if how == "the tenant's playbook":
        cache.forget_tenant(TENANT)
    else:  # Forgetting.customer, or a replica of an earlier release
        cache.forget_customer(TENANT, "c1", None)
    cache.forget_customer(TENANT, "c1", 8)  # the feed's word of it comes after
    assert cache.get(TENANT, Kind.RELATIONSHIP, "c1") is None
    assert cache.get(TENANT, Kind.CUSTOMER, ("c1", 20)) is None


def test_a_forgetting_without_counts_from_an_earlier_release_forgets_everything(
    clock: Clock,
) -> None:
    cache = EntityCache(60.0, clock=clock)
    _whole_customer(cache, 7)
    clock.now += 0.01
    Forgetting(cache)._apply(json.dumps({"customers": [[TENANT, "c1"]]}).encode())
    assert cache.get(TENANT, Kind.CUSTOMER, ("c1", 20)) is None
    assert cache.get(TENANT, Kind.RELATIONSHIP, "c1") is None


def test_a_relationship_kept_from_before_the_last_change_is_no_measure(clock: Clock) -> None:
    """Counted before the last change (a merge may take interactions away again), the kept
    relationship says nothing of what the cached customer holds now."""
    cache = EntityCache(60.0, stale_seconds=0, clock=clock)
    _whole_customer(cache, 7)
    clock.now += 0.01
    cache.forget_customer(TENANT, "c1", 12)  # a merge brought five
    clock.now += 0.01
    cache.put(TENANT, Kind.CUSTOMER, ("c1", 20), "with twelve", "c1", cache.now())
    clock.now += 0.01
    cache.forget_customer(TENANT, "c1", 7)  # and took them away: 7, as the stale one counted
    assert cache.get(TENANT, Kind.CUSTOMER, ("c1", 20)) is None


def test_entries_live_long_only_while_changes_are_known_to_reach_the_cache(
    clock: Clock,
) -> None:
    cache = EntityCache(30.0, unwatched_ttl_seconds=2.0, clock=clock)
    start = cache.now()
    cache.put(TENANT, Kind.RELATIONSHIP, "c1", "r1", "c1", start)
    cache.put(TENANT, Kind.RELATIONSHIP, "c2", "r2", "c2", start)
    clock.now = start + 2.5
    assert not cache.watched
    assert cache.get(TENANT, Kind.RELATIONSHIP, "c1") is None  # unwatched: 2 s
    cache.watch(3.0)  # the feed's reader passed
    assert cache.watched
    assert cache.get(TENANT, Kind.RELATIONSHIP, "c2") == "r2"
    clock.now = start + 5.4
    assert cache.get(TENANT, Kind.RELATIONSHIP, "c2") == "r2"
    clock.now = start + 5.6  # no pass since: the feed may be down
    assert not cache.watched
    assert cache.get(TENANT, Kind.RELATIONSHIP, "c2") is None
    cache.put(TENANT, Kind.RELATIONSHIP, "c3", "r3", "c3", cache.now())
    for second in range(40):  # passes every second, for 40 s
        cache.watch(3.0)
        if second == 29:
            assert cache.get(TENANT, Kind.RELATIONSHIP, "c3") == "r3"
        clock.now += 1.0
    assert cache.get(TENANT, Kind.RELATIONSHIP, "c3") is None  # but never beyond 30 s


def test_forgetting_a_tenant_drops_all_its_entries_and_only_its_own(clock: Clock) -> None:
    cache = EntityCache(60.0, clock=clock)
    for tenant in (TENANT, OTHER_TENANT):
        for customer in ("c1", "c2"):
            cache.put(tenant, Kind.PLAYBOOK, customer, tenant + customer, customer, cache.now())
    clock.now += 0.001
    cache.forget_tenant(TENANT)
    assert cache.get(TENANT, Kind.PLAYBOOK, "c1") is None
    assert cache.get(TENANT, Kind.PLAYBOOK, "c2") is None
    assert cache.get(OTHER_TENANT, Kind.PLAYBOOK, "c2") == OTHER_TENANT + "c2"


def test_the_cache_holds_at_most_its_size_the_oldest_going_first(clock: Clock) -> None:
    cache = EntityCache(60.0, max_entries=3, clock=clock)
    for n in range(4):
        cache.put(TENANT, Kind.RELATIONSHIP, f"c{n}", n, f"c{n}", cache.now())
    assert cache.get(TENANT, Kind.RELATIONSHIP, "c0") is None
    assert [cache.get(TENANT, Kind.RELATIONSHIP, f"c{n}") for n in (1, 2, 3)] == [1, 2, 3]


def test_forgettings_older_than_the_ttl_are_dropped_so_they_stay_bounded(clock: Clock) -> None:
    cache = EntityCache(1.0, settle_seconds=5.0, clock=clock)
    for n in range(500):
        clock.now += 0.1
        cache.forget_customer(TENANT, f"c{n}")
    # Those that may still matter (asked for within the lifetime, or settling) are kept,
    # and what has accumulated since the last drop, once a lifetime.
    assert 60 <= len(cache._customers_forgotten) <= 70
    assert (TENANT, "c499") in cache._customers_forgotten


def test_a_ttl_of_zero_keeps_nothing(clock: Clock) -> None:
    cache = EntityCache(0, clock=clock)
    cache.put(TENANT, Kind.RELATIONSHIP, "c1", "r1", "c1", cache.now())
    assert not cache.enabled
    assert cache.get(TENANT, Kind.RELATIONSHIP, "c1") is None


class RecordingBackends(FakeBackends):
    """Also serves a second tenant (which has no customers), and says which customer an
    accepted interaction was recorded for, as ingest does."""

    def _tenant(self, tenant_id: str) -> None:
        assert tenant_id in (TENANT, OTHER_TENANT)

    async def customers_by_external_id(self, tenant_id: str, refs: Any, recent: int = 0) -> Any:
        found = await super().customers_by_external_id(TENANT, refs, recent)
        return found if tenant_id == TENANT else type(found)([], [])

    async def record_interaction(self, tenant_id: str, interaction: dict[str, Any]) -> Any:
        await super().record_interaction(tenant_id, interaction)
        return ingest_pb2.RecordInteractionResponse(
            status="accepted", id="i-1", customer_id=str(interaction["customer"]["id"])
        )


def _context(
    backends: FakeBackends, forgetting: Forgetting, tenant: str = TENANT
) -> GatewayContext:
    scopes = frozenset({SCOPE_GRAPH_READ, SCOPE_GRAPH_WRITE, SCOPE_ADMIN})
    return GatewayContext(
        backends=backends,  # type: ignore[arg-type]
        principal=Principal(tenant, "partner-1", scopes),
        forgetting=forgetting,
    )


async def _360(backends: FakeBackends, forgetting: Forgetting, tenant: str = TENANT) -> Any:
    result = await SCHEMA.execute(
        CUSTOMER_360,
        variable_values={"ref": "cust-00007", "n": 5},
        context_value=_context(backends, forgetting, tenant),
    )
    assert result.errors is None
    return result.data


async def test_a_customer_360_asked_again_is_answered_from_the_cache_alike() -> None:
    backends = RecordingBackends()
    forgetting = Forgetting(EntityCache(60.0))
    first = await _360(backends, forgetting)
    assert backends.calls == Counter(
        {"LookupCustomers": 1, "BatchGetRelationships": 1, "BatchGetCustomerPlaybooks": 1}
    )
    again = await _360(backends, forgetting)
    assert again == first
    assert len(again["customer"]["recentInteractions"]) == 5
    assert backends.calls == Counter(
        {"LookupCustomers": 1, "BatchGetRelationships": 1, "BatchGetCustomerPlaybooks": 1}
    )
    # The same customer through `customer(id:)`: the lookup by id was kept too.
    result = await SCHEMA.execute(
        '{ customer(id: "c0007") { name recentInteractions(limit: 5) { id } '
        "relationship { value } } }",
        context_value=_context(backends, forgetting),
    )
    assert result.errors is None
    assert result.data["customer"]["name"] == first["customer"]["name"]
    assert backends.calls["BatchGetCustomers"] == 0
    assert backends.calls["BatchGetRelationships"] == 1


class AskedBackends(RecordingBackends):
    """Also notes which customers each relationships call asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.relationships_asked: list[list[str]] = []

    async def relationships_of(self, tenant_id: str, customer_ids: Any, as_of: Any = None) -> Any:
        self.relationships_asked.append(list(customer_ids))
        return await super().relationships_of(tenant_id, customer_ids, as_of)


async def test_what_the_cache_holds_is_answered_at_once_and_only_the_rest_is_fetched() -> None:
    backends = AskedBackends()
    cache = EntityCache(60.0)
    await _360(backends, Forgetting(cache))  # cust-00007 (c0007), with its 5 newest
    backends.relationships_asked.clear()
    loaders = Loaders(backends, TENANT, None, cache)  # type: ignore[arg-type]
    # Cached: answered before any batch runs, so awaiting them does not wait.
    answered = [
        loaders.customers_by_external_id.load(("cust-00007", 5)),
        loaders.recent_interactions.load(("c0007", 5)),  # came with the customer
        loaders.relationships.load(("c0007", None)),
        loaders.customer_playbooks.load("c0007"),
    ]
    assert all(cast(asyncio.Future[Any], f).done() for f in answered)
    customer, newest, relationship, playbook = [await f for f in answered]
    assert (customer.id, len(newest), relationship.customer_id) == ("c0007", 5, "c0007")
    assert playbook.customer_id == "c0007"
    assert loaders.standards  # the standards the cached view names came along
    # A batch of a cached and an uncached key asks the service for the uncached one only.
    calls = Counter(backends.calls)
    pair = await loaders.relationships.load_many([("c0007", None), ("c0008", None)])
    assert [r.customer_id for r in pair] == ["c0007", "c0008"]
    assert backends.relationships_asked == [["c0008"]]
    assert backends.calls - calls == Counter({"BatchGetRelationships": 1})
    # As of a past moment: never from the cache.
    past = loaders.relationships.load(("c0007", START))
    assert not cast(asyncio.Future[Any], past).done()
    assert (await past).value == -1.0  # the fake's answer as of a moment


async def test_a_customer_360_the_cache_holds_goes_through_without_waiting() -> None:
    """Every field answers at once from what the cache holds: the execution never yields to
    the event loop (no batch's turn awaited, no task per field), so under load a request is
    not held up behind every other request's turns."""
    backends = RecordingBackends()
    forgetting = Forgetting(EntityCache(60.0))
    first = await _360(backends, forgetting)
    execution = SCHEMA.execute(
        CUSTOMER_360,
        variable_values={"ref": "cust-00007", "n": 5},
        context_value=_context(backends, forgetting),
    )
    try:
        execution.send(None)
    except StopIteration as finished:
        result = finished.value
    else:
        execution.close()
        pytest.fail("the cached customer-360 waited on the event loop")
    assert result.errors is None
    assert result.data == first


class JudgedBackends(RecordingBackends):
    """The playbook's views say they have judged `judged` interactions."""

    judged = 0

    async def customer_playbooks(self, *args: Any, **kwargs: Any) -> Any:
        found = await super().customer_playbooks(*args, **kwargs)
        for view in found.customers:
            view.judged_interactions = self.judged
        return found


@pytest.mark.parametrize(("judged", "asked_again"), [(12, 0), (11, 1), (0, 1)])
async def test_a_playbook_view_asked_after_a_change_is_kept_if_it_has_judged_the_change(
    clock: Clock, judged: int, asked_again: int
) -> None:
    backends = JudgedBackends()
    backends.judged = judged
    cache = EntityCache(
        60.0, settle_seconds=5.0, settling_seconds=0.5, stale_seconds=0, clock=clock
    )
    cache.forget_customer(TENANT, "c0007", 12)  # scoring: c0007 now has 12 interactions
    clock.now += 0.1
    await _360(backends, Forgetting(cache))
    assert backends.calls["BatchGetCustomerPlaybooks"] == 1
    clock.now += 2.0  # still settling
    await _360(backends, Forgetting(cache))
    assert backends.calls["BatchGetCustomerPlaybooks"] == 1 + asked_again


async def test_a_stale_customer_360_is_answered_at_once_and_fetched_again_behind_it() -> None:
    backends = RecordingBackends()
    cache = EntityCache(60.0)
    refresher = Refresher(backends, cache)  # type: ignore[arg-type]
    cache.on_stale = refresher
    first = await _360(backends, Forgetting(cache))
    cache.forget_customer(TENANT, "c0007", 99)  # scoring's feed: a new interaction
    asked = Counter(backends.calls)
    # Two requests while it is stale: both answered from the cache, one fetch behind them.
    assert await _360(backends, Forgetting(cache)) == first
    assert await _360(backends, Forgetting(cache)) == first
    assert backends.calls == asked
    for _ in range(100):
        if backends.calls["BatchGetCustomerPlaybooks"] == asked["BatchGetCustomerPlaybooks"] + 1:
            break
        await asyncio.sleep(0.01)
    fetched = backends.calls - asked
    assert fetched == Counter(
        {"LookupCustomers": 1, "BatchGetRelationships": 1, "BatchGetCustomerPlaybooks": 1}
    )
    # The answers fetched again are fresh: the next request asks nothing.
    await asyncio.sleep(0.05)
    assert await _360(backends, Forgetting(cache)) == first
    assert backends.calls == asked + fetched
    await refresher.stop()


async def test_another_tenant_never_sees_what_the_cache_keeps_for_one() -> None:
    backends = RecordingBackends()
    forgetting = Forgetting(EntityCache(60.0))
    await _360(backends, forgetting)
    other = await _360(backends, forgetting, OTHER_TENANT)
    assert other == {"customer": None}
    assert backends.calls["LookupCustomers"] == 2


async def test_recording_an_interaction_forgets_that_customer_at_once() -> None:
    backends = RecordingBackends()
    forgetting = Forgetting(EntityCache(60.0))
    await _360(backends, forgetting)
    recorded = await SCHEMA.execute(
        """mutation { recordInteraction(interaction: {customerId: "c0007",
             occurredAt: "2026-11-30T10:00:00Z", channel: "sales", kind: "call",
             direction: "outbound"}) { __typename } }""",
        context_value=_context(backends, forgetting),
    )
    assert recorded.errors is None
    assert recorded.data == {"recordInteraction": {"__typename": "InteractionRecorded"}}
    await _360(backends, forgetting)
    assert backends.calls["LookupCustomers"] == 2
    assert backends.calls["BatchGetRelationships"] == 2
    assert backends.calls["BatchGetCustomerPlaybooks"] == 2


async def test_publishing_a_playbook_forgets_the_tenants_playbook_views() -> None:
    backends = RecordingBackends()
    forgetting = Forgetting(EntityCache(60.0))
    await _360(backends, forgetting)
    published = await SCHEMA.execute(
        'mutation { publishPlaybook(yaml: "name: Ours") { __typename } }',
        context_value=_context(backends, forgetting),
    )
    assert published.errors is None
    assert published.data == {"publishPlaybook": {"__typename": "Playbook"}}
    await _360(backends, forgetting)
    assert backends.calls["BatchGetCustomerPlaybooks"] == 2


async def test_an_answer_that_failed_is_not_kept() -> None:
    backends = RecordingBackends(scoring_down=True)
    forgetting = Forgetting(EntityCache(60.0))
    result = await SCHEMA.execute(
        '{ customer(externalId: "cust-00007") { relationship { value } } }',
        context_value=_context(backends, forgetting),
    )
    assert result.errors is not None
    backends.scoring_down = False
    result = await SCHEMA.execute(
        '{ customer(externalId: "cust-00007") { relationship { value } } }',
        context_value=_context(backends, forgetting),
    )
    assert result.errors is None
    assert result.data["customer"]["relationship"] == {"value": 5.0}


async def test_redis_tells_every_replica_to_forget(redis_url: str) -> None:
    first_client, second_client = Redis.from_url(redis_url), Redis.from_url(redis_url)
    # A channel of this test's own: other tests' gateways on this Redis publish heartbeats.
    channel = f"gateway:forget:test-{uuid.uuid4()}"
    first = Forgetting(EntityCache(60.0), first_client, channel)
    second = Forgetting(EntityCache(60.0), second_client, channel)
    database = first_client.connection_pool.connection_kwargs["db"]
    assert Forgetting(EntityCache(60.0), first_client).channel == f"gateway:forget:{database}"
    try:
        for replica in (first, second):
            replica.start()
            replica.cache.put(TENANT, Kind.RELATIONSHIP, "c1", "r1", "c1", replica.cache.now())
            replica.cache.put(TENANT, Kind.RELATIONSHIP, "c2", "r2", "c2", replica.cache.now())
        # Until the second replica listens, a forgetting could pass it by.
        for _ in range(100):
            [(_, listening)] = await first_client.pubsub_numsub(channel)
            if listening == 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.01)
        await first.customer(TENANT, "c1")
        for _ in range(100):
            if second.cache.get(TENANT, Kind.RELATIONSHIP, "c1") is None:
                break
            await asyncio.sleep(0.02)
        assert second.cache.get(TENANT, Kind.RELATIONSHIP, "c1") is None
        assert second.cache.get(TENANT, Kind.RELATIONSHIP, "c2") == "r2"
        # A change without new interactions reaches the other replica with its count, and
        # the replica that sent it does not apply it a second time when it comes back (by
        # then its relationship is stale, and everything would go).
        for replica in (first, second):
            replica.cache.put(TENANT, Kind.RELATIONSHIP, "c3", "r3", "c3", replica.cache.now(), 4)
            replica.cache.put(TENANT, Kind.CUSTOMER, ("c3", 0), "c3", "c3", replica.cache.now())
        await asyncio.sleep(0.01)
        await first.changed([(TENANT, "c3", 4)])
        for _ in range(100):
            if second.cache.get(TENANT, Kind.RELATIONSHIP, "c3") is None:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # its own message has come back to the first by now
        for replica in (first, second):
            assert replica.cache.get(TENANT, Kind.RELATIONSHIP, "c3") is None
            assert replica.cache.get(TENANT, Kind.CUSTOMER, ("c3", 0)) == "c3"
        await asyncio.sleep(0.01)
        await second.tenant(TENANT)
        for _ in range(100):
            if first.cache.get(TENANT, Kind.RELATIONSHIP, "c2") is None:
                break
            await asyncio.sleep(0.02)
        assert first.cache.get(TENANT, Kind.RELATIONSHIP, "c2") is None
        # The feed's reader says changes reach the caches: every replica hears it.
        assert not second.cache.watched
        await first.changed([], watched_for=30.0)
        for _ in range(100):
            if second.cache.watched:
                break
            await asyncio.sleep(0.02)
        assert second.cache.watched
    finally:
        for replica in (first, second):
            await replica.stop()
        for client in (first_client, second_client):
            await client.aclose()


async def test_the_relay_tells_the_cache_whose_relationship_changed_though_nobody_listens() -> None:
    feeds, broker = FakeFeeds(), InProcessBroker()
    cache = EntityCache(30.0, unwatched_ttl_seconds=2.0, stale_seconds=0)
    relay = EventRelay(feeds, broker, forgetting=Forgetting(cache))
    for customer in ("c1", "c2"):
        cache.put(TENANT, Kind.PLAYBOOK, customer, customer, customer, cache.now())
    feeds.alerts = [_alert(1, TENANT, START + timedelta(seconds=1))]
    feeds.changes = [_change(TENANT, "c1", START + timedelta(seconds=1), 3)]
    assert await relay.step() == 1  # the change, to the cache only
    assert feeds.reads == 0  # the alerts are read for sockets only
    assert cache.watched
    assert cache.get(TENANT, Kind.PLAYBOOK, "c1") is None
    assert cache.get(TENANT, Kind.PLAYBOOK, "c2") == "c2"
    # The feed's count of interactions goes along: c2's change brings none, so its
    # customer entry stands and only its relationship and playbook view go.
    cache.put(TENANT, Kind.RELATIONSHIP, "c2", "r2", "c2", cache.now(), 5)
    cache.put(TENANT, Kind.CUSTOMER, ("c2", 0), "customer", "c2", cache.now())
    feeds.changes.append(_change(TENANT, "c2", START + timedelta(seconds=2), 5))
    assert await relay.step() == 1
    assert cache.get(TENANT, Kind.CUSTOMER, ("c2", 0)) == "customer"
    assert cache.get(TENANT, Kind.RELATIONSHIP, "c2") is None
    assert cache.get(TENANT, Kind.PLAYBOOK, "c2") is None
    # Without the cache, and nobody listening, nothing is read.
    idle = EventRelay(feeds, broker, forgetting=Forgetting(EntityCache(0)))
    assert await idle.step() == 0
