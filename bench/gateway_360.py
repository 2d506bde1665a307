"""The gateway's speed on the production stack (issue 6, "Speed"): a customer-360 query at
16 concurrent clients, the same query through the same schema with in-process resolvers,
and a page of 100 customers.

    uv run python bench/gateway_360.py                      # 300 demo customers, 15 s a run
    uv run python bench/gateway_360.py --customers 500 --seconds 30
    uv run python bench/gateway_360.py --profile /tmp/gw    # and where the gateway's time goes

The four services run as processes on PostgreSQL (a scratch database each) and Redis, on
free ports. The HTTP load comes from `wrk` (Debian's package), a separate C process with one
thread and 16 connections, so the load generator is not what is measured. The in-process run
answers every RPC from data captured once from the real services: no HTTP, no gRPC, no
database, only Strawberry and the gateway's resolvers and DataLoaders.

    uv run python bench/gateway_360.py --writes-per-second 20

records 20 interactions a second (single POSTs to ingest) during each customer-360 run on
the stack, so that relationships, playbooks and the gateway's entity cache change under the
load as they do in production.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import redis

from gateway.backends import Backends, CustomersFound
from gateway.context import GatewayContext
from gateway.entity_cache import Kind
from gateway.schema import schema
from relint.auth import SCOPE_GRAPH_READ, Principal
from relint.cli import freeze_startup_heap
from relint.contracts.ingest.v1 import ingest_pb2
from relint.contracts.playbook.v1 import playbook_pb2
from relint.contracts.scoring.v1 import scoring_pb2
from relint_devstack.demo import DemoConfig
from relint_devstack.demo_cli import load
from relint_devstack.launcher import DATABASE_SERVICES, SERVICES, Stack, delivered_to, metric
from relint_devstack.scratch import scratch_databases

REDIS_URL = "redis://127.0.0.1:6379/13"
CONCURRENCY = 16
RECENT = 20
P95_GOAL_MS = 25.0
RATIO_GOAL = 0.5
PAGE_P95_GOAL_MS = 100.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# The customer-360 query asks for RECENT interactions (the number is written out in it).
QUERY_360 = """query Customer360($externalId: String!) {
  customer(externalId: $externalId) {
    id name externalId interactionCount lastSeenAt
    relationship { value relationshipType stage comingApart risk riskReasons lastInteractionAt }
    recentInteractions(limit: 20) {
      id occurredAt channel kind direction sentiment amount amountType employee text
    }
    nextBestActions(limit: 3) { kind title reason urgency dueAt }
    violations { id standardTitle team reason dueAt detectedAt }
  }
}"""

QUERY_PAGE = """{ customers(first: 100) { edges { node { name
  relationship { value stage risk } nextBestActions(limit: 1) { title } } } } }"""

# wrk's Lua side: one pre-formatted request per customer, picked at random; a reply that is
# not 200 or carries GraphQL errors counts as bad; the summary is one JSON line.
WRK_SCRIPT = """
local bodies = %(bodies)s
local prepared = {}
bad = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for i, body in ipairs(bodies) do
    prepared[i] = wrk.format("POST", "/graphql", {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer %(key)s",
    }, body)
  end
  math.randomseed(%(seed)d)
end

