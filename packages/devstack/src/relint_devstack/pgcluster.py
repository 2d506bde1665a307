"""A throw-away PostgreSQL server of its own, for fault tests that stop and restart it while
the rest of the machine's tests keep using the shared one.

The cluster is made with this machine's server binaries (/usr/lib/postgresql/*/bin), trusts
every local connection, listens only on 127.0.0.1 on a free port, keeps its unix socket in
its own directory and does not fsync. As root (CI containers), initdb and the server refuse
to run, so both run as the `postgres` OS user, in a directory that user can reach.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from relint_devstack.launcher import free_port

SERVER_USER = "postgres"
COMMAND_TIMEOUT = 120.0
# A unix socket's path has room for 107 bytes; "/socket/.s.PGSQL.65535" takes 22 of them.
SOCKET_ROOM = 80


class ClusterError(RuntimeError):
    pass


def server_binaries() -> Path:
    """The newest installed server's bin directory (initdb, pg_ctl)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda path: [int(p) if p.isdigit() else 0 for p in Path(path).parts[-3].split(".")],
    )
    if not found and (on_path := shutil.which("pg_ctl")):
        found = [on_path]
    if not found:
        raise ClusterError("no PostgreSQL server binaries (pg_ctl, initdb) on this machine")
    return Path(found[-1]).parent


@dataclass
class PrivateCluster:
    """One running server: its files under `root`, its port, and how to stop and start it."""

    root: Path
    port: int
    bin_dir: Path
    run_as: str | None = None  # the OS user the server runs as, when we are root
    down_seconds: float = 2.0  # how long restart() keeps the server away

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Creates an empty database and returns its SQLAlchemy URL."""
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def start(self) -> None:
        self._pg_ctl("start", "-l", str(self.log_file))

    def stop(self, mode: str = "fast") -> None:
        """Stops the server; `fast` cuts every connection, `immediate` does not even
        checkpoint (as a crash would)."""
        self._pg_ctl("stop", "-m", mode)

    def restart(self, down_seconds: float | None = None) -> None:
        """Cuts every connection and brings the server back: with a pause of `down_seconds`
        (default: the cluster's own) while it is away, or at once with 0."""
        pause = self.down_seconds if down_seconds is None else down_seconds
        if pause <= 0:
            self._pg_ctl("restart", "-m", "fast", "-l", str(self.log_file))
            return
        self.stop("fast")
        time.sleep(pause)
        self.start()

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_file.exists():
            return "(no server log)"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def _pg_ctl(self, action: str, *args: str) -> None:
        self.run("pg_ctl", action, "-D", str(self.data_dir), "-w", "-t", "60", *args)

    def run(self, program: str, *args: str) -> str:
        """Runs one of the server's programs, as the server's user."""
        command = [str(self.bin_dir / program), *args]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        # Fixed programs from the server's bin directory with our own arguments, no shell.
        done = subprocess.run(  # noqa: S603
            command,
            cwd=self.root,  # the server's user may not be able to read the caller's directory
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise ClusterError(
                f"{program} {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}\n{self.log_tail()}"
            )
        return done.stdout


def _reachable(path: Path, user: str) -> bool:
    """Whether `user` can write in `path` (every directory above it must let them pass)."""
    # Fixed programs, our own arguments, no shell.
    probe = subprocess.run(  # noqa: S603
        ["runuser", "-u", user, "--", "test", "-w", str(path), "-a", "-x", str(path)],  # noqa: S607
        check=False,
        capture_output=True,
        timeout=30,
    )
    return probe.returncode == 0


@contextlib.contextmanager
def private_postgres(base_dir: Path, down_seconds: float = 2.0) -> Iterator[PrivateCluster]:
    """A new, running cluster in `base_dir`, stopped (immediately) and removed on exit.

    As root, the server runs as the `postgres` user and `base_dir` is handed to that user.
    If that user cannot reach `base_dir` (pytest's temporary directories are private to
    root), or its path is too long for a unix socket, the cluster lives in a fresh temporary
    directory of its own instead, removed on exit as well.
    """
    bin_dir = server_binaries()
    run_as = SERVER_USER if os.geteuid() == 0 else None
    base_dir.mkdir(parents=True, exist_ok=True)
    root = base_dir.resolve()
    if run_as is not None:
        shutil.chown(root, run_as, run_as)
    if (run_as is not None and not _reachable(root, run_as)) or len(str(root)) > SOCKET_ROOM:
        root = Path(tempfile.mkdtemp(prefix="relint-pg-"))
        if run_as is not None:
            shutil.chown(root, run_as, run_as)
    cluster = PrivateCluster(root, free_port(), bin_dir, run_as, down_seconds)
    try:
        cluster.socket_dir.mkdir(mode=0o700)
        if run_as is not None:
            shutil.chown(cluster.socket_dir, run_as, run_as)
        cluster.run(
            "initdb", "-D", str(cluster.data_dir), "-A", "trust", "-U", "postgres", "--no-sync"
        )
        with (cluster.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# relint private cluster\n"
                f"port = {cluster.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{cluster.socket_dir}'\n"
                "fsync = off\n"
                "max_connections = 200\n"
            )
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(ClusterError, subprocess.TimeoutExpired):
            if (cluster.data_dir / "postmaster.pid").exists():
                cluster.stop("immediate")
        shutil.rmtree(cluster.data_dir, ignore_errors=True)
        shutil.rmtree(cluster.socket_dir, ignore_errors=True)
        cluster.log_file.unlink(missing_ok=True)
        if root != base_dir.resolve():
            shutil.rmtree(root, ignore_errors=True)
