"""`relint-demo generate | load`: write the simulated company to files, or push it to ingest.

The loader sends batches within ingest's limits (1,000 items, under 512 KB), a few at a
time, and retries what the server asks to retry (429 with Retry-After, 5xx, lost
connections); ingest's idempotency on source ids makes every retry and re-run safe.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from relint_devstack.demo import DemoConfig, generate, write_jsonl

MAX_ITEMS = 1000
MAX_BYTES = 450_000  # under ingest's 512 KB batch limit, with room for the envelope
MAX_REASONS = 5
ATTEMPTS = 8  # for server errors and lost connections
RATE_LIMIT_WAIT = 600.0  # seconds a batch may spend waiting out 429s before giving up
MAX_DELAY = 10.0


@dataclass
class LoadReport:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    seconds: float = 0.0
    retries: int = 0
    rejections: list[str] = field(default_factory=list)  # the first few reasons


class LoadError(RuntimeError):
    pass


def batches(items: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Groups items into batches of at most MAX_ITEMS and MAX_BYTES of JSON."""
    batch: list[dict[str, Any]] = []
    size = 0
    for item in items:
        item_size = len(json.dumps(item, separators=(",", ":"))) + 1
        if batch and (len(batch) == MAX_ITEMS or size + item_size > MAX_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch


def _retry_after(reply: httpx.Response) -> float | None:
    try:
        return max(0.0, float(reply.headers.get("retry-after", "")))
    except ValueError:
        return None


def _count(body: dict[str, Any], batch: list[dict[str, Any]], report: LoadReport) -> None:
    report.accepted += body["accepted"]
    report.duplicates += body["duplicates"]
    report.rejected += body["rejected"]
    for result in body["results"]:
        if result["status"] == "rejected" and len(report.rejections) < MAX_REASONS:
            index = result["index"]
            source_id = batch[index].get("source_id") if 0 <= index < len(batch) else None
            errors = "; ".join(f"{e['path']}: {e['message']}" for e in result["errors"])
            report.rejections.append(f"{source_id or f'item {index}'}: {errors}")


async def _send(client: httpx.AsyncClient, batch: list[dict[str, Any]], report: LoadReport) -> None:
    """Posts one batch until ingest has judged every item in it.

    429s are waited out as Retry-After asks, up to RATE_LIMIT_WAIT in all; 5xx answers and
    lost connections are retried ATTEMPTS times with exponential backoff; any other answer
    (a bad key, a malformed batch) cannot be fixed by retrying and stops the load.
    """
    delay, failures, waited = 0.2, 0, 0.0
    while True:
        try:
            reply = await client.post("/v1/interactions:batch", json={"interactions": batch})
        except httpx.TransportError as error:
            problem, pause, limited = f"{type(error).__name__}: {error}", None, False
        else:
            if reply.status_code == 200:
                _count(reply.json(), batch, report)
                return
            if reply.status_code != 429 and reply.status_code < 500:
                raise LoadError(f"ingest answered {reply.status_code}: {reply.text[:500]}")
            problem, pause = f"HTTP {reply.status_code}", _retry_after(reply)
            limited = reply.status_code == 429
        if limited:
            if pause is None:
                pause, delay = delay, min(delay * 2, MAX_DELAY)
            pause = max(pause, 0.05)
            if waited + pause > RATE_LIMIT_WAIT:
                raise LoadError(f"still rate limited after waiting {waited:.0f}s")
            report.retries += 1
            waited += pause
            await asyncio.sleep(pause)
            continue
        failures += 1
        if failures == ATTEMPTS:
            raise LoadError(f"gave up on a batch after {ATTEMPTS} attempts: {problem}")
        report.retries += 1
        await asyncio.sleep(delay if pause is None else max(delay, pause))
        delay = min(delay * 2, MAX_DELAY)


async def load_async(
    ingest_url: str,
    api_key: str,
    items: Iterable[dict[str, Any]],
    concurrency: int = 4,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LoadReport:
    report = LoadReport()
    started = time.perf_counter()
    slots = asyncio.Semaphore(concurrency)
    pending: set[asyncio.Task[None]] = set()

    async def send(batch: list[dict[str, Any]]) -> None:
        try:
            await _send(client, batch, report)
        finally:
            slots.release()

    async with httpx.AsyncClient(
        base_url=ingest_url,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=60.0,
        transport=transport,
    ) as client:
        try:
            for batch in batches(items):
                await slots.acquire()
                # A batch that failed for good stops the load (its error is raised here).
                for done in [t for t in pending if t.done()]:
                    pending.discard(done)
                    done.result()
                pending.add(asyncio.create_task(send(batch)))
            await asyncio.gather(*pending)
            pending.clear()
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
    report.seconds = time.perf_counter() - started
    return report


def load(ingest_url: str, api_key: str, config: DemoConfig, concurrency: int = 4) -> LoadReport:
    """Generates the demo company for `config` and pushes it to ingest."""
    _, items = generate(config)
    return asyncio.run(load_async(ingest_url, api_key, items, concurrency))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="relint-demo", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("generate", "write the interactions as JSON lines (and the hidden truth as JSON)"),
        ("load", "push the interactions to a running ingest service"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--customers", type=int, default=200)
        command.add_argument("--seed", type=int, default=7)
    generate_command = commands.choices["generate"]
    generate_command.add_argument("--out", type=Path, required=True)
    generate_command.add_argument("--truth", type=Path)
    load_command = commands.choices["load"]
    load_command.add_argument("--ingest-url", default="http://127.0.0.1:8001")
    load_command.add_argument("--api-key", required=True, help="a key with ingest:write")
    load_command.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)

    config = DemoConfig(customers=args.customers, seed=args.seed)
    if args.command == "generate":
        started = time.perf_counter()
        count = write_jsonl(config, args.out, args.truth)
        print(f"wrote {count} interactions to {args.out} in {time.perf_counter() - started:.1f}s")
        return
    try:
        report = load(args.ingest_url, args.api_key, config, args.concurrency)
    except LoadError as error:
        sys.exit(f"load failed: {error}")
    print(
        f"accepted {report.accepted}, duplicates {report.duplicates}, "
        f"rejected {report.rejected} in {report.seconds:.1f}s ({report.retries} retries)"
    )
    for reason in report.rejections:
        print(f"  rejected: {reason}")
    if report.rejected:
        sys.exit(1)
