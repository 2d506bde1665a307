"""Ingest's API against its baselines, measured in the same run on the same machine:

1. batch ingest into PostgreSQL through the HTTP API (interactions/s) beside the raw
   `COPY` rate of the same rows into a table of the same structure (goal: >= 0.5), and,
   for the floor under the API's own writes, the rate of COPYing each row with the outbox
   entries an accepted interaction also writes (one per subscriber);
2. single-interaction POSTs from 32 concurrent clients (requests/s, p99) beside a bare
   FastAPI endpoint that parses the same body and does nothing else (goal: >= 0.3, p99
   under 100 ms);
3. and, without a goal, the relay's catch-up: no subscriber runs during the bench, so every
   accepted interaction waits in the outbox, as after an outage; the scoring subscriber's
   backlog is then drained through the relay's own reads and acknowledgements (pages of
   500, a send that does nothing).

    uv run python bench/ingest_api.py [--customers 300] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

from ingest.service import IngestService
from relint.db import Database
from relint_devstack.demo import DemoConfig, generate
from relint_devstack.demo_cli import load_async
from relint_devstack.launcher import Stack, free_port
from relint_devstack.scratch import scratch_databases

BARE_APP = """
from fastapi import FastAPI, status
from ingest.schemas import InteractionIn
app = FastAPI()
@app.post("/v1/interactions", status_code=status.HTTP_201_CREATED)
async def record(interaction: InteractionIn) -> dict[str, str]:
    return {"status": "accepted"}
"""


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url} exited while starting")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} not up after 30 s")


async def hammer(url: str, key: str, items: list[dict[str, Any]], seconds: float) -> list[float]:
    """32 clients POST one interaction at a time for `seconds`; returns the latencies."""
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    counter = iter(range(10**9))
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30, limits=limits
    ) as client:

        async def one_client() -> None:
            while time.monotonic() < stop:
                n = next(counter)
                body = {**items[n % len(items)], "source_id": f"single-{uuid.uuid4().hex}"}
                started = time.perf_counter()
                reply = await client.post("/v1/interactions", json=body)
                latencies.append(time.perf_counter() - started)
                if reply.status_code not in (200, 201):
                    raise SystemExit(f"{reply.status_code}: {reply.text[:300]}")

        await asyncio.gather(*(one_client() for _ in range(32)))
    return latencies


WRK_SCRIPT = """
local counter = 0
local thread_id = 0
local customers = 300
function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end
request = function()
  counter = counter + 1
  local body = string.format(
    '{"customer":{"external_id":"cust-%05d"},"occurred_at":"2026-03-04T10:15:00+01:00",' ..
    '"channel":"service","kind":"ticket_opened","direction":"inbound","sentiment":-0.5,' ..
    '"source":"wrk","source_id":"wrk-%s-%d-%d"}',
    counter % customers, RUN, tid, counter)
  return wrk.format("POST", "/v1/interactions", HEADERS, body)
end
"""

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk_run(url: str, key: str, seconds: float) -> tuple[float, float] | None:
    """The same load from `wrk` (C, 2 threads, 32 connections), if it is installed: a client
    that is not itself the bottleneck. Returns (requests/s, p99 ms)."""
    if shutil.which("wrk") is None:
        return None
    headers = '{["Authorization"] = "Bearer ' + key + '", ["Content-Type"] = "application/json"}'
    script = f'RUN = "{uuid.uuid4().hex[:8]}"\nHEADERS = {headers}\n' + WRK_SCRIPT
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{int(seconds)}s", "--latency", "-s", handle.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(handle.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw failures:\n{out}")
    return rps, float(value) * _UNITS[unit]


async def drain(url: str, subscriber: str) -> tuple[int, float]:
    """Drains the subscriber's backlog as the relay does, with a send that does nothing;
    (entries, seconds)."""
    db = Database(url)
    service = IngestService(db, key_pepper="bench", subscribers=[subscriber])

    async def send(_batch: Any) -> None:
        return None

    drained, started = 0, time.perf_counter()
    while done := await service.deliver_next(subscriber, send, 500):
        drained += done
    seconds = time.perf_counter() - started
    await db.dispose()
    return drained, seconds


def copy_in(db: psycopg.Connection[Any], rows: bytes, count: int, entries: bytes = b"") -> float:
    """Interactions a second: `rows` COPYed into a fresh table of the interaction table's
    structure, and `entries` (if any) into one of the outbox's, in one transaction."""
    db.execute("DROP TABLE IF EXISTS interaction_raw, outbox_raw")
    db.execute("CREATE TABLE interaction_raw (LIKE interaction INCLUDING ALL)")
    db.execute("CREATE TABLE outbox_raw (LIKE outbox_entry INCLUDING ALL)")
    db.commit()
    started = time.perf_counter()
    with db.cursor().copy("COPY interaction_raw FROM STDIN") as copy:
        copy.write(rows)
    if entries:
        columns = "(subscriber, interaction_id, created_at)"
        with db.cursor().copy(f"COPY outbox_raw {columns} FROM STDIN") as copy:
            copy.write(entries)
    db.commit()
    return count / (time.perf_counter() - started)


