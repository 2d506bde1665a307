"""The key-verification cache: one lookup per key per TTL, forgotten on revocation."""

from __future__ import annotations

import asyncio

from relint.auth import KeyCache, Principal

ALICE = Principal("t1", "p1", frozenset({"ingest:write"}), "k1")


async def test_answers_are_cached_until_forgotten_or_expired() -> None:
    calls: list[str] = []

    async def verify(key: str) -> Principal | None:
        calls.append(key)
        return ALICE if key == "good" else None

    cache = KeyCache(ttl=0.2)
    assert await cache.get_or_verify("good", verify) == ALICE
    assert await cache.get_or_verify("good", verify) == ALICE
    assert await cache.get_or_verify("bad", verify) is None
    assert await cache.get_or_verify("bad", verify) is None
    assert calls == ["good", "bad"]
    cache.forget(lambda p: p.key_id == "k1")
    await cache.get_or_verify("good", verify)
    assert calls == ["good", "bad", "good"]
    await asyncio.sleep(0.25)
    await cache.get_or_verify("bad", verify)
    assert calls == ["good", "bad", "good", "bad"]


async def test_no_ttl_means_no_cache() -> None:
    calls: list[str] = []

    async def verify(key: str) -> Principal | None:
        calls.append(key)
        return ALICE

    cache = KeyCache(ttl=0)
    for _ in range(3):
        await cache.get_or_verify("good", verify)
    assert len(calls) == 3
