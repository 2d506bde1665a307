"""The shared gRPC server: a call that finds its store away is answered UNAVAILABLE (which
the shared channels retry), not UNKNOWN; a value the store refuses INVALID_ARGUMENT; and
every other failure keeps its own status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from sqlalchemy.exc import DataError, OperationalError

from relint.grpc_client import open_channel
from relint.grpc_server import GrpcServer

METHOD = "/relint.test.Probe/Call"


class _Probe:
    """A unary method answering its request's bytes; the first `failures` calls fail with
    `error`."""

    def __init__(self) -> None:
        self.calls = 0
        self.failures = 0
        self.error: Exception = OperationalError("SELECT 1", {}, Exception("server closed"))

    async def call(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return request

    def register(self, server: grpc.aio.Server) -> None:
        handler = grpc.method_handlers_generic_handler(
            "relint.test.Probe", {"Call": grpc.unary_unary_rpc_method_handler(self.call)}
        )
        server.add_generic_rpc_handlers((handler,))


@pytest.fixture
async def probe() -> AsyncIterator[tuple[_Probe, str]]:
    found = _Probe()
    server = GrpcServer("127.0.0.1", 0)
    server.add(found.register, ["relint.test.Probe"])
    port = await server.start()
    await server.mark_serving()
    try:
        yield found, f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


async def _call(target: str, *, retries: bool) -> Any:
    channel = (
        open_channel(target, own_connection=True)
        if retries
        else grpc.aio.insecure_channel(target, options=[("grpc.enable_retries", 0)])
    )
    async with channel:
        return await channel.unary_unary(METHOD)(b"ping", timeout=5)


async def test_a_store_away_is_unavailable_and_the_shared_channel_retries(
    probe: tuple[_Probe, str],
) -> None:
    found, target = probe
    found.failures = 1
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _call(target, retries=False)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert refused.value.details() == "a store this service needs is unavailable"
    # The channels every service opens retry UNAVAILABLE: a dropped connection is one retry.
    found.calls, found.failures = 0, 1
    assert await _call(target, retries=True) == b"ping"
    assert found.calls == 2


async def test_other_failures_are_not_retried(probe: tuple[_Probe, str]) -> None:
    found, target = probe
    found.failures, found.error = 1, ValueError("a bug")
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await _call(target, retries=True)
    assert failed.value.code() == grpc.StatusCode.UNKNOWN
    assert found.calls == 1


async def test_a_value_the_store_refuses_is_an_invalid_argument_not_retried(
    probe: tuple[_Probe, str],
) -> None:
    found, target = probe
    refusal = Exception("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    found.failures, found.error = 1, DataError("INSERT", {}, refusal)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _call(target, retries=True)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == (
        "a value cannot be stored: PostgreSQL text fields cannot contain NUL (0x00) bytes"
    )
    assert found.calls == 1
