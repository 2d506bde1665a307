"""gRPC channels every client shares: retries on UNAVAILABLE only, through the channel's
service config, keepalive, large batches, and tracing when it is on."""

from __future__ import annotations

import json

import grpc

from relint.grpc_server import MAX_MESSAGE_BYTES
from relint.telemetry import tracing_enabled

_SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)

# Every call passes a deadline; these are the defaults by kind of call, in seconds.
READ_DEADLINE = 2.0
WRITE_DEADLINE = 10.0
# A background worker's read (a feed, a sweep): a busy upstream may answer it late, and
# nobody waits on it; failing it only means reading it all again.
BACKGROUND_READ_DEADLINE = 10.0
# A read that reckons from a tenant's whole record (an analysis lens, a ranking as of a past
# moment): seconds on a big tenant, where a customer read takes milliseconds.
RECKONING_DEADLINE = 15 * READ_DEADLINE


def open_channel(target: str, *, own_connection: bool = False) -> grpc.aio.Channel:
    """A channel with deadlines' retry policy; `own_connection` keeps its connection out of
    the process-wide pool, so that its failures (say, polling a service that is still
    starting) put no other channel to the same target into reconnect backoff."""
    interceptors = None
    if tracing_enabled():
        from opentelemetry.instrumentation.grpc import aio_client_interceptors

        interceptors = aio_client_interceptors()  # type: ignore[no-untyped-call]
    return grpc.aio.insecure_channel(
        target,
        options=[
            ("grpc.service_config", _SERVICE_CONFIG),
            ("grpc.enable_retries", 1),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            # After a service restarts, reconnect within seconds: gRPC's default backoff
            # grows to two minutes, so a service down for a while stayed "down" for minutes.
            ("grpc.initial_reconnect_backoff_ms", 250),
            ("grpc.min_reconnect_backoff_ms", 250),
            ("grpc.max_reconnect_backoff_ms", 5_000),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            *([("grpc.use_local_subchannel_pool", 1)] if own_connection else []),
        ],
        interceptors=interceptors,
    )
