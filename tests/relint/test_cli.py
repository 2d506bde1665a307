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


def test_a_serving_process_survives_a_client_that_hangs_up_mid_answer(tmp_path: Path) -> None:
    """SIGPIPE (what writing to a connection the client closed raises) must not end a
    service: the gateway, under load, died of it (exit -13) when a client hung up."""
    environment = {
        **os.environ,
        "GATEWAY_HTTP_PORT": "0",
        "GATEWAY_GRPC_PORT": "0",
        "GATEWAY_INGEST_TARGET": "127.0.0.1:9",
        "GATEWAY_SCORING_TARGET": "127.0.0.1:9",
        "GATEWAY_PLAYBOOK_TARGET": "127.0.0.1:9",
    }
    log = (tmp_path / "gateway.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=environment,
    )
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(r"running on (http://\S+)", _read(tmp_path))):
            assert process.poll() is None, _read(tmp_path)
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.1)
        os.kill(process.pid, signal.SIGPIPE)
        time.sleep(0.5)
        assert process.poll() is None, f"killed by SIGPIPE: {process.returncode}"
        assert httpx.get(found.group(1) + "/healthz", timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def _read(folder: Path) -> str:
    return (folder / "gateway.log").read_text(errors="replace")