def summary(latencies: list[float], seconds: float) -> tuple[float, float]:
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000
    return len(latencies) / seconds, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    _, stream = generate(DemoConfig(customers=args.customers, seed=7))
    items = list(stream)
    with scratch_databases("relint_apibench", ("ingest",)) as urls:
        url = urls["ingest"]
        with tempfile.TemporaryDirectory(prefix="relint-apibench-") as tmp:
            stack = Stack.on_free_ports(Path(tmp), database_urls={"ingest": url})
            stack.run_cli("ingest", "migrate")
            key = str(stack.issue_key("bench", "bench", ("ingest:write",))["api_key"])
            env = {**stack.env("ingest"), "INGEST_LOG_LEVEL": "warning"}
            ingest = subprocess.Popen(
                [sys.executable, "-m", "ingest", "serve"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_ready(stack.url("ingest") + "/healthz", ingest)
                report = asyncio.run(load_async(stack.url("ingest"), key, items, concurrency=4))
                api_rate = report.accepted / report.seconds
                latencies = asyncio.run(hammer(stack.url("ingest"), key, items, args.seconds))
                ingest_rps, ingest_p99 = summary(latencies, args.seconds)
                ingest_wrk = wrk_run(stack.url("ingest"), key, args.seconds)
            finally:
                ingest.terminate()
                ingest.wait(30)

            bare_port = free_port()
            (Path(tmp) / "bare_app.py").write_text(BARE_APP)
            bare = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "bare_app:app",
                    "--port",
                    str(bare_port),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                cwd=tmp,
                env={**os.environ, "PYTHONPATH": tmp},
            )
            try:
                bare_url = f"http://127.0.0.1:{bare_port}"
                wait_ready(bare_url + "/docs", bare)
                latencies = asyncio.run(hammer(bare_url, key, items, args.seconds))
                bare_rps, bare_p99 = summary(latencies, args.seconds)
                bare_wrk = wrk_run(bare_url, key, args.seconds)
            finally:
                bare.terminate()
                bare.wait(30)

        drained, drain_seconds = asyncio.run(drain(url, "scoring"))
        with psycopg.connect(url.replace("+psycopg", "")) as db:
            with db.cursor().copy("COPY interaction TO STDOUT") as copy:
                rows = b"".join(bytes(chunk) for chunk in copy)
            count = db.execute("SELECT count(*) FROM interaction").fetchone()
            copy_rate = copy_in(db, rows, count[0] if count else 0)
            # What an accepted interaction writes besides itself: one outbox entry per
            # subscriber. COPYing that too is the floor under the API's own writes.
            outbox = "COPY outbox_entry (subscriber, interaction_id, created_at)"
            with db.cursor().copy(outbox + " TO STDOUT") as copy:
                entries = b"".join(bytes(chunk) for chunk in copy)
            floor_rate = copy_in(db, rows, count[0] if count else 0, entries)

    print(f"PostgreSQL; {len(items)} demo interactions ({args.customers} customers)")
    print(f"batch API          {api_rate:9.0f} interactions/s (batches of 1,000, 4 in flight)")
    print(f"raw COPY           {copy_rate:9.0f} rows/s into a table of the same structure")
    print(f"API / COPY         {api_rate / copy_rate:9.3f}   (goal >= 0.5)")
    print(
        f"raw COPY + outbox  {floor_rate:9.0f} interactions/s, each with its outbox entries "
        f"(the rows the API writes; {floor_rate / copy_rate:.2f} of COPY alone)"
    )
    print(f"single POST, 32 clients: ingest {ingest_rps:6.0f} req/s p99 {ingest_p99:6.1f} ms")
    print(f"                         bare   {bare_rps:6.0f} req/s p99 {bare_p99:6.1f} ms")
    print(f"ingest / bare      {ingest_rps / bare_rps:9.3f}   (goal >= 0.3, p99 < 100 ms)")
    if ingest_wrk and bare_wrk:
        print(f"with wrk (-t2 -c32): ingest {ingest_wrk[0]:6.0f} req/s p99 {ingest_wrk[1]:6.1f} ms")
        print(f"                     bare   {bare_wrk[0]:6.0f} req/s p99 {bare_wrk[1]:6.1f} ms")
        print(
            f"ingest / bare      {ingest_wrk[0] / bare_wrk[0]:9.3f}   (goal >= 0.3, p99 < 100 ms)"
        )
    else:
        print("(install wrk, e.g. `apt-get install wrk`, for a client that is not the bottleneck)")
    print(
        f"relay catch-up     {drained / drain_seconds:9.0f} entries/s ({drained:,} waiting for "
        f"a subscriber that was away, drained in {drain_seconds:.1f} s)"
    )


if __name__ == "__main__":
    main()
