"""The shared `serve` command's server."""

from __future__ import annotations

import asyncio
import gc
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from relint.cli import _DrainingServer
from relint_devstack.launcher import free_port


async def test_a_started_server_freezes_its_startup_heap_out_of_the_collectors_walk() -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    app = FastAPI()
    server = _DrainingServer(
        uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_level="error"), app
    )
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        assert gc.get_freeze_count() > 10_000
        later = [[n] for n in range(3)]  # made after the start: collected as usual
        assert any(x is later for x in gc.get_objects(generation=0))
    finally:
        server.should_exit = True
        await serving
        gc.unfreeze()


def _gateway(log_path: Path, **settings: str) -> subprocess.Popen[bytes]:
    """A gateway process whose backing services are nowhere (it starts without them)."""
    environment = {
        **os.environ,
        "GATEWAY_HTTP_PORT": "0",
        "GATEWAY_GRPC_PORT": "0",
        "GATEWAY_INGEST_TARGET": "127.0.0.1:9",
        "GATEWAY_SCORING_TARGET": "127.0.0.1:9",
        "GATEWAY_PLAYBOOK_TARGET": "127.0.0.1:9",
        **{f"GATEWAY_{name.upper()}": value for name, value in settings.items()},
    }
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
        )


def _started(process: subprocess.Popen[bytes], log_path: Path) -> str:
    """The URL the process serves on, once it does."""
    deadline = time.monotonic() + 60
    while not (found := re.search(r"running on (http://\S+)", log_path.read_text("latin-1"))):
        assert process.poll() is None, log_path.read_text("latin-1")
        assert time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.1)
    return found.group(1)


def test_processes_share_their_ports_only_when_told_to(tmp_path: Path) -> None:
    """With reuse_port, a second process binds the same HTTP and gRPC ports and serves when
    the first has gone; without it, the second refuses to start."""
    ports = {"http_port": str(free_port()), "grpc_port": str(free_port())}
    first = _gateway(tmp_path / "first.log", reuse_port="true", **ports)
    processes = [first]
    try:
        url = _started(first, tmp_path / "first.log")
        refused = _gateway(tmp_path / "refused.log", **ports)
        processes.append(refused)
        assert refused.wait(60) != 0
        second = _gateway(tmp_path / "second.log", reuse_port="true", **ports)
        processes.append(second)
        assert _started(second, tmp_path / "second.log") == url
        first.terminate()
        assert first.wait(30) == 0
        for _ in range(20):  # new connections each: all reach the second
            assert httpx.get(url + "/healthz", timeout=5).status_code == 200
        assert second.poll() is None
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(30)


def test_a_serving_process_survives_a_client_that_hangs_up_mid_answer(tmp_path: Path) -> None:
    """SIGPIPE (what writing to a connection the client closed raises) must not end a
    service: the gateway, under load, died of it (exit -13) when a client hung up."""
    process = _gateway(tmp_path / "gateway.log")
    try:
        url = _started(process, tmp_path / "gateway.log")
        os.kill(process.pid, signal.SIGPIPE)
        time.sleep(0.5)
        assert process.poll() is None, f"killed by SIGPIPE: {process.returncode}"
        assert httpx.get(url + "/healthz", timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(30)
