import pytest
from redis.asyncio import Redis

from relint.ratelimit import RateLimiter


async def test_memory_limiter_allows_up_to_the_limit() -> None:
    limiter = RateLimiter(limit=5, window_seconds=60)
    assert (await limiter.hit("a", 4)).allowed
    decision = await limiter.hit("a", 1)
    assert decision.allowed
    assert decision.remaining == 0
    refused = await limiter.hit("a", 1)
    assert not refused.allowed
    assert 1 <= refused.retry_after <= 60
    assert (await limiter.hit("b", 5)).allowed


async def test_redis_limiter_is_shared_between_instances(redis_url: str) -> None:
    first = Redis.from_url(redis_url)
    second = Redis.from_url(redis_url)
    try:
        a = RateLimiter(limit=3, window_seconds=60, redis=first)
        b = RateLimiter(limit=3, window_seconds=60, redis=second)
        assert (await a.hit("partner", 2)).allowed
        assert (await b.hit("partner", 1)).allowed
        assert not (await a.hit("partner", 1)).allowed
        ttl = await first.ttl(next(iter(await first.keys("relint:ratelimit:partner:*"))))
        assert 0 < ttl <= 61
    finally:
        await first.aclose()
        await second.aclose()


@pytest.mark.parametrize("cost", [0, 1])
async def test_zero_cost_does_not_consume(cost: int) -> None:
    limiter = RateLimiter(limit=1)
    await limiter.hit("a", cost)
    assert (await limiter.hit("a", 1)).allowed is (cost == 0)
