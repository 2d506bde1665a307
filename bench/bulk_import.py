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
import uuid
from pathlib import Path

import psycopg

from relint_devstack.demo import DemoConfig, write_jsonl

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


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
        database = f"relint_bulk_{uuid.uuid4().hex[:8]}"
        if args.postgres:
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{database}"')
            url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
        else:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'ingest.db'}"
        env = {**os.environ, "INGEST_DATABASE_URL": url, "INGEST_LOG_LEVEL": "warning"}
        try:
            ingest(env, "migrate")
            ingest(env, "admin", "issue-key", "--tenant", "bench", "--partner", "bench")
            first_seconds, first = timed_import(env, data)
            again_seconds, again = timed_import(env, data)
        finally:
            if args.postgres:
                with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    store = "PostgreSQL" if args.postgres else "SQLite (embedded default)"
    print(f"store: {store}; {rows} rows ({args.customers} demo customers)")
    print(f"first import   {first_seconds:7.1f}s  {rows / first_seconds:8.0f} rows/s  {first}")
    print(f"re-run         {again_seconds:7.1f}s  {rows / again_seconds:8.0f} rows/s  {again}")


if __name__ == "__main__":
    main()
