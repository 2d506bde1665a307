"""The embedded default: all four services as processes on this machine, with demo data.

`relint-stack run` migrates the SQLite databases, starts ingest, scoring, playbook and the
gateway, issues a demo partner key, loads the demo company, prints where to look, and stops
everything on Ctrl-C. A service that dies is reported with the end of its log, and the
others are stopped, never left running half a platform. The end-to-end tests use the same
`Stack` on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

import httpx
from prometheus_client.parser import text_string_to_metric_families

SERVICES = ("scoring", "playbook", "ingest", "gateway")
DATABASE_SERVICES = ("ingest", "scoring", "playbook")
DEFAULT_HTTP = {"gateway": 8000, "ingest": 8001, "scoring": 8002, "playbook": 8003}
DEFAULT_GRPC = {"gateway": 50050, "ingest": 50051, "scoring": 50052, "playbook": 50053}


class StackError(RuntimeError):
    pass


# Where free_port looks: from here up to the start of the kernel's range for outgoing
# connections' local ports.
LOWEST_FREE_PORT = 20_000


def free_port() -> int:
    """A port free now, for a service to bind a little later. Not one the kernel would pick
    (`bind(0)`): that range is also where every outgoing connection gets its local port, and
    one did take a scoring's gRPC port between choosing and binding it (a fault test failed
    to start). Below that range, only another caller of this function can take it: it picks
    at random, never the same port twice in a process (two services of one stack were once
    given the same), and each pytest-xdist worker (PYTEST_XDIST_WORKER=gwN) from its own
    share of the range, so that two test stacks starting together cannot pick alike."""
    low, high = _share(LOWEST_FREE_PORT, _outgoing_ports_start())
    for _ in range(200):
        port = random.randrange(low, high)  # noqa: S311 (not a secret)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            _HANDED_OUT.add(port)
            return port
    raise StackError(f"no free port between {low} and {high}")


_HANDED_OUT: set[int] = set()
_WORKER_SHARES = 8


def _share(low: int, high: int) -> tuple[int, int]:
    """This process's part of [low, high): all of it, or a pytest-xdist worker's eighth."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or not worker[2:].isdigit():
        return low, high
    size = (high - low) // _WORKER_SHARES
    start = low + (int(worker[2:]) % _WORKER_SHARES) * size
    return start, start + size


def _outgoing_ports_start() -> int:
    """The first port of the kernel's range for outgoing connections (Linux's default, 32768,
    where it cannot be read)."""
    try:
        first = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768
    return max(first, LOWEST_FREE_PORT + 1_000)


