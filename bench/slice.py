"""The slice's speed with the four services as processes: ingest one-by-one against batches,
outbox delivery to scoring, and a page of 100 customers through the gateway.

    uv run python bench/slice.py                    # embedded default (SQLite)
    uv run python bench/slice.py --postgres         # PostgreSQL + Redis on 127.0.0.1
    uv run python bench/slice.py --customers 500 --singles 300

Prints figures and the batch/single ratio measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from relint_devstack.demo import DemoConfig, generate
from relint_devstack.launcher import DATABASE_SERVICES, Stack, delivered_to
from relint_devstack.scratch import scratch_databases

REDIS_URL = "redis://127.0.0.1:6379/14"
PAGE_QUERY = """{ customers(first: 100) { edges { node { externalId
  relationship { value interactionCount } recentInteractions(limit: 3) { kind } } } } }"""


def post_singles(client: httpx.Client, items: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for item in items:
        reply = client.post("/v1/interactions", json=item)
        assert reply.status_code in (200, 201), reply.text
    return time.perf_counter() - started


def post_batches(client: httpx.Client, items: list[dict[str, Any]], size: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(items), size):
        reply = client.post(
            "/v1/interactions:batch", json={"interactions": items[start : start + size]}
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["rejected"] == 0, reply.text
    return time.perf_counter() - started


def wait_delivered(stack: Stack, count: int, timeout: float = 600) -> float:
    started = time.perf_counter()
    while delivered_to(stack, "scoring") < count:
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"scoring received {delivered_to(stack, 'scoring')} of {count}")
        time.sleep(0.05)
    return time.perf_counter() - started


def page_latencies(stack: Stack, key: str, rounds: int) -> list[float]:
    timings = []
    with httpx.Client(base_url=stack.url("gateway"), timeout=30) as client:
        headers = {"Authorization": f"Bearer {key}"}
        for _ in range(rounds):
            started = time.perf_counter()
            reply = client.post("/graphql", json={"query": PAGE_QUERY}, headers=headers)
            timings.append(time.perf_counter() - started)
            body = reply.json()
            assert "errors" not in body, body
            assert len(body["data"]["customers"]["edges"]) == 100
    return timings


def run(args: argparse.Namespace, data_dir: Path, urls: dict[str, str] | None) -> None:
    _, stream = generate(DemoConfig(customers=args.customers, seed=args.seed))
    items = list(stream)
    singles, batched = items[: args.singles], items[args.singles :]
    stack = Stack.on_free_ports(
        data_dir,
        **({"database_urls": urls, "redis_url": REDIS_URL} if urls else {}),
    )
    stack.migrate()
    key = str(stack.issue_key("bench", "bench", ("ingest:write", "graph:read"))["api_key"])
    with (
        stack.running(),
        httpx.Client(
            base_url=stack.url("ingest"), headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as client,
    ):
        single_seconds = post_singles(client, singles)
        batch_seconds = post_batches(client, batched, args.batch_size)
        delivery_seconds = wait_delivered(stack, len(items))
        page_latencies(stack, key, 3)  # warm the caches and connections
        latencies = page_latencies(stack, key, args.rounds)

    single_rate = len(singles) / single_seconds
    batch_rate = len(batched) / batch_seconds
    store = "PostgreSQL + Redis" if urls else "SQLite (embedded default)"
    quantiles = statistics.quantiles(latencies, n=20)
    print(f"store: {store}; {args.customers} demo customers, {len(items)} interactions")
    print(f"ingest one by one      {len(singles):>7} items  {single_rate:>9.0f} items/s")
    print(
        f"ingest batches of {args.batch_size:<4} {len(batched):>7} items  "
        f"{batch_rate:>9.0f} items/s"
    )
    print(f"batch / single ratio   {batch_rate / single_rate:>9.1f}x")
    print(
        f"delivered to scoring   {len(items):>7} items  "
        f"{delivery_seconds:>8.1f}s after the last POST (outbox relay + scoring apply)"
    )
    print(
        f"gateway customers(first: 100) with relationship and 3 interactions: "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, p95 {quantiles[18] * 1000:.0f} ms "
        f"over {args.rounds} rounds"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--singles", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relint-bench-") as tmp:
        if args.postgres:
            with scratch_databases("relint_bench", DATABASE_SERVICES) as urls:
                run(args, Path(tmp), urls)
        else:
            run(args, Path(tmp), None)


if __name__ == "__main__":
    main()
