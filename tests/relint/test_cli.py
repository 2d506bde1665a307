"""The shared `serve` command's server."""

from __future__ import annotations

import asyncio
import gc

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
