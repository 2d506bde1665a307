"""A throw-away PostgreSQL server of its own, for fault tests that stop and restart it while
the rest of the machine's tests keep using the shared one."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from relint_devstack.launcher import free_port


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        found = [p for p in (shutil.which("pg_ctl"),) if p]
    if not found:
        raise RuntimeError("no PostgreSQL server binaries (pg_ctl) on this machine")
    return Path(found[-1]).parent


@dataclass
class PrivateCluster:
    data: Path
    port: int
    bin: Path
    as_postgres: bool

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:  # the server refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)  # noqa: S603

    def start(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.data / "server.log"), "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, down_seconds: float = 2.0) -> None:
        """Stops the server (connections are cut), waits, and starts it again."""
        self.stop("fast")
        time.sleep(down_seconds)
        self.start()

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def private_postgres() -> Iterator[PrivateCluster]:
    """A new cluster in a fresh temporary directory on a free port (trust auth, local
    only), removed after. As root, the server runs as the `postgres` user, which needs a
    directory it can reach: hence its own, not the caller's temporary path."""
    binaries = _binaries()
    data = Path(tempfile.mkdtemp(prefix="relint-pg-"))
    as_postgres = os.geteuid() == 0
    if as_postgres:
        shutil.chown(data, "postgres")
    cluster = PrivateCluster(data, free_port(), binaries, as_postgres)
    cluster._run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            f"\nport = {cluster.port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{data}'\nfsync = off\nautovacuum = off\n"
        )
    cluster.start()
    try:
        yield cluster
    finally:
        try:
            cluster.stop("immediate")
        finally:
            shutil.rmtree(data, ignore_errors=True)
