"""Redis for the services that are configured with one: connection and readiness check."""

from __future__ import annotations

from redis.asyncio import Redis


def connect_redis(url: str) -> Redis:
    return Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)


async def ping(client: Redis) -> None:
    if not await client.ping():
        raise ConnectionError("redis did not answer PING")


def database_channel(client: Redis | None, name: str) -> str:
    """A pub/sub channel of this deployment: `<name>:<database>`. Pub/sub spans a Redis
    server's databases, so deployments sharing a server apart from it (a database each)
    would otherwise hear each other's messages."""
    database = client.connection_pool.connection_kwargs.get("db", 0) if client else 0
    return f"{name}:{database}"
