"""What one gRPC hop costs in CPU, before any work: the floor under every batch RPC the
gateway makes (issue 6, "Speed": the customer-360 makes four).

An echo RPC (the request's bytes sent back, no protobuf, no database) served in a process of
its own, called by 16 concurrent clients in this one through the services' own channel
(`relint.grpc_client.open_channel`), three ways: a bare `grpc.aio` server; the services'
server (`relint.grpc_server.GrpcServer`, with the metrics interceptor every service runs);
and a bare synchronous `grpc.server` with a thread pool, for comparison. The CPU of each
side is read from /proc around the measured calls.

    uv run python bench/grpc_floor.py [--calls 20000] [--payload 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from concurrent import futures
from pathlib import Path

import grpc

from relint.grpc_client import open_channel
from relint.grpc_server import GrpcServer
from relint_devstack.launcher import free_port

CONCURRENCY = 16
METHOD = "/bench.Echo/Echo"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _echo_handlers(handler: object) -> grpc.GenericRpcHandler:
    rpc = grpc.unary_unary_rpc_method_handler(
        handler,  # type: ignore[arg-type]
        request_deserializer=lambda b: b,
        response_serializer=lambda b: b,
    )
    return grpc.method_handlers_generic_handler("bench.Echo", {"Echo": rpc})


async def _echo(request: bytes, context: object) -> bytes:
    return request


def _echo_sync(request: bytes, context: object) -> bytes:
    return request


async def _serve_async(port: int, relint_server: bool) -> None:
    if relint_server:
        server = GrpcServer("127.0.0.1", port)
        server.add(lambda s: s.add_generic_rpc_handlers((_echo_handlers(_echo),)), [])
        await server.start()
        await server.mark_serving()
        await server.server.wait_for_termination()
    else:
        bare = grpc.aio.server()
        bare.add_generic_rpc_handlers((_echo_handlers(_echo),))
        bare.add_insecure_port(f"127.0.0.1:{port}")
        await bare.start()
        await bare.wait_for_termination()


def _serve_sync(port: int) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=CONCURRENCY))
    server.add_generic_rpc_handlers((_echo_handlers(_echo_sync),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


def _cpu_seconds(pid: int) -> float:
    # utime and stime, the 14th and 15th fields, after the command name in parentheses.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def _measure(port: int, server_pid: int, calls: int, payload: bytes) -> tuple[float, ...]:
    channel = open_channel(f"127.0.0.1:{port}")
    call = channel.unary_unary(
        METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b
    )
    for _ in range(50):  # the server is up when a call is answered
        try:
            await call(payload, timeout=2, wait_for_ready=True)
            break
        except grpc.aio.AioRpcError:
            await asyncio.sleep(0.2)
    for _ in range(500):
        await call(payload, timeout=2)

    async def client() -> None:
        for _ in range(calls // CONCURRENCY):
            await call(payload, timeout=2)

    server_before, started, cpu = _cpu_seconds(server_pid), time.perf_counter(), time.process_time()
    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    wall, client_cpu = time.perf_counter() - started, time.process_time() - cpu
    server_cpu = _cpu_seconds(server_pid) - server_before
    await channel.close()
    done = calls // CONCURRENCY * CONCURRENCY
    return done / wall, client_cpu / done * 1e6, server_cpu / done * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--payload", type=int, default=2_000, help="bytes each way")
    parser.add_argument("--serve", choices=("bare", "relint", "sync"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "sync":
        _serve_sync(args.port)
        return
    if args.serve is not None:
        asyncio.run(_serve_async(args.port, args.serve == "relint"))
        return

    payload = b"x" * args.payload
    floors: list[float] = []
    print(
        f"echo RPC, {args.payload:,} bytes each way, {CONCURRENCY} concurrent calls, "
        f"{args.calls:,} calls; CPU per call (us)"
    )
    print(f"  {'server':<44} {'calls/s':>8} {'client':>7} {'server':>7} {'both':>7}")
    for kind, label in (
        ("bare", "grpc.aio, bare"),
        ("relint", "grpc.aio, the services' (metrics interceptor)"),
        ("sync", "grpc sync, thread pool (comparison)"),
    ):
        port = free_port()
        server = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port)])
        try:
            rate, client_us, server_us = asyncio.run(
                _measure(port, server.pid, args.calls, payload)
            )
        finally:
            server.terminate()
            server.wait()
        print(
            f"  {label:<44} {rate:>8,.0f} {client_us:>7.0f} {server_us:>7.0f} "
            f"{client_us + server_us:>7.0f}"
        )
        floors.append(client_us + server_us)
    # Little's law: 16 clients each waiting at most ~25 ms is ~640 queries a second; the
    # machine's cores give each query at most cores / 640 seconds of CPU, for everything.
    cores = os.cpu_count() or 1
    budget_ms = cores / (CONCURRENCY / 0.025) * 1e3
    print(
        f"customer-360 (4 RPCs): the services' hops alone {4 * floors[1] / 1e3:.1f} ms of CPU a "
        f"query; what p95 < 25 ms at {CONCURRENCY} clients leaves on {cores} cores: "
        f"{budget_ms:.1f} ms a query for everything"
    )


if __name__ == "__main__":
    main()