@dataclass
class Stack:
    """Four service processes sharing one data directory and one set of ports."""

    data_dir: Path
    http_ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_HTTP))
    grpc_ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_GRPC))
    database_urls: dict[str, str] = field(default_factory=dict)
    redis_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @classmethod
    def on_free_ports(cls, data_dir: Path, **kwargs: object) -> Stack:
        return cls(
            data_dir,
            http_ports={s: free_port() for s in SERVICES},
            grpc_ports={s: free_port() for s in SERVICES},
            **kwargs,  # type: ignore[arg-type]
        )

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        for name in DATABASE_SERVICES:
            self.database_urls.setdefault(
                name, f"sqlite+aiosqlite:///{self.data_dir / f'{name}.db'}"
            )

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.http_ports[service]}"

    def grpc_target(self, service: str) -> str:
        return f"127.0.0.1:{self.grpc_ports[service]}"

    def env(self, service: str) -> dict[str, str]:
        prefix = service.upper() + "_"
        values = {
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.http_ports[service]),
            "GRPC_HOST": "127.0.0.1",
            "GRPC_PORT": str(self.grpc_ports[service]),
            "SHUTDOWN_GRACE_SECONDS": "5",
        }
        if service in self.database_urls:
            values["DATABASE_URL"] = self.database_urls[service]
        if self.redis_url:
            values["REDIS_URL"] = self.redis_url
        if service == "ingest":
            values["SUBSCRIBERS"] = (
                f"scoring={self.grpc_target('scoring')},playbook={self.grpc_target('playbook')}"
            )
            values["OUTBOX_POLL_SECONDS"] = "0.5"
        if service in ("scoring", "playbook"):
            values["INGEST_TARGET"] = self.grpc_target("ingest")
        if service == "playbook":
            values["SCORING_TARGET"] = self.grpc_target("scoring")
            # On one machine, webhook receivers are local: development only.
            values["WEBHOOKS_ALLOW_PRIVATE"] = "true"
        if service == "gateway":
            for upstream in ("ingest", "scoring", "playbook"):
                values[f"{upstream.upper()}_TARGET"] = self.grpc_target(upstream)
        environment = {k: v for k, v in os.environ.items() if not k.startswith(prefix)}
        environment.update({prefix + k: v for k, v in values.items()})
        environment.update(self.extra_env)
        environment["OTEL_SERVICE_NAME"] = service
        return environment

    def run_cli(self, service: str, *args: str) -> str:
        # Our own service modules with fixed arguments, never shell-interpreted.
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", service, *args],
            env=self.env(service),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if done.returncode != 0:
            raise StackError(f"{service} {' '.join(args)} failed:\n{done.stderr[-4000:]}")
        return done.stdout

    def migrate(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for service in DATABASE_SERVICES:
            self.run_cli(service, "migrate")

    def issue_key(self, tenant: str, partner: str, scopes: tuple[str, ...]) -> dict[str, object]:
        scope_args = [arg for scope in scopes for arg in ("--scope", scope)]
        out = self.run_cli(
            "ingest",
            "admin",
            "issue-key",
            "--tenant",
            tenant,
            "--partner",
            partner,
            "--create-tenant",  # the demo tenant is created with its first key
            *scope_args,
        )
        issued: dict[str, object] = json.loads(out.strip().splitlines()[-1])
        return issued

    def start(self) -> None:
        for service in SERVICES:
            self.start_service(service)

    def start_service(self, service: str) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{service}.log").open("ab") as log:
            self.processes[service] = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", service, "serve"],
                env=self.env(service),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the launcher, which stops them in order
            )

    def exited(self) -> dict[str, int]:
        return {
            name: code
            for name, process in self.processes.items()
            if (code := process.poll()) is not None
        }

    def log_tail(self, service: str, lines: int = 30) -> str:
        path = self.log_dir / f"{service}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        waiting = set(SERVICES)
        with httpx.Client(timeout=2.0) as client:
            while waiting:
                for name, code in self.exited().items():
                    raise StackError(
                        f"{name} exited with code {code} while starting; "
                        f"end of {self.log_dir / (name + '.log')}:\n{self.log_tail(name)}"
                    )
                for name in sorted(waiting):
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(self.url(name) + "/readyz").status_code == 200:
                            waiting.discard(name)
                if waiting and time.monotonic() > deadline:
                    raise StackError(
                        f"not ready after {timeout:.0f}s: {', '.join(sorted(waiting))}"
                    )
                if waiting:
                    time.sleep(0.2)

    def stop(self, timeout: float = 20.0) -> dict[str, int]:
        """SIGTERM to every service (the gateway first), then SIGKILL to any still running."""
        for name in reversed(SERVICES):
            process = self.processes.get(name)
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        codes: dict[str, int] = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait()
        self.processes.clear()
        return codes

    @contextlib.contextmanager
    def running(self, timeout: float = 60.0) -> Iterator[Stack]:
        self.start()
        try:
            self.wait_ready(timeout)
            yield self
        finally:
            self.stop()


def metric(stack: Stack, service: str, sample: str, **labels: str) -> float:
    """The sum of a service's `sample` (its name as /metrics writes it, say
    `relint_outbox_delivered_total`) over the series with these labels; 0 when none."""
    text = httpx.get(stack.url(service) + "/metrics", timeout=5).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


def delivered_to(stack: Stack, subscriber: str) -> float:
    """How many interactions ingest's relay has delivered to `subscriber`."""
    return metric(stack, "ingest", "relint_outbox_delivered_total", subscriber=subscriber)


EXAMPLE_QUERY = """query Customer360 {
  customer(externalId: "%s") {
    name
    interactionCount
    relationship {
      value trend relationshipType typeReason stage stageReason comingApart
      explanation { sentence }
    }
    alerts(limit: 3) { kind severity reason }
    nextBestActions(limit: 3) { title reason }
    playbook { standards { title } violations { standardTitle reason } }
    recentInteractions(limit: 3) { occurredAt channel kind text }
  }
  worklist(team: "sales", limit: 5) { title reason }
}"""


