"""The outbox relay: delivers every accepted interaction to each subscriber over gRPC, in
batches, in acceptance order, retrying until the subscriber acknowledges (at least once).
An entry the subscriber refuses as invalid, or whose message cannot be built, is parked
(`IngestService.deliver_next`) instead of stalling every entry behind it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import grpc
from opentelemetry import trace
from prometheus_client import Counter

from ingest.messages import interaction_message
from ingest.service import IngestService, Undeliverable
from relint.contracts.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from relint.grpc_client import WRITE_DEADLINE, open_channel
from relint.telemetry import context_from_traceparent, tracer

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0

DELIVERED = Counter(
    "relint_outbox_delivered_total", "Interactions acknowledged by a subscriber.", ["subscriber"]
)
DELIVERY_FAILURES = Counter(
    "relint_outbox_delivery_failures_total", "Failed delivery attempts.", ["subscriber"]
)


def parse_subscribers(spec: str) -> dict[str, str]:
    """'scoring=host:50052,playbook=host:50053' -> {'scoring': 'host:50052', ...}."""
    subscribers: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, target = part.partition("=")
        if not sep or not name.strip() or not target.strip():
            raise ValueError(f"subscriber '{part}' is not name=host:port")
        subscribers[name.strip()] = target.strip()
    return subscribers


class OutboxRelay:
    def __init__(
        self,
        service: IngestService,
        subscribers: dict[str, str],
        *,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
    ) -> None:
        self._service = service
        self._targets = subscribers
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._wake = {name: asyncio.Event() for name in subscribers}
        self._channels: list[grpc.aio.Channel] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._tracer = tracer("ingest.delivery")

    def wake(self) -> None:
        for event in self._wake.values():
            event.set()

    def start(self) -> None:
        for name, target in self._targets.items():
            channel = open_channel(target)
            self._channels.append(channel)
            stub = ingest_pb2_grpc.InteractionSubscriberServiceStub(channel)
            self._tasks.append(asyncio.create_task(self._run(name, stub), name=f"relay-{name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for channel in self._channels:
            await channel.close()

    async def _run(self, name: str, stub: ingest_pb2_grpc.InteractionSubscriberServiceStub) -> None:
        backoff = 0.1

        async def send(batch: list[tuple[int, Any]]) -> None:
            links = []
            for _, row in batch:
                parent = context_from_traceparent(row.traceparent)
                if parent is not None:
                    links.append(trace.Link(trace.get_current_span(parent).get_span_context()))
            with self._tracer.start_as_current_span(
                f"outbox deliver {name}", links=links, attributes={"batch.size": len(batch)}
            ):
                try:
                    request = ingest_pb2.DeliverInteractionsRequest(
                        interactions=[interaction_message(row, seq) for seq, row in batch]
                    )
                except (ValueError, TypeError, OverflowError) as error:
                    raise Undeliverable(f"its message cannot be built: {error!r}") from error
                try:
                    await stub.DeliverInteractions(request, timeout=WRITE_DEADLINE)
                except grpc.aio.AioRpcError as error:
                    if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                        raise Undeliverable(f"{name} refused it: {error.details()}") from error
                    raise

        while True:
            self._wake[name].clear()
            try:
                delivered = await self._service.deliver_next(name, send, self._batch_size)
                DELIVERED.labels(name).inc(delivered)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as error:  # keep the relay alive whatever one attempt raised
                DELIVERY_FAILURES.labels(name).inc()
                detail = error.code().name if isinstance(error, grpc.aio.AioRpcError) else error
                log.warning("delivery to %s failed (%s); retrying in %.1fs", name, detail, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            if delivered < self._batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake[name].wait(), self._poll_seconds)
