"""Subscriptions' events: the feeds read once each, tenants kept apart, Redis across replicas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from redis.asyncio import Redis

from gateway.context import GatewayContext
from gateway.events import (
    EventRelay,
    FeedsUnavailable,
    InProcessBroker,
    RedisBroker,
    Topic,
    decode_alert,
    encode_alert,
)
from gateway.schema import build_schema
from relint.auth import SCOPE_GRAPH_READ, Principal
from relint.contracts.playbook.v1 import playbook_pb2
from relint.contracts.scoring.v1 import scoring_pb2

A = TypeVar("A", scoring_pb2.Alert, playbook_pb2.Alert)

# Moments are stamped relative to this: a relay reads from the moment it starts.
START = datetime.now(UTC) + timedelta(days=1)


def _alert(n: int, tenant: str, at: datetime, customer: str = "c1") -> scoring_pb2.Alert:
    alert = scoring_pb2.Alert(
        id=f"a{n:03d}", tenant_id=tenant, customer_id=customer, kind="at_risk", reason="why"
    )
    alert.raised_at.FromDatetime(at)
    return alert


def _change(tenant: str, customer: str, at: datetime, count: int) -> scoring_pb2.Relationship:
    message = scoring_pb2.Relationship(
        tenant_id=tenant, customer_id=customer, interaction_count=count
    )
    message.updated_at.FromDatetime(at)
    message.as_of.FromDatetime(at)
    return message


def _page(alerts: Sequence[A], since: datetime, after_id: str, limit: int) -> list[A]:
    ordered = sorted(alerts, key=lambda a: (a.raised_at.ToDatetime(tzinfo=UTC), a.id))
    return [
        a
        for a in ordered
        if (at := a.raised_at.ToDatetime(tzinfo=UTC)) > since or (at == since and a.id > after_id)
    ][:limit]


class FakeFeeds:
    """Scoring's two feeds and the playbook's alert feed over lists, with the same ordering
    and cursors."""

    def __init__(self) -> None:
        self.alerts: list[scoring_pb2.Alert] = []
        self.playbook_alerts: list[playbook_pb2.Alert] = []
        self.changes: list[scoring_pb2.Relationship] = []
        self.reads = 0

    async def alert_feed(
        self, since: datetime, after_id: str, limit: int
    ) -> list[scoring_pb2.Alert]:
        self.reads += 1
        return _page(self.alerts, since, after_id, limit)

    async def playbook_alert_feed(
        self, since: datetime, after_id: str, limit: int
    ) -> list[playbook_pb2.Alert]:
        return _page(self.playbook_alerts, since, after_id, limit)

    async def relationship_feed(
        self, since: datetime, after: tuple[str, str], limit: int
    ) -> list[scoring_pb2.Relationship]:
        def key(r: scoring_pb2.Relationship) -> tuple[datetime, str, str]:
            return (r.updated_at.ToDatetime(tzinfo=UTC), r.tenant_id, r.customer_id)

        return [
            r
            for r in sorted(self.changes, key=key)
            if key(r)[0] > since or (key(r)[0] == since and key(r)[1:] > after)
        ][:limit]


class Recorder:
    def __init__(self) -> None:
        self.published: list[tuple[Topic, str, bytes]] = []

    async def publish(self, topic: Topic, tenant_id: str, payload: bytes) -> None:
        self.published.append((topic, tenant_id, payload))

    def listen(self, topic: Topic, tenant_id: str) -> Any:
        raise NotImplementedError

    async def has_listeners(self) -> bool:
        return True


async def test_each_event_is_published_once_across_pages_and_passes() -> None:
    feeds, broker = FakeFeeds(), Recorder()
    relay = EventRelay(feeds, broker, page=3)
    # Seven alerts at one moment: pages of three must walk them by id, not loop.
    feeds.alerts = [_alert(n, "t1", START + timedelta(seconds=1)) for n in range(7)]
    feeds.changes = [_change("t1", f"c{n}", START + timedelta(seconds=n), n) for n in range(4)]
    assert await relay.relay_once() == 11
    assert await relay.relay_once() == 0  # read again a few seconds back: nothing twice
    alerts = [decode_alert(p).id for t, _, p in broker.published if t == "alerts"]
    assert alerts == [f"a{n:03d}" for n in range(7)]


async def test_the_playbooks_alerts_are_published_beside_scorings() -> None:
    feeds, broker = FakeFeeds(), Recorder()
    relay = EventRelay(feeds, broker, page=2)
    feeds.alerts = [_alert(1, "t1", START + timedelta(seconds=1))]
    missed = [
        playbook_pb2.Alert(id=f"v{n}", tenant_id="t2", customer_id="c3", kind="violation")
        for n in range(3)
    ]
    for alert in missed:
        alert.raised_at.FromDatetime(START + timedelta(seconds=2))
    feeds.playbook_alerts = missed
    assert await relay.relay_once() == 4
    assert await relay.relay_once() == 0
    published = [(tenant, decode_alert(p)) for t, tenant, p in broker.published if t == "alerts"]
    assert [(tenant, type(a).__module__.split(".")[2], a.id) for tenant, a in published] == [
        ("t1", "scoring", "a001"),
        ("t2", "playbook", "v0"),
        ("t2", "playbook", "v1"),
        ("t2", "playbook", "v2"),
    ]


async def test_a_feed_that_cannot_be_read_holds_up_only_itself() -> None:
    """The playbook away: scoring's alerts and relationship changes are still published (and
    the pass says which feed failed); once it is back, its alerts raised meanwhile follow."""

    class PlaybookAway(FakeFeeds):
        away = True

        async def playbook_alert_feed(
            self, since: datetime, after_id: str, limit: int
        ) -> list[playbook_pb2.Alert]:
            if self.away:
                raise ConnectionError("playbook unreachable")
            return await super().playbook_alert_feed(since, after_id, limit)

    feeds, broker = PlaybookAway(), Recorder()
    relay = EventRelay(feeds, broker)
    feeds.alerts = [_alert(1, "t1", START + timedelta(seconds=1))]
    feeds.changes = [_change("t1", "c1", START + timedelta(seconds=2), 1)]
    missed = playbook_pb2.Alert(id="v1", tenant_id="t1", customer_id="c1", kind="violation")
    missed.raised_at.FromDatetime(START + timedelta(seconds=3))
    feeds.playbook_alerts = [missed]
    with pytest.raises(FeedsUnavailable, match="the playbook's alerts") as failed:
        await relay.relay_once()
    assert list(failed.value.failed) == ["the playbook's alerts"]
    assert [t for t, _, _ in broker.published] == [Topic.ALERTS, Topic.RELATIONSHIPS]
    feeds.away = False
    assert await relay.relay_once() == 1
    assert decode_alert(broker.published[-1][2]).id == "v1"


async def test_a_late_commit_with_an_earlier_moment_is_still_published() -> None:
    feeds, broker = FakeFeeds(), Recorder()
    relay = EventRelay(feeds, broker)
    feeds.alerts = [_alert(1, "t1", START + timedelta(seconds=10))]
    assert await relay.relay_once() == 1
    # Committed after the pass above, stamped two seconds before what it already read.
    feeds.alerts.append(_alert(2, "t1", START + timedelta(seconds=8)))
    assert await relay.relay_once() == 1
    assert [p[2] for p in broker.published][-1] == encode_alert(feeds.alerts[-1])


async def test_events_from_before_the_relay_started_are_not_replayed() -> None:
    feeds, broker = FakeFeeds(), Recorder()
    feeds.alerts = [_alert(1, "t1", datetime.now(UTC) - timedelta(minutes=5))]
    relay = EventRelay(feeds, broker)
    assert await relay.relay_once() == 0


async def test_the_feeds_are_not_read_while_nobody_listens() -> None:
    feeds, broker = FakeFeeds(), InProcessBroker()
    relay = EventRelay(feeds, broker)
    feeds.alerts = [_alert(1, "t1", START + timedelta(seconds=1))]
    assert await relay.step() == 0
    assert feeds.reads == 0
    listening = broker.listen(Topic.ALERTS, "t1")
    pending = asyncio.ensure_future(anext(listening))
    await asyncio.sleep(0)  # subscribed
    assert await relay.step() == 1
    assert feeds.reads == 1
    assert decode_alert(await pending).id == "a001"
    await listening.aclose()
    assert not await broker.has_listeners()


async def test_in_process_listeners_hear_only_their_tenant_and_topic() -> None:
    broker = InProcessBroker()
    heard: list[bytes] = []

    async def listen() -> None:
        async for payload in broker.listen(Topic.ALERTS, "t1"):
            heard.append(payload)

    task = asyncio.create_task(listen())
    await asyncio.sleep(0)
    await broker.publish(Topic.ALERTS, "t2", b"other tenant")
    await broker.publish(Topic.RELATIONSHIPS, "t1", b"other topic")
    await broker.publish(Topic.ALERTS, "t1", b"mine")
    await asyncio.sleep(0.01)
    task.cancel()
    assert heard == [b"mine"]


async def test_redis_carries_events_between_replicas_and_one_replica_reads(
    redis_url: str,
) -> None:
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        feeds = FakeFeeds()
        relays = [
            EventRelay(feeds, RedisBroker(client), redis=client) for client in (first, second)
        ]
        leaders = [await relay._leads() for relay in relays]
        assert leaders == [True, False]  # the lease: one reader at a time
        assert await relays[0]._leads()  # and the holder keeps it

        async with _listening(RedisBroker(second)) as heard:
            feeds.alerts = [_alert(1, "t1", START + timedelta(seconds=1))]
            assert await RedisBroker(first).has_listeners()  # the other client's subscription
            assert await relays[0].step() == 1
        assert [decode_alert(p).id for p in heard] == ["a001"]
    finally:
        await first.aclose()
        await second.aclose()


async def test_deployments_sharing_a_redis_server_do_not_hear_each_other(
    redis_url: str,
) -> None:
    """Pub/sub spans a Redis server's databases: a deployment on another database of the
    same server neither hears this one's events (even for a tenant of the same id) nor
    counts as listening."""
    ours = Redis.from_url(redis_url)
    base, database = redis_url.rsplit("/", 1)
    theirs = Redis.from_url(f"{base}/{(int(database) + 8) % 16}")  # no test worker's
    try:
        async with _listening(RedisBroker(ours)) as heard:
            assert await RedisBroker(ours).has_listeners()
            assert not await RedisBroker(theirs).has_listeners()
            await RedisBroker(theirs).publish(Topic.ALERTS, "t1", b"theirs")
            await RedisBroker(ours).publish(Topic.ALERTS, "t1", b"ours")
        assert heard == [b"ours"]
    finally:
        await ours.aclose()
        await theirs.aclose()


@asynccontextmanager
async def _listening(broker: RedisBroker) -> AsyncIterator[list[bytes]]:
    """Listens to tenant t1's alerts during the block (subscribed when it starts); the list
    fills with what is heard, up to 2.5 s for the first and 0.1 s more for anything else."""
    heard: list[bytes] = []

    async def listen() -> None:
        async for payload in broker.listen(Topic.ALERTS, "t1"):
            heard.append(payload)

    task = asyncio.create_task(listen())
    await asyncio.sleep(0.2)  # subscribed
    try:
        yield heard
        for _ in range(50):
            if heard:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)
    finally:
        task.cancel()


SCHEMA = build_schema(max_depth=8, max_tokens=400, max_aliases=5, mask_errors=True)


async def _subscribe(
    query: str, broker: InProcessBroker, principal: Principal | None, **variables: Any
) -> AsyncGenerator[Any, None]:
    context = GatewayContext(backends=None, principal=principal, broker=broker)  # type: ignore[arg-type]
    result = await SCHEMA.subscribe(query, variable_values=variables, context_value=context)
    assert not hasattr(result, "errors") or result.errors is None, result
    return result  # type: ignore[return-value]


async def _first(
    stream: AsyncGenerator[Any, None],
    publish: Sequence[tuple[Topic, str, bytes]],
    broker: InProcessBroker,
) -> Any:
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.01)  # the resolver is listening
    for topic, tenant, payload in publish:
        await broker.publish(topic, tenant, payload)
    result = await asyncio.wait_for(pending, 2)
    await stream.aclose()
    return result


async def test_a_subscription_yields_its_tenants_changes_for_its_customer() -> None:
    broker = InProcessBroker()
    reader = Principal("t1", "p1", frozenset({SCOPE_GRAPH_READ}))
    stream = await _subscribe(
        "subscription ($c: ID) { relationshipChanged(customerId: $c) "
        "{ customerId relationship { interactionCount } } }",
        broker,
        reader,
        c="c2",
    )
    result = await _first(
        stream,
        [
            (Topic.RELATIONSHIPS, "t2", _change("t2", "c2", START, 9).SerializeToString()),
            (Topic.RELATIONSHIPS, "t1", _change("t1", "c1", START, 8).SerializeToString()),
            (Topic.RELATIONSHIPS, "t1", _change("t1", "c2", START, 7).SerializeToString()),
        ],
        broker,
    )
    assert result.errors is None
    assert result.data == {
        "relationshipChanged": {"customerId": "c2", "relationship": {"interactionCount": 7}}
    }


async def test_alerts_reach_the_tenants_subscribers() -> None:
    broker = InProcessBroker()
    reader = Principal("t1", "p1", frozenset({SCOPE_GRAPH_READ}))
    stream = await _subscribe("subscription { alertRaised { id kind source } }", broker, reader)
    result = await _first(
        stream,
        [
            (Topic.ALERTS, "t2", encode_alert(_alert(1, "t2", START))),
            (Topic.ALERTS, "t1", encode_alert(_alert(2, "t1", START))),
        ],
        broker,
    )
    assert result.data == {"alertRaised": {"id": "a002", "kind": "at_risk", "source": "scoring"}}
    missed = playbook_pb2.Alert(id="v1", tenant_id="t1", customer_id="c1", kind="violation")
    stream = await _subscribe("subscription { alertRaised { id kind source } }", broker, reader)
    result = await _first(stream, [(Topic.ALERTS, "t1", encode_alert(missed))], broker)
    assert result.data == {"alertRaised": {"id": "v1", "kind": "violation", "source": "playbook"}}


async def test_a_subscription_without_a_principal_is_refused() -> None:
    context = GatewayContext(backends=None, principal=None, broker=InProcessBroker())  # type: ignore[arg-type]
    stream = await SCHEMA.subscribe("subscription { alertRaised { id } }", context_value=context)
    result = await anext(stream)  # type: ignore[arg-type]
    assert result.errors
    assert "authentication required" in result.errors[0].message
