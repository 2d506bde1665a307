"""Redis for the services that are configured with one: connection and readiness check."""

from __future__ import annotations

from redis.asyncio import Redis


def connect_redis(url: str) -> Redis:
    return Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)


async def ping(client: Redis) -> None:
    if not await client.ping():
        raise ConnectionError("redis did not answer PING")
