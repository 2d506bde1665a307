"""What ingest's routes share: the service the lifespan built."""

from __future__ import annotations

from fastapi import Request

from ingest.service import IngestService


def service_of(request: Request) -> IngestService:
    service: IngestService = request.app.state.ingest
    return service
