"""Ingest's app on a fresh database, and clients that talk to it through ASGI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from ingest.main import MIGRATIONS, create_app
from ingest.service import IngestService
from ingest.settings import IngestSettings
from relint.db import migrate

RunningIngest = Callable[..., AbstractAsyncContextManager[FastAPI]]
AsgiClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@asynccontextmanager
async def _running_ingest(url: str, **settings: Any) -> AsyncIterator[FastAPI]:
    await asyncio.to_thread(migrate, MIGRATIONS, url)
    app = create_app(
        IngestSettings(database_url=url, grpc_port=0, subscribers="scoring=127.0.0.1:9", **settings)
    )
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def _asgi_client(
    app: FastAPI, tenant: str | None = None, scopes: tuple[str, ...] = ("ingest:write",)
) -> AsyncIterator[httpx.AsyncClient]:
    """A client; with a tenant, it carries a fresh key of that tenant with the scopes."""
    headers = {}
    if tenant is not None:
        service: IngestService = app.state.ingest
        issued = await service.create_tenant_key(tenant, "crm", list(scopes))
        headers["Authorization"] = f"Bearer {issued.api_key}"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://ingest", headers=headers
    ) as client:
        yield client


@pytest.fixture
def running_ingest() -> RunningIngest:
    return _running_ingest


@pytest.fixture
def asgi_client() -> AsgiClient:
    return _asgi_client
