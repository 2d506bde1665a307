"""`ingest import` speed: the demo company's history as JSON lines, imported into SQLite
(embedded default) or PostgreSQL, rows per second end to end (read, validate, store with
outbox entries). Then the same file again: a re-run that finds everything stored.

    uv run python bench/bulk_import.py --customers 500
    uv run python bench/bulk_import.py --customers 500 --postgres
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from relint_devstack.demo import DemoConfig, write_jsonl
from relint_devstack.scratch import scratch_databases


def ingest(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ingest", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1):
        raise SystemExit(done.stderr[-3000:])
    return done.stdout.strip().splitlines()[-1]


def timed_import(env: dict[str, str], path: Path) -> tuple[float, str]:
    started = time.perf_counter()
    summary = ingest(env, "import", str(path), "--tenant", "bench")
    return time.perf_counter() - started, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relint-bulk-") as tmp:
        data = Path(tmp) / "history.jsonl"
        rows = write_jsonl(DemoConfig(customers=args.customers, seed=7), data)
        with ExitStack() as cleanup:
            if args.postgres:
                url = cleanup.enter_context(scratch_databases("relint_bulk", ("ingest",)))["ingest"]
            else:
                url = f"sqlite+aiosqlite:///{Path(tmp) / 'ingest.db'}"
            env = {**os.environ, "INGEST_DATABASE_URL": url, "INGEST_LOG_LEVEL": "warning"}
            ingest(env, "migrate")
            ingest(env, "admin", "issue-key", "--tenant", "bench", "--partner", "bench")
            first_seconds, first = timed_import(env, data)
            again_seconds, again = timed_import(env, data)
    store = "PostgreSQL" if args.postgres else "SQLite (embedded default)"
    print(f"store: {store}; {rows} rows ({args.customers} demo customers)")
    print(f"first import   {first_seconds:7.1f}s  {rows / first_seconds:8.0f} rows/s  {first}")
    print(f"re-run         {again_seconds:7.1f}s  {rows / again_seconds:8.0f} rows/s  {again}")


if __name__ == "__main__":
    main()
