"""Batches of one tenant sent together, as a partner's loader sends them (four in flight):
`IngestService.record`, which stores a tenant's batches one at a time in the process, beside
`IngestService.store` called concurrently (what `record` did before 2026-12-06), in the same
run on the same PostgreSQL server. The demo company's first load, in time order, so that
batches in flight meet the same new customers: concurrent writers collide on the customers'
unique keys and the loser judges its whole batch again.

In process (no HTTP, no rate limit, batches validated beforehand), so that the figure is the
service's own: items/s, CPU a stored item, and how many times a batch was judged.

    uv run python bench/ingest_together.py [--customers 1000] [--items 60000] [--in-flight 4]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from ingest.main import MIGRATIONS
from ingest.schemas import InteractionIn
from ingest.service import IngestService
from relint.db import Database, migrate
from relint.errors import WriteContention
from relint_devstack.demo import DemoConfig, generate
from relint_devstack.scratch import scratch_databases

BATCH = 1000


async def load(url: str, items: list[InteractionIn], in_flight: int, how: str) -> str:
    db = Database(url)
    service = IngestService(db, key_pepper="bench", subscribers=["scoring", "playbook"])
    tenant = (await service.create_tenant_key(how, "bench", ["ingest:write"])).tenant_id
    indexed = list(enumerate(items))
    batches = [indexed[n : n + BATCH] for n in range(0, len(indexed), BATCH)]
    judged = 0
    judge = IngestService._record

    async def counted(self: IngestService, *args: Any) -> Any:
        nonlocal judged
        judged += 1
        return await judge(self, *args)

    IngestService._record = counted  # type: ignore[method-assign,assignment]
    write = service.record if how == "record" else service.store
    slots = asyncio.Semaphore(in_flight)
    failed = 0

    async def send(batch: list[tuple[int, InteractionIn]]) -> None:
        nonlocal failed
        async with slots:
            try:
                await write(tenant, batch)
            except WriteContention:
                failed += 1

    started, cpu = time.perf_counter(), time.process_time()
    try:
        await asyncio.gather(*(send(batch) for batch in batches))
    finally:
        IngestService._record = judge  # type: ignore[method-assign]
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    await db.dispose()
    stored = len(items) - failed * BATCH  # a failed batch stored nothing
    return (
        f"{stored / seconds:9.0f} items/s  {cpu * 1e6 / max(stored, 1):6.1f} µs CPU a stored "
        f"item  {judged:4d} judgements of {len(batches)} batches  {failed} failed whole"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--items", type=int, default=60_000)
    parser.add_argument("--in-flight", type=int, default=4)
    args = parser.parse_args()
    _, stream = generate(DemoConfig(customers=args.customers, seed=7))
    raw = [item for _, item in zip(range(args.items), stream, strict=False)]
    items = [InteractionIn.model_validate(item) for item in raw]
    print(f"PostgreSQL; the first {len(items)} of the demo company's interactions")
    print(f"({args.customers} customers), batches of {BATCH:,}, {args.in_flight} in flight")
    for how in ("store", "record"):
        with scratch_databases("relint_together", ("ingest",)) as urls:
            migrate(MIGRATIONS, urls["ingest"])
            line = asyncio.run(load(urls["ingest"], items, args.in_flight, how))
        label = "store, concurrently " if how == "store" else "record, one at a time"
        print(f"{label}  {line}")


if __name__ == "__main__":
    main()