def _banner(stack: Stack, key: str, external_id: str) -> str:
    query = EXAMPLE_QUERY % external_id
    body = json.dumps({"query": query})
    return f"""
relint is running on the embedded default (SQLite in {stack.data_dir}).

  Console             {stack.url("gateway")}/console#key={key}
  GraphQL playground  {stack.url("gateway")}/graphql
  Ingest API (docs)   {stack.url("ingest")}/docs
  Scoring API (docs)  {stack.url("scoring")}/docs
  Playbook API (docs) {stack.url("playbook")}/docs
  Logs                {stack.log_dir}

Demo partner API key (scopes ingest:write graph:read graph:write):
  {key}
In the playground, set the header:  {{"Authorization": "Bearer {key}"}}

Example query (types appear about 30 s after loading, stages as the stream settles):
{query}

Or from a shell:
  curl -s {stack.url("gateway")}/graphql -H 'Authorization: Bearer {key}' \\
       -H 'Content-Type: application/json' -d '{body}'

Ctrl-C stops everything.
"""


def _demo_key(stack: Stack) -> str:
    """The demo key, issued once per data directory and kept there for the next run.

    Only for the embedded development default: the database holds just its hash.
    """
    path = stack.data_dir / "demo-key.json"
    if path.exists():
        return str(json.loads(path.read_text())["api_key"])
    issued = stack.issue_key("demo", "demo-crm", ("ingest:write", "graph:read", "graph:write"))
    path.write_text(json.dumps(issued))
    path.chmod(0o600)
    return str(issued["api_key"])


def _load_demo(stack: Stack, key: str, customers: int, seed: int) -> None:
    from relint_devstack.demo import DemoConfig
    from relint_devstack.demo_cli import load

    marker = stack.data_dir / f"demo-loaded-{customers}-{seed}"
    if marker.exists():
        print(f"demo data already loaded ({customers} customers, seed {seed})")
        return
    print(f"loading demo data: {customers} customers over the last two years, seed {seed} ...")
    # The two years end yesterday, so that the demo company is current: stages, silences and
    # alerts are judged against today as they would be for a live tenant.
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=731)
    report = load(stack.url("ingest"), key, DemoConfig(customers=customers, seed=seed, start=start))
    if report.rejected:
        raise StackError(f"the demo loader had {report.rejected} items rejected")
    marker.write_text(json.dumps({"accepted": report.accepted}))
    deadline = time.monotonic() + 300
    while delivered_to(stack, "scoring") < report.accepted and time.monotonic() < deadline:
        time.sleep(0.5)
    print(f"loaded {report.accepted} interactions in {report.seconds:.1f}s; scoring caught up")


def _run(args: argparse.Namespace) -> int:
    stack = Stack(Path(args.data_dir))
    print("migrating the SQLite databases ...")
    stack.migrate()
    key = _demo_key(stack)
    print("starting ingest, scoring, playbook and gateway ...")
    stopping = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    stack.start()
    try:
        stack.wait_ready()
        if args.customers > 0:
            _load_demo(stack, key, args.customers, args.seed)
        print(_banner(stack, key, "cust-00001"), flush=True)
        while not stopping:
            crashed = stack.exited()
            if crashed:
                for name, code in crashed.items():
                    print(
                        f"\n{name} exited unexpectedly with code {code}. End of its log:\n"
                        f"{stack.log_tail(name)}\n",
                        file=sys.stderr,
                    )
                print("stopping the other services.", file=sys.stderr)
                return 1
            time.sleep(0.5)
        print("\nstopping ...")
        return 0
    except StackError as error:
        print(f"\n{error}", file=sys.stderr)
        return 1
    finally:
        codes = stack.stop()
        unclean = {n: c for n, c in codes.items() if c not in (0, -signal.SIGTERM)}
        if unclean and not stopping:
            print(f"exit codes: {unclean}", file=sys.stderr)
        print("stopped.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="relint-stack", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the whole platform with demo data")
    run.add_argument("--data-dir", default="var", help="SQLite files, logs and the demo key")
    run.add_argument("--customers", type=int, default=200, help="demo customers (0: none)")
    run.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    sys.exit(_run(args))


if __name__ == "__main__":
    main()