function request()
  return prepared[math.random(#prepared)]
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total_bad = 0
  for _, thread in ipairs(threads) do
    total_bad = total_bad + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p95_us": %%d, "p99_us": %%d, '
    .. '"max_us": %%d, "bad": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, total_bad,
    e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class Figures:
    """One load run: how many queries, how fast, and how long they took."""

    label: str
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    # CPU of the process that executed the queries, per query, where it was measured.
    cpu_ms: float | None = None
    # Replies that were errors (HTTP status, GraphQL errors, sockets).
    failed: int = 0

    @property
    def throughput(self) -> float:
        """Good answers a second."""
        return (self.requests - self.failed) / self.seconds


def _quantiles(label: str, latencies: Sequence[float], seconds: float) -> Figures:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Figures(
        label,
        len(latencies),
        seconds,
        statistics.median(latencies) * 1000,
        cuts[94] * 1000,
        cuts[98] * 1000,
    )


# ---------------------------------------------------------------- the stack and its data


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLOCK_TICKS, sum(values) / CLOCK_TICKS


# Gateway processes beyond the stack's own, sharing its ports (GATEWAY_REUSE_PORT), as the
# production overlay's replicas would share a Service.
REPLICAS: list[subprocess.Popen[bytes]] = []


def service_cpu(stack: Stack) -> dict[str, float]:
    """CPU seconds so far of each service's processes (the gateway's replicas summed)."""
    used = {name: cpu_seconds(p.pid) for name, p in stack.processes.items()}
    used["gateway"] += sum(cpu_seconds(p.pid) for p in REPLICAS)
    return used


def start_replicas(stack: Stack, count: int) -> None:
    """`count` gateway processes in all: the stack's own and `count - 1` more."""
    with (stack.log_dir / "gateway-replicas.log").open("ab") as log:
        for _ in range(count - 1):
            REPLICAS.append(
                subprocess.Popen(
                    [sys.executable, "-m", "gateway", "serve"],
                    env=stack.env("gateway"),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    time.sleep(5.0)  # they share the port: readiness cannot tell them apart
    for replica in REPLICAS:
        if replica.poll() is not None:
            raise RuntimeError(f"a gateway replica exited ({replica.returncode}); see logs")


def stop_replicas() -> None:
    for replica in REPLICAS:
        replica.send_signal(signal.SIGTERM)
    for replica in REPLICAS:
        replica.wait(30)
    REPLICAS.clear()


def wait_quiet(stack: Stack, timeout: float, share: float = 0.10) -> None:
    """Waits until the services together use under `share` of a core over 2 s (scoring's
    stage worker and the playbook's judge have settled); gives up after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = sum(service_cpu(stack).values())
        time.sleep(2.0)
        if sum(service_cpu(stack).values()) - before < 2.0 * share:
            print(f"  the services were quiet {time.monotonic() - started:.0f} s later")
            return
    print(f"  the services were still busy {timeout:.0f} s later; measuring anyway")


def load_demo(stack: Stack, key: str, customers: int, seed: int) -> int:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    config = DemoConfig(customers=customers, seed=seed, start=today - timedelta(days=731))
    report = load(stack.url("ingest"), key, config)
    if report.rejected:
        raise RuntimeError(f"the demo loader had {report.rejected} items rejected")
    deadline = time.monotonic() + 900
    for subscriber in ("scoring", "playbook"):
        while delivered_to(stack, subscriber) < report.accepted:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{subscriber} did not receive every interaction in time")
            time.sleep(0.5)
    return report.accepted


# ---------------------------------------------------------------- data captured once


@dataclass
class Captured:
    """What the real services answered for every demo customer, once."""

    tenant_id: str
    customers: list[ingest_pb2.Customer]
    pages: dict[str, ingest_pb2.ListCustomersResponse]
    relationships: dict[str, scoring_pb2.Relationship]
    recent: dict[str, list[ingest_pb2.Interaction]]
    playbooks: dict[str, playbook_pb2.CustomerPlaybook]
    standards: dict[str, playbook_pb2.Standard]


def _chunks(items: Sequence[str], size: int = 200) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def capture(stack: Stack, tenant_id: str) -> Captured:
    backends = Backends(
        stack.grpc_target("ingest"), stack.grpc_target("scoring"), stack.grpc_target("playbook")
    )
    try:
        pages: dict[str, ingest_pb2.ListCustomersResponse] = {}
        customers: list[ingest_pb2.Customer] = []
        token = ""
        while True:
            page = await backends.list_customers(tenant_id, 100, token)
            pages[token] = page
            customers.extend(page.customers)
            token = page.next_page_token
            if not token:
                break
        ids = [c.id for c in customers]
        relationships: dict[str, scoring_pb2.Relationship] = {}
        recent: dict[str, list[ingest_pb2.Interaction]] = defaultdict(list)
        playbooks: dict[str, playbook_pb2.CustomerPlaybook] = {}
        standards: dict[str, playbook_pb2.Standard] = {}
        for chunk in _chunks(ids):
            for r in await backends.relationships_of(tenant_id, chunk):
                relationships[r.customer_id] = r
            for item in await backends.recent_interactions(tenant_id, chunk, RECENT):
                recent[item.customer_id].append(item)
            reply = await backends.customer_playbooks(tenant_id, chunk, 50)
            playbooks.update((p.customer_id, p) for p in reply.customers)
            standards.update((s.key, s) for s in reply.standards)
        return Captured(
            tenant_id, customers, pages, relationships, dict(recent), playbooks, standards
        )
    finally:
        await backends.close()


class CapturedBackends:
    """The gateway's Backends answered from captured data: what the loaders call, with the
    same signatures and the same kind of answers, without a network."""

    def __init__(self, captured: Captured) -> None:
        self._data = captured
        self._by_id = {c.id: c for c in captured.customers}
        self._by_ref = {c.external_id: c for c in captured.customers}

    def _tenant(self, tenant_id: str) -> None:
        if tenant_id != self._data.tenant_id:
            raise ValueError(f"captured for tenant {self._data.tenant_id}, asked {tenant_id}")

    async def customers_by_id(
        self, tenant_id: str, ids: Sequence[str], recent: int = 0
    ) -> CustomersFound:
        found = [self._by_id[i] for i in ids if i in self._by_id]
        return await self._with_recent(tenant_id, found, recent)

    async def customers_by_external_id(
        self, tenant_id: str, external_ids: Sequence[str], recent: int = 0
    ) -> CustomersFound:
        found = [self._by_ref[r] for r in external_ids if r in self._by_ref]
        return await self._with_recent(tenant_id, found, recent)

    async def _with_recent(
        self, tenant_id: str, found: list[ingest_pb2.Customer], recent: int
    ) -> CustomersFound:
        self._tenant(tenant_id)
        ids = [c.id for c in found]
        return CustomersFound(
            found, await self.recent_interactions(tenant_id, ids, recent) if recent else []
        )

    async def list_customers(
        self, tenant_id: str, page_size: int, page_token: str, query: str = ""
    ) -> ingest_pb2.ListCustomersResponse:
        self._tenant(tenant_id)
        if page_size != 100 or page_token not in self._data.pages or query:
            raise ValueError("captured pages of 100 from the start, without a search, only")
        return self._data.pages[page_token]

    async def recent_interactions(
        self, tenant_id: str, customer_ids: Sequence[str], limit: int
    ) -> list[ingest_pb2.Interaction]:
        self._tenant(tenant_id)
        if limit > RECENT:
            raise ValueError(f"captured {RECENT} interactions per customer, asked {limit}")
        return [m for i in customer_ids for m in self._data.recent.get(i, [])[:limit]]

    async def relationships_of(
        self, tenant_id: str, customer_ids: Sequence[str], as_of: datetime | None = None
    ) -> list[scoring_pb2.Relationship]:
        self._tenant(tenant_id)
        if as_of is not None:
            raise ValueError("captured the relationships of now only")
        found = self._data.relationships
        return [found[i] for i in customer_ids if i in found]

    async def customer_playbooks(
        self,
        tenant_id: str,
        customer_ids: Sequence[str],
        actions_limit: int,
        outlooks: Sequence[playbook_pb2.CustomerOutlook] | None = None,
    ) -> playbook_pb2.BatchGetCustomerPlaybooksResponse:
        self._tenant(tenant_id)
        found = [self._data.playbooks[i] for i in customer_ids if i in self._data.playbooks]
        named = {k for p in found for k in p.applicable_standard_keys}
        return playbook_pb2.BatchGetCustomerPlaybooksResponse(
            customers=found, standards=[self._data.standards[k] for k in sorted(named)]
        )


# ---------------------------------------------------------------- the two ways to run it


def run_wrk(stack: Stack, key: str, bodies: list[str], seconds: float, seed: int) -> Figures:
    """`wrk` with one thread and 16 connections; also says how much CPU wrk itself used."""
    lua_bodies = "{\n" + ",\n".join(_lua_string(b) for b in bodies) + "\n}"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % {"bodies": lua_bodies, "key": key, "seed": seed})
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            [
                _wrk(),
                "-t1",
                f"-c{CONCURRENCY}",
                f"-d{seconds:.0f}s",
                "--timeout",
                "10s",
                "-s",
                script.name,
                stack.url("gateway") + "/graphql",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        os.unlink(script.name)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("WRK ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = json.loads(lines[-1][4:])
    failed = int(result["bad"]) + int(result["socket_errors"])
    wrk_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    seconds_run = result["duration_us"] / 1e6
    print(f"  wrk used {wrk_cpu / seconds_run:.0%} of one core for {result['requests']} requests")
    if result["requests"] == 0:
        raise RuntimeError(
            f"no request answered ({result['socket_errors']} socket errors); {_state(stack)}"
        )
    if failed:
        # Counted, not fatal: an overloaded machine makes RPCs miss their deadlines, and the
        # run that shows it is still worth its figures. A run with failures misses its goals.
        print(
            f"  {result['bad']} replies were not 200 or carried GraphQL errors (upstream "
            f"deadlines), {result['socket_errors']} socket errors or timeouts"
        )
    return Figures(
        "stack",
        result["requests"],
        seconds_run,
        result["p50_us"] / 1000,
        result["p95_us"] / 1000,
        result["p99_us"] / 1000,
        failed=failed,
    )


def _wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is missing: apt-get install wrk (Debian's package)")
    return found


def _lua_string(text: str) -> str:
    # A Lua long string needs no escaping as long as its closing bracket cannot occur in it.
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


async def in_process(
    backends: CapturedBackends,
    principal: Principal,
    query: str,
    variables: Callable[[], dict[str, Any]],
    seconds: float,
    check: Callable[[dict[str, Any]], None],
) -> Figures:
    """`CONCURRENCY` clients calling `schema.execute` back to back for `seconds`."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            context = GatewayContext(backends=cast(Backends, backends), principal=principal)
            started = time.perf_counter()
            result = await schema.execute(query, variable_values=variables(), context_value=context)
            latencies.append(time.perf_counter() - started)
            if result.errors:
                raise RuntimeError(f"in-process errors: {result.errors}")
            check(cast(dict[str, Any], result.data))

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    figures = _quantiles("in process", latencies, time.perf_counter() - started)
    figures.cpu_ms = (time.process_time() - cpu) / len(latencies) * 1000
    return figures


def run_loop(coroutine: Awaitable[Any]) -> Any:
    """Runs on uvloop when it is there, as uvicorn runs the gateway."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(cast(Any, coroutine))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(cast(Any, coroutine))


def check_360(data: dict[str, Any]) -> None:
    customer = data["customer"]
    if customer is None or customer["relationship"] is None:
        raise RuntimeError(f"the 360 query found no customer or no relationship: {data}")


def check_page(data: dict[str, Any]) -> None:
    if len(data["customers"]["edges"]) != 100:
        raise RuntimeError("the page has fewer than 100 customers")


def _state(stack: Stack) -> str:
    """Which services exited (with their codes), and the end of every service's log."""
    return f"services that exited: {stack.exited() or 'none'}\n" + "\n".join(
        f"end of {name}'s log:\n{stack.log_tail(name)}" for name in stack.processes
    )


def page_latencies(stack: Stack, key: str, rounds: int) -> list[float]:
    """One client, one page after another; an error reply is fatal here (no load)."""
    timings = []
    with httpx.Client(base_url=stack.url("gateway"), timeout=30) as client:
        headers = {"Authorization": f"Bearer {key}"}
        for _ in range(rounds):
            started = time.perf_counter()
            try:
                reply = client.post("/graphql", json={"query": QUERY_PAGE}, headers=headers)
            except httpx.ConnectError as error:
                raise RuntimeError(f"the gateway is gone ({error}); {_state(stack)}") from error
            timings.append(time.perf_counter() - started)
            body = reply.json()
            if reply.status_code != 200 or "errors" in body:
                raise RuntimeError(f"page query failed: {reply.status_code} {body}")
            check_page(body["data"])
    return timings


async def sequential(
    backends: CapturedBackends, principal: Principal, query: str, rounds: int
) -> list[float]:
    timings = []
    for _ in range(rounds):
        context = GatewayContext(backends=cast(Backends, backends), principal=principal)
        started = time.perf_counter()
        result = await schema.execute(query, context_value=context)
        timings.append(time.perf_counter() - started)
        if result.errors:
            raise RuntimeError(f"in-process errors: {result.errors}")
        check_page(cast(dict[str, Any], result.data))
    return timings


# ---------------------------------------------------------------- where the time goes

CATEGORIES = (
    ("graphql-core", "/graphql/"),
    ("strawberry", "/strawberry/"),
    ("gateway code", "/gateway/"),
    ("grpc", "/grpc/"),
    ("protobuf", "/google/protobuf/"),
    ("HTTP: uvicorn, starlette, fastapi", ("/uvicorn/", "/starlette/", "/fastapi/", "/h11/")),
    ("asyncio and uvloop", ("/asyncio/", "uvloop")),
    ("json", "/json/"),
    ("opentelemetry", "/opentelemetry/"),
)


def category(filename: str) -> str:
    for name, needles in CATEGORIES:
        for needle in (needles,) if isinstance(needles, str) else needles:
            if needle in filename:
                return name
    if filename == "~":
        return "built-ins (C functions)"
    return "other Python"


def breakdown(stats: pstats.Stats, requests: int, out: Path, top: int = 25) -> None:
    """Own time by library, and the functions with the most own time, per request."""
    table: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    table = stats.stats  # type: ignore[attr-defined]
    by_category: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, own, _, _) in table.items():
        by_category[category(filename)] += own
    total = sum(by_category.values())
    print(f"  own time per request by library ({total / requests * 1000:.2f} ms in all):")
    for name, own in sorted(by_category.items(), key=lambda kv: -kv[1]):
        print(f"    {name:<36} {own / requests * 1000:6.2f} ms  {own / total:5.1%}")
    rows = sorted(table.items(), key=lambda kv: -kv[1][2])[:top]
    print(f"  the {top} functions with the most own time (ms per request, calls per request):")
    for (filename, line, function), (_, calls, own, cumulative, _) in rows:
        where = "/".join(Path(filename).parts[-2:]) if filename != "~" else ""
        print(
            f"    {own / requests * 1000:6.3f} own {cumulative / requests * 1000:7.3f} cum "
            f"{calls / requests:7.1f}x  {function} {where}:{line}"
        )
    stats.dump_stats(str(out))
    print(f"  full profile: {out} (python -m pstats {out})")


# The gateway as `gateway serve` runs it, with a profiler that SIGUSR1 starts and SIGUSR2
# stops and writes to argv[1]: start-up and warm-up stay out of the figures.
PROFILED_GATEWAY = """
import cProfile, signal, sys
profile = cProfile.Profile()
signal.signal(signal.SIGUSR1, lambda *_: profile.enable())
def write(*_):
    profile.disable()
    profile.dump_stats(sys.argv[1])
signal.signal(signal.SIGUSR2, write)
from gateway.cli import main
main(["serve"])
"""


def profile_gateway(
    stack: Stack, key: str, bodies: list[str], seconds: float, seed: int, out: Path
) -> None:
    """Restarts the gateway with a profiler, loads it with wrk, and reads the profile."""
    old = stack.processes["gateway"]
    old.send_signal(signal.SIGTERM)
    old.wait(30)
    raw = out.with_suffix(".raw")
    raw.unlink(missing_ok=True)
    with (stack.log_dir / "gateway-profiled.log").open("ab") as log:
        profiled = stack.processes["gateway"] = subprocess.Popen(
            [sys.executable, "-c", PROFILED_GATEWAY, str(raw)],
            env=stack.env("gateway"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack.wait_ready()
    run_wrk(stack, key, bodies, 3, seed)  # warm up, unprofiled
    profiled.send_signal(signal.SIGUSR1)
    figures = run_wrk(stack, key, bodies, seconds, seed)
    profiled.send_signal(signal.SIGUSR2)
    deadline = time.monotonic() + 30
    while not raw.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)  # the dump is written at once; let it finish
    print(
        f"  under cProfile: {figures.throughput:.0f} queries/s, p95 {figures.p95_ms:.1f} ms "
        "(the profiler slows Python code several times, C code not)"
    )
    if not raw.exists():
        raise RuntimeError(f"the profiled gateway wrote no profile; see {stack.log_dir}")
    stats = pstats.Stats(str(raw))
    raw.unlink()
    breakdown(stats, figures.requests, out)


async def upstream_latencies(stack: Stack, captured: Captured, rounds: int) -> None:
    """Each RPC the two queries make, alone, one at a time: the floor under the gateway."""
    backends = Backends(
        stack.grpc_target("ingest"), stack.grpc_target("scoring"), stack.grpc_target("playbook")
    )
    tenant = captured.tenant_id
    first_page = [c.id for c in captured.customers[:100]]
    rng = random.Random(3)
    calls: dict[str, Callable[[ingest_pb2.Customer], Awaitable[object]]] = {
        "ingest LookupCustomers (1)": lambda c: backends.customers_by_external_id(
            tenant, [c.external_id]
        ),
        f"ingest LookupCustomers (1, with its {RECENT} newest)": lambda c: (
            backends.customers_by_external_id(tenant, [c.external_id], RECENT)
        ),
        f"ingest BatchListRecentInteractions (1 x {RECENT})": lambda c: (
            backends.recent_interactions(tenant, [c.id], RECENT)
        ),
        "scoring BatchGetRelationships (1)": lambda c: backends.relationships_of(tenant, [c.id]),
        "playbook BatchGetCustomerPlaybooks (1)": lambda c: backends.customer_playbooks(
            tenant, [c.id], 50
        ),
        "ingest ListCustomers (100)": lambda c: backends.list_customers(tenant, 100, ""),
        "scoring BatchGetRelationships (100)": lambda c: backends.relationships_of(
            tenant, first_page
        ),
        "playbook BatchGetCustomerPlaybooks (100)": lambda c: backends.customer_playbooks(
            tenant, first_page, 50
        ),
    }
    try:
        print(f"  {'RPC, one at a time from this process':<48} {'p50 ms':>7} {'p95 ms':>7}")
        for name, call in calls.items():
            timings = []
            for n in range(rounds + 3):
                started = time.perf_counter()
                await call(rng.choice(captured.customers))
                if n >= 3:  # the first few warm the channel
                    timings.append(time.perf_counter() - started)
            cuts = statistics.quantiles(timings, n=20)
            print(f"  {name:<48} {statistics.median(timings) * 1000:>7.1f} {cuts[18] * 1000:>7.1f}")
    finally:
        await backends.close()


def profile_in_process(
    backends: CapturedBackends,
    principal: Principal,
    refs: list[str],
    rounds: int,
    out: Path,
) -> None:
    rng = random.Random(1)
    profiler = cProfile.Profile()

    async def drive() -> None:
        async def client(n: int) -> None:
            for _ in range(n):
                context = GatewayContext(backends=cast(Backends, backends), principal=principal)
                await schema.execute(
                    QUERY_360,
                    variable_values={"externalId": rng.choice(refs)},
                    context_value=context,
                )

        profiler.enable()
        await asyncio.gather(*(client(rounds // CONCURRENCY) for _ in range(CONCURRENCY)))
        profiler.disable()

    run_loop(drive())
    breakdown(pstats.Stats(profiler), rounds // CONCURRENCY * CONCURRENCY, out)


# ---------------------------------------------------------------- the run


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


@contextmanager
def writing(stack: Stack, key: str, refs: Sequence[str], per_second: float) -> Iterator[list[int]]:
    """While the block runs, a partner records `per_second` interactions a second (single
    POSTs to ingest, each for a customer at random: complaints, answers, calls), so that
    relationships and playbooks change under the load as they do in production. Gives
    [interactions accepted] once the block is done."""
    written = [0]
    if per_second <= 0:
        yield written
        return
    done = threading.Event()
    rng = random.Random(len(refs))
    kinds = [
        ("service", "complaint", -0.8),
        ("service", "ticket_resolved", 0.4),
        ("sales", "call", 0.3),
    ]

    def post() -> None:
        with httpx.Client(
            base_url=stack.url("ingest"), headers={"Authorization": f"Bearer {key}"}, timeout=10
        ) as client:
            next_at = time.monotonic()
            while not done.is_set():
                channel, kind, sentiment = rng.choice(kinds)
                reply = client.post(
                    "/v1/interactions",
                    json={
                        "customer": {"external_id": rng.choice(refs)},
                        "occurred_at": datetime.now(UTC).isoformat(),
                        "channel": channel,
                        "kind": kind,
                        "direction": "inbound",
                        "sentiment": sentiment,
                        "source": "bench360",
                    },
                )
                written[0] += reply.status_code == 201
                next_at += 1 / per_second
                done.wait(max(0.0, next_at - time.monotonic()))

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    try:
        yield written
    finally:
        done.set()
        thread.join(15)


def measure_stack(
    stack: Stack,
    key: str,
    bodies: list[str],
    refs: Sequence[str],
    args: argparse.Namespace,
    label: str,
) -> tuple[Figures, Figures]:
    """The customer-360 under wrk and the page of 100, on the running stack as it is, with
    `args.writes_per_second` interactions recorded meanwhile."""
    print(
        f"customer-360 over HTTP, {CONCURRENCY} connections, {args.seconds:.0f} s (wrk), "
        f"{label} ..."
    )
    run_wrk(stack, key, bodies, 3, args.seed)  # warm connections, caches and the key
    cpu_before, busy_before = service_cpu(stack), machine_busy()
    lookups_before = cache_lookups(stack)
    with writing(stack, key, refs, args.writes_per_second) as written:
        figures = run_wrk(stack, key, bodies, args.seconds, args.seed)
    if args.writes_per_second:
        print(f"  {written[0]} interactions recorded during the run")
    cpu_after, busy_after = service_cpu(stack), machine_busy()
    lookups_after = cache_lookups(stack)
    per_query = {
        name: (cpu_after[name] - cpu_before[name]) / figures.requests * 1000 for name in SERVICES
    }
    figures.cpu_ms = per_query["gateway"]
    busy = (busy_after[0] - busy_before[0]) / (busy_after[1] - busy_before[1])
    print(
        "  CPU per query: "
        + ", ".join(f"{name} {ms:.2f} ms" for name, ms in per_query.items())
        + f"; the machine was {busy:.0%} busy (2 cores: PostgreSQL, wrk, other work)"
    )
    hits = lookups_after["hit"] - lookups_before["hit"]
    stale = lookups_after["stale"] - lookups_before["stale"]
    misses = lookups_after["miss"] - lookups_before["miss"]
    lookups = hits + stale + misses
    if lookups and not REPLICAS:  # (one replica's /metrics at random otherwise)
        print(
            f"  entity cache: {hits / lookups:.1%} of {lookups:.0f} lookups hit, "
            f"{stale / lookups:.1%} answered stale while fetched again "
            f"({misses / figures.requests:.2f} misses a query); "
            f"{lookups_after['forgotten'] - lookups_before['forgotten']:.0f} customers "
            "forgotten as they changed"
        )
        print(
            "  misses by kind: "
            + ", ".join(
                f"{kind} {lookups_after[kind] - lookups_before[kind]:.0f}" for kind in CACHE_KINDS
            )
        )
    print(f"customers(first: 100) over HTTP, one client, {args.page_rounds} rounds, {label} ...")
    page_latencies(stack, key, 3)
    started = time.perf_counter()
    page = _quantiles(
        "stack", page_latencies(stack, key, args.page_rounds), time.perf_counter() - started
    )
    return figures, page


CACHE_KINDS = tuple(kind.value for kind in Kind)


def cache_lookups(stack: Stack) -> dict[str, float]:
    """The gateway's entity cache lookups so far, by result (hit, stale, miss), its misses by
    kind, and the customers it forgot."""
    lookups = "relint_gateway_entity_cache_lookups_total"
    return {
        "hit": metric(stack, "gateway", lookups, result="hit"),
        "miss": metric(stack, "gateway", lookups, result="miss"),
        "stale": metric(stack, "gateway", lookups, result="stale"),
        **{
            kind: metric(stack, "gateway", lookups, result="miss", kind=kind)
            for kind in CACHE_KINDS
        },
        "forgotten": metric(
            stack, "gateway", "relint_gateway_entity_cache_forgotten_customers_total"
        ),
    }


def restart_gateway(stack: Stack, env: dict[str, str], replicas: int) -> None:
    stop_replicas()
    gateway = stack.processes["gateway"]
    gateway.send_signal(signal.SIGTERM)
    gateway.wait(30)
    stack.extra_env.update(env)
    stack.start_service("gateway")
    stack.wait_ready()
    start_replicas(stack, replicas)


def run(args: argparse.Namespace, data_dir: Path, urls: dict[str, str]) -> None:
    redis.Redis.from_url(REDIS_URL).flushdb()
    stack = Stack.on_free_ports(data_dir, database_urls=urls, redis_url=REDIS_URL)
    if args.entity_cache_seconds is not None:
        stack.extra_env["GATEWAY_ENTITY_CACHE_SECONDS"] = str(args.entity_cache_seconds)
    if args.gateway_replicas > 1:
        stack.extra_env["GATEWAY_REUSE_PORT"] = "true"
    stack.migrate()
    issued = stack.issue_key("bench360", "bench", ("ingest:write", "graph:read"))
    key, tenant_id = str(issued["api_key"]), str(issued["tenant_id"])
    principal = Principal(tenant_id, "bench", frozenset({SCOPE_GRAPH_READ}))
    with stack.running():
        started = time.monotonic()
        accepted = load_demo(stack, key, args.customers, args.seed)
        print(
            f"loaded {args.customers} demo customers, {accepted} interactions, delivered to "
            f"scoring and playbook in {time.monotonic() - started:.0f} s"
        )
        # Quiet is not enough: scoring places a new tenant's customers (and fits its model)
        # 30 s after the last interaction, a one-time backfill the runs must not measure.
        settled_by = time.monotonic() + args.settle
        while True:
            wait_quiet(stack, max(1.0, settled_by - time.monotonic()))
            captured = run_loop(capture(stack, tenant_id))
            typed = sum(1 for r in captured.relationships.values() if r.relationship_type)
            if typed or time.monotonic() > settled_by:
                break
            time.sleep(5.0)
        refs = [c.external_id for c in captured.customers]
        actions = sum(len(p.next_best_actions) for p in captured.playbooks.values())
        violations = sum(len(p.violations) for p in captured.playbooks.values())
        recent = sum(len(v) for v in captured.recent.values())
        print(
            f"captured {len(refs)} customers: {len(captured.relationships)} relationships "
            f"({typed} typed), {recent} recent interactions, {actions} next actions, "
            f"{violations} open violations"
        )
        bodies = [
            json.dumps({"query": QUERY_360, "variables": {"externalId": ref}}) for ref in refs
        ]

        idle_before = machine_busy()
        time.sleep(3)
        idle_after = machine_busy()
        print(
            f"before the runs the machine was "
            f"{(idle_after[0] - idle_before[0]) / (idle_after[1] - idle_before[1]):.0%} busy "
            f"with other work (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
        )
        # The gateway as it is deployed (its entity cache on, the default), then restarted
        # with the cache off: every query fetched from the services, the cost of the hops.
        start_replicas(stack, args.gateway_replicas)
        try:
            cached_360, cached_page = measure_stack(
                stack, key, bodies, refs, args, "the gateway's default"
            )
            restart_gateway(stack, {"GATEWAY_ENTITY_CACHE_SECONDS": "0"}, args.gateway_replicas)
            stack_360, stack_page = measure_stack(stack, key, bodies, refs, args, "no entity cache")
        finally:
            stop_replicas()

        backends = CapturedBackends(captured)
        rng = random.Random(args.seed)
        # As the services do once started (relint.cli): what lives from here on is left out
        # of the collector's full walks, so both sides pay the same for garbage collection.
        freeze_startup_heap()

        def pick() -> dict[str, Any]:
            return {"externalId": rng.choice(refs)}

        print(f"customer-360 in process, {CONCURRENCY} clients, {args.seconds:.0f} s ...")
        run_loop(in_process(backends, principal, QUERY_360, pick, 2, check_360))
        local_360 = run_loop(
            in_process(backends, principal, QUERY_360, pick, args.seconds, check_360)
        )
        page_started = time.perf_counter()
        local_page = _quantiles(
            "in process",
            run_loop(sequential(backends, principal, QUERY_PAGE, args.page_rounds)),
            time.perf_counter() - page_started,
        )

        report(args, cached_360, cached_page, stack_360, local_360, stack_page, local_page)

        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            print("\nPROFILE: the upstream RPCs alone ...")
            run_loop(upstream_latencies(stack, captured, 40))
            print("\nPROFILE: customer-360 in process (cProfile) ...")
            profile_in_process(
                backends, principal, refs, 1000, args.profile / "in_process_360.prof"
            )
            print("\nPROFILE: the gateway process under cProfile, customer-360 over HTTP ...")
            profile_gateway(
                stack, key, bodies, args.seconds, args.seed, args.profile / "gateway_360.prof"
            )


def report(
    args: argparse.Namespace,
    cached_360: Figures,
    cached_page: Figures,
    stack_360: Figures,
    local_360: Figures,
    stack_page: Figures,
    local_page: Figures,
) -> None:
    print()
    print(
        f"{args.customers} demo customers on PostgreSQL + Redis; customer-360 with "
        f"{CONCURRENCY} concurrent clients, the page with one; "
        f"{args.gateway_replicas} gateway process(es) on the stack"
    )
    print(
        f"{'query, where':<44} {'queries/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
        f"{'requests':>8} {'failed':>6} {'gateway CPU ms/query':>20}"
    )
    for name, f in (
        ("customer-360, stack, entity cache (default)", cached_360),
        ("customer-360, stack, no entity cache", stack_360),
        ("customer-360, in process", local_360),
        ("customers(first: 100), stack, entity cache", cached_page),
        ("customers(first: 100), stack, no cache", stack_page),
        ("customers(first: 100), in process", local_page),
    ):
        print(
            f"{name:<44} {f.throughput:>9.0f} {f.p50_ms:>7.1f} {f.p95_ms:>7.1f} "
            f"{f.p99_ms:>7.1f} {f.requests:>8} {f.failed:>6} "
            + (f"{f.cpu_ms:>20.2f}" if f.cpu_ms is not None else f"{'':>20}")
        )
    print()
    print(f"{'goal: the stack as deployed / with no entity cache':<58} {'measured':>18}  result")
    goals = [
        (
            f"customer-360 p95 on the stack < {P95_GOAL_MS:.0f} ms",
            cached_360.p95_ms,
            stack_360.p95_ms,
            cached_360.p95_ms < P95_GOAL_MS and not cached_360.failed,
            stack_360.p95_ms < P95_GOAL_MS and not stack_360.failed,
        ),
        (
            f"customer-360 throughput stack / in process >= {RATIO_GOAL}",
            cached_360.throughput / local_360.throughput,
            stack_360.throughput / local_360.throughput,
            cached_360.throughput / local_360.throughput >= RATIO_GOAL,
            stack_360.throughput / local_360.throughput >= RATIO_GOAL,
        ),
        (
            f"customers(first: 100) p95 on the stack < {PAGE_P95_GOAL_MS:.0f} ms",
            cached_page.p95_ms,
            stack_page.p95_ms,
            cached_page.p95_ms < PAGE_P95_GOAL_MS,
            stack_page.p95_ms < PAGE_P95_GOAL_MS,
        ),
    ]
    for goal, deployed, uncached, deployed_ok, uncached_ok in goals:
        measured = f"{deployed:.2f} / {uncached:.2f}"
        print(f"{goal:<58} {measured:>18}  {verdict(deployed_ok)} / {verdict(uncached_ok)}")


def positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=positive(int), default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seconds", type=positive(float), default=15.0, help="per load run")
    parser.add_argument("--page-rounds", type=positive(int), default=60)
    parser.add_argument(
        "--settle", type=positive(float), default=600.0, help="at most, for the workers"
    )
    parser.add_argument("--profile", type=Path, help="a folder for cProfile output")
    parser.add_argument(
        "--writes-per-second",
        type=float,
        default=0.0,
        help="interactions a partner records during each customer-360 run on the stack",
    )
    parser.add_argument(
        "--gateway-replicas",
        type=positive(int),
        default=1,
        help="gateway processes sharing its port (the production overlay runs 2 of each service)",
    )
    parser.add_argument(
        "--entity-cache-seconds",
        type=positive(float),
        help="the gateway's entity cache for the first runs (default: the gateway's default)",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.customers < 100:
        parser.error("--customers: at least 100 (the page query asks for 100)")
    _wrk()
    with (
        tempfile.TemporaryDirectory(prefix="relint-bench360-") as tmp,
        scratch_databases("relint_bench360", DATABASE_SERVICES) as urls,
    ):
        run(args, Path(tmp), urls)


if __name__ == "__main__":
    main()
