"""What every subscriber of ingest's stream checks of a delivered batch before applying it."""

from __future__ import annotations

from typing import Final

import grpc

from relint.contracts.ingest.v1 import ingest_pb2

MAX_DELIVERY_BATCH: Final = 1000


async def refuse_bad_delivery(
    request: ingest_pb2.DeliverInteractionsRequest, context: grpc.aio.ServicerContext
) -> None:
    """Aborts the call with INVALID_ARGUMENT, naming the item, unless every interaction has
    what applying it needs; nothing of a refused batch is applied."""
    if len(request.interactions) > MAX_DELIVERY_BATCH:
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT, f"at most {MAX_DELIVERY_BATCH} a batch"
        )
    for position, item in enumerate(request.interactions):
        if not (item.id and item.tenant_id and item.customer_id and item.HasField("occurred_at")):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"interactions[{position}] needs id, tenant_id, customer_id and occurred_at",
            )
