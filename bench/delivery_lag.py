"""Delivery lag: from accepted by ingest to applied in scoring, at a steady offered load.

The four services run as processes on PostgreSQL + Redis (or SQLite with --sqlite); a paced
sender offers `--rate` interactions a second in batches of 100 for `--seconds`; afterwards
each interaction's `received_at` (ingest's database) is joined with its `applied_at`
(scoring's database) and the distribution printed (goal: p99 under 1 s at 1,000/s).

    uv run python bench/delivery_lag.py [--rate 1000] [--seconds 20] [--sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from relint_devstack.demo import DemoConfig, generate
from relint_devstack.launcher import DATABASE_SERVICES, Stack, delivered_to
from relint_devstack.scratch import scratch_databases

REDIS_URL = "redis://127.0.0.1:6379/13"
BATCH = 100


async def offer(url: str, key: str, items: list[dict[str, Any]], rate: float) -> float:
    """Sends batches of BATCH on a fixed schedule; returns the achieved rate."""
    interval = BATCH / rate
    started = time.perf_counter()
    sent = 0
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        pending: set[asyncio.Task[httpx.Response]] = set()
        for n, start in enumerate(range(0, len(items), BATCH)):
            due = started + n * interval
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            batch = {"interactions": items[start : start + BATCH]}
            task = asyncio.create_task(client.post("/v1/interactions:batch", json=batch))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += len(batch["interactions"])
        for reply in await asyncio.gather(*pending):
            reply.raise_for_status()
    return sent / (time.perf_counter() - started)


def rows(url: str, query: str) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split("///", 1)[1]) as connection:
            return connection.execute(query).fetchall()
    with psycopg.connect(url.replace("+psycopg", "")) as connection:
        return connection.execute(query).fetchall()


def moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def run(args: argparse.Namespace, data_dir: Path, urls: dict[str, str] | None) -> None:
    _, stream = generate(DemoConfig(customers=max(50, args.rate * args.seconds // 180), seed=3))
    items = [item for _, item in zip(range(int(args.rate * args.seconds)), stream, strict=False)]
    stack = Stack.on_free_ports(
        data_dir, **({"database_urls": urls, "redis_url": REDIS_URL} if urls else {})
    )
    stack.migrate()
    key = str(stack.issue_key("lag", "lag", ("ingest:write",))["api_key"])
    with stack.running():
        achieved = asyncio.run(offer(stack.url("ingest"), key, items, args.rate))
        deadline = time.monotonic() + 300
        while delivered_to(stack, "scoring") < len(items) and time.monotonic() < deadline:
            time.sleep(0.2)
    received = dict(rows(stack.database_urls["ingest"], "SELECT id, received_at FROM interaction"))
    applied = rows(
        stack.database_urls["scoring"], "SELECT interaction_id, applied_at FROM applied_interaction"
    )
    lags = sorted(
        (moment(at) - moment(received[i])).total_seconds() for i, at in applied if i in received
    )
    quantiles = statistics.quantiles(lags, n=100)
    store = "PostgreSQL + Redis" if urls else "SQLite (embedded default)"
    print(f"store: {store}; offered {args.rate}/s for {args.seconds}s, achieved {achieved:.0f}/s")
    print(f"applied {len(lags)} of {len(items)}")
    print(
        f"lag accepted -> applied: p50 {quantiles[49] * 1000:.0f} ms, p95 "
        f"{quantiles[94] * 1000:.0f} ms, p99 {quantiles[98] * 1000:.0f} ms, "
        f"max {lags[-1] * 1000:.0f} ms   (goal: p99 < 1,000 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relint-lag-") as tmp:
        if args.sqlite:
            run(args, Path(tmp), None)
        else:
            with scratch_databases("relint_lag", DATABASE_SERVICES) as urls:
                run(args, Path(tmp), urls)


if __name__ == "__main__":
    main()
